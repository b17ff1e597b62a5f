"""Training of the harmonizer's network (:mod:`training.harmonize_net`) on POP909's training songs.

``python -m training.harmonize_train`` reads every POP909 song that is not held out
(:data:`training.realism.HELD_OUT_POP909`), keeps the songs whose number ends in 5 as a validation split (they
choose the epoch and the decoding settings; the held-out songs choose nothing), trains on the rest and writes
``training/tables/harmony_net_pop909.pt``: the weights, the decoding settings and the lineage (data, split,
command, licence). One thread, a fixed seed; about 20 minutes on one core of a loaded machine.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from training import harmonize_net as N
from training.harmonize_eval import LICENCE, Song, _major_tonic, label_state, songs
from training.realism import pop909_dir

COMMAND = "nice -n 10 python -m training.harmonize_train"


def is_validation(number: int) -> bool:
    return number % 10 == 5


def key_finder(train_songs: list[Song]) -> np.ndarray:
    """The key finder's weights, fitted on the training songs' labelled keys (the main key, as its major tonic)."""
    feats = []
    for s in train_songs:
        m = s.melody
        pc, meta = N.beat_inputs(m.onset, m.dur, m.pitch, m.downbeat)
        feats.append(N.key_features(m.onset, m.dur, m.pitch, pc, meta))
    return N.fit_key_finder(np.stack(feats), np.array([_major_tonic(s.key) for s in train_songs]))


def mode_classifier(train_songs: list[Song], key_weights: np.ndarray) -> np.ndarray:
    """Minor against major given the key finder's major tonic: a logistic regression (C=1) over the songs'
    :func:`training.harmonize_net.key_features` rotated to that tonic; coefficients then the intercept."""
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for s in train_songs:
        m = s.melody
        pc, meta = N.beat_inputs(m.onset, m.dur, m.pitch, m.downbeat)
        f = N.key_features(m.onset, m.dur, m.pitch, pc, meta)
        xs.append(np.roll(f, -N.frame_tonic(f, key_weights), axis=1).ravel())
        ys.append(s.key.endswith("minor"))
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(xs), np.array(ys))
    return np.append(clf.coef_[0], clf.intercept_[0])


def song_arrays(song: Song, key_weights: np.ndarray | None = None, extra: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's inputs for a song (in its key's frame) and its target chord index per beat in that frame (-1
    where the reference is N or a chord outside the states)."""
    m = song.melody
    pc, meta, tonic = N.framed_inputs(m.onset, m.dur, m.pitch, m.downbeat, key_weights, extra)
    target = np.array([-1 if (s := label_state(lab, 0)) is None else s for lab in song.ref], dtype=np.int64)
    return pc, meta, N.to_frame(target, tonic)


def ref_roots(song: Song) -> np.ndarray:
    """The reference root per beat (-1 for N)."""
    import mir_eval.chord as mc

    out = []
    for lab in song.ref:
        try:
            out.append(int(mc.encode(lab)[0]))
        except mc.InvalidChordException:
            out.append(-1)
    return np.array(out)


def root_accuracy(paths: list[np.ndarray], data: list[Song]) -> float:
    """Mean over songs of the per-beat root accuracy (weighted by beat length, reference N beats left out):
    what ``make bench-harmonize`` reports through mir_eval, computed directly."""
    accs = []
    for path, song in zip(paths, data):
        roots = ref_roots(song)
        keep = roots >= 0
        if not keep.any():
            continue
        est = np.asarray(path) // len(N.QUALITIES)
        w = song.beat_s[keep]
        accs.append(float((w * (est[keep] == roots[keep])).sum() / w.sum()))
    return float(np.mean(accs))


def _batch(items, crop: int, rng):
    """A padded batch of excerpts of ``crop`` beats (0: whole songs), each starting on a downbeat."""
    import torch

    cut = []
    for pc, meta, tgt in items:
        n = len(tgt)
        starts = np.flatnonzero(meta[:max(n - crop + 1, 1), 0] > 0) if crop and n > crop else np.array([0])
        a = int(rng.choice(starts)) if len(starts) else 0
        crop_n = crop if crop else n
        a_end = a + crop_n
        cut.append((pc[a:a_end], meta[a:a_end], tgt[a:a_end]))
    t = max(len(c[2]) for c in cut)
    pcs = np.zeros((len(cut), t) + cut[0][0].shape[1:], np.float32)
    metas = np.zeros((len(cut), t, cut[0][1].shape[1]), np.float32)
    tgts = np.full((len(cut), t), -1, np.int64)
    for i, (p, m, g) in enumerate(cut):
        pcs[i, :len(g)], metas[i, :len(g)], tgts[i, :len(g)] = p, m, g
    return torch.from_numpy(pcs), torch.from_numpy(metas), torch.from_numpy(tgts)


def posteriors(loaded: N.Loaded, data: list[Song]) -> list[np.ndarray]:
    return [N.log_posteriors(loaded, s.melody.onset, s.melody.dur, s.melody.pitch, s.melody.downbeat)
            for s in data]


def root_marginal_loss(z, tgt):
    """Cross-entropy of the labelled root under the chords' posterior summed over qualities."""
    import torch

    q = len(N.QUALITIES)
    lr = torch.logsumexp(torch.log_softmax(z, dim=-1).reshape(*z.shape[:-1], 12, q), dim=-1)
    root = torch.where(tgt >= 0, tgt // q, torch.full_like(tgt, -1))
    return torch.nn.functional.nll_loss(lr.reshape(-1, 12), root.reshape(-1), ignore_index=-1)


def train(train_songs: list[Song], val_songs: list[Song], minutes: float, hidden: int, layers: int,
          batch: int, crop: int, lr: float, key_weights: np.ndarray | None = None, seed: int = 0, log=print,
          arch: str = "gru", root_loss: float = 0.0, weight_decay: float = 1e-4, dropout: float = 0.1,
          extra: bool = False, epochs: int | None = None, more_songs: list[Song] = (), init: dict | None = None):
    """The network trained for about ``minutes`` (or exactly ``epochs``, the rate then falling per epoch, whatever
    the machine's load); the state with the best validation root accuracy (argmax per beat) is kept.
    ``root_loss`` weighs a second loss on the root alone (:func:`root_marginal_loss`); ``arch``, ``extra``:
    :func:`training.harmonize_net.build_net`; ``more_songs`` (e.g. the training songs' ``BRIDGE`` tracks read as
    melodies) are trained on beside ``train_songs``, each in the frame its own notes give, as in use; ``init`` (a
    state dict of a network of the same shape) is where training starts instead of random weights."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = N.build_net(hidden=hidden, layers=layers, kind=arch, dropout=dropout, extra=extra)
    if init is not None:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in init.items()})
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    items = [song_arrays(s, key_weights, extra) for s in list(train_songs) + list(more_songs)]
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
    best = (-1.0, None, 0)
    t0 = time.perf_counter()
    for epoch in itertools.count(1):
        net.train()
        done = (epoch - 1) / epochs if epochs else (time.perf_counter() - t0) / 60 / minutes
        for group in opt.param_groups:  # the rate falls linearly to a tenth over the time (or epochs) given
            group["lr"] = lr * max(0.1, 1.0 - done)
        order = rng.permutation(len(items))
        total = 0.0
        for i in range(0, len(order), batch):
            pc, meta, tgt = _batch([items[j] for j in order[i:i + batch]], crop, rng)
            z = net(pc, meta)
            loss = loss_fn(z.reshape(-1, z.shape[-1]), tgt.reshape(-1))
            if root_loss:
                loss = loss + root_loss * root_marginal_loss(z, tgt)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(pc)
        net.eval()
        loaded = N.Loaded(net, {}, key_weights)
        acc = root_accuracy([lp.argmax(axis=1) for lp in posteriors(loaded, val_songs)], val_songs)
        elapsed = (time.perf_counter() - t0) / 60
        log(f"epoch {epoch}: loss {total / len(items):.3f}, validation root (argmax) {acc:.3f}, {elapsed:.1f} min")
        if acc > best[0]:
            best = (acc, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch)
        if (epoch >= epochs) if epochs else (elapsed * (epoch + 1) / epoch > minutes):
            break
    net.load_state_dict(best[1])
    net.eval()
    return net, best[0], best[2]


def tune_decoding(loaded: N.Loaded, val_songs: list[Song], log=print, changes: tuple[float, float, float] | None = None,
                  melody_fit: float = 0.0, by_root: bool = False) -> tuple[N.DecodeSettings, float]:
    """The decoding settings with the best validation root accuracy per beat (a small grid; ``changes`` fixes the
    costs of a change on a downbeat, mid-bar and elsewhere, and only the pooling of repeated bars is tuned), the
    melody's fit added at ``melody_fit`` as :func:`training.harmonize.harmonize` adds it."""
    from training.harmonize import load_table

    lps = posteriors(loaded, val_songs)
    sounding = [N.beat_inputs(s.melody.onset, s.melody.dur, s.melody.pitch, s.melody.downbeat)[0][:, 0]
                for s in val_songs]
    if melody_fit:
        log_quality = load_table().log_quality
        lps = [lp + melody_fit * N.melody_fit(so, log_quality) for lp, so in zip(lps, sounding)]
    best = (-1.0, None) if changes else (root_accuracy([lp.argmax(axis=1) for lp in lps], val_songs),
                                         N.DecodeSettings(0, 0, 0, 1.0))
    log(f"argmax: {best[0]:.3f}")
    for rep in (1.0, 0.95, 0.85, 0.7):
        pooled = [N.pool_repeated_bars(lp, so, s.melody.downbeat, rep) for lp, so, s in zip(lps, sounding, val_songs)]
        grid = [changes] if changes else [(0.0, 0.0, 0.0), (0.5, 1.0, 2.0), (1.0, 2.0, 4.0), (1.0, 1.5, 3.0),
                                          (2.0, 3.0, 6.0), (0.5, 2.0, 4.0), (1.5, 3.0, 5.0)]
        for down, mid, other in grid:
            st = N.DecodeSettings(down, mid, other, rep, melody_fit=melody_fit, by_root=by_root)
            acc = root_accuracy([N.decode(lp, s.melody.downbeat, "beat", st) for lp, s in zip(pooled, val_songs)],
                                val_songs)
            if acc > best[0]:
                best = (acc, st)
                log(f"{st}: {acc:.3f}")
    return best[1], best[0]


def save(loaded: N.Loaded, out: Path) -> None:
    """The networks and their lineage, written atomically where :func:`training.harmonize_net.load_net` reads."""
    import torch

    blob = {**N.member_blob(loaded), "meta": loaded.meta, "members": [N.member_blob(m) for m in loaded.members]}
    if loaded.mode_weights is not None:
        blob["mode_weights"] = torch.tensor(loaded.mode_weights, dtype=torch.float32)
    tmp = out.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(out)


def networks_of(x: N.Loaded) -> list[N.Loaded]:
    """Every network of a loaded file, each alone with its own lineage (a file that is an ensemble gives each of its
    members, the file's shared lineage beside each member's own)."""
    own = x.meta.get("members") or [x.meta]
    shared = {k: v for k, v in x.meta.items() if k != "members"}
    return [N.Loaded(net.net, {**shared, **lineage}, net.key_weights, (), x.mode_weights)
            for net, lineage in zip((x, *x.members), own)]


def combine(paths: list[str], out: Path, root: Path, changes: tuple[float, float, float] | None = None,
            melody_fit: float | None = None, by_root: bool = False) -> None:
    """Several trained files as one ensemble (log posteriors averaged), its decoding tuned again on the
    validation songs (``changes`` fixes the change costs, as in training; ``melody_fit`` None keeps the first
    file's); the lineage lists every member's."""
    files = [N.load_net(p) for p in paths]
    if any(x is None for x in files):
        raise SystemExit(f"unreadable: {[p for p, x in zip(paths, files) if x is None]}")
    loaded = [net for x in files for net in networks_of(x)]
    ensemble = N.Loaded(loaded[0].net, {}, loaded[0].key_weights, tuple(loaded[1:]), loaded[0].mode_weights)
    val = [s for s in songs(root, held_out=False) if is_validation(s.number)]
    if melody_fit is None:
        melody_fit = loaded[0].meta.get("decode", {}).get("melody_fit", 0.0)
    settings, acc = tune_decoding(ensemble, val, log=lambda x: print(x, flush=True), changes=changes,
                                  melody_fit=melody_fit, by_root=by_root)
    own = ("command", "epoch", "validation_root_argmax", "validation_root_decoded", "decode", "decode_note", "data")
    meta = {k: v for k, v in loaded[0].meta.items() if k not in own and k != "members"}
    meta["data"] = " | ".join(dict.fromkeys(x.meta.get("data", "") for x in loaded))
    meta["members"] = [{k: v for k, v in x.meta.items() if k in own or k == "members"} for x in loaded]
    if any(x.meta.get("train_songs") != meta.get("train_songs") for x in loaded):
        raise SystemExit("the networks were trained on different songs: not combined")
    meta["command"] = " ; ".join(x.meta.get("command", "") for x in loaded) + \
        f" ; python -m training.harmonize_train --combine {' '.join(paths)}"
    meta["validation_root_decoded"] = round(acc, 4)
    meta["decode"] = asdict(settings)
    ensemble.meta = meta
    save(ensemble, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {len(loaded)} networks, validation root {acc:.3f} decoded")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.harmonize_train", description=__doc__.splitlines()[0])
    ap.add_argument("--pop909", default=None, help="the POP909 folder (default: POP909_DIR or ../shared/data/pop909)")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--epochs", type=int, default=None, help="train exactly this many epochs (not --minutes)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256, help="beats per training excerpt")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", choices=("gru", "bars"), default="gru",
                    help="gru: a bidirectional GRU over beats; bars: convolutions over beats and a transformer "
                         "over the song's bars")
    ap.add_argument("--root-loss", type=float, default=0.0, help="weight of a second loss on the root alone")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--extra", action="store_true", help="the extra inputs (harmonize_net.EXTRA_BLOCKS, EXTRA_META)")
    ap.add_argument("--changes", default="0.5,1,2",
                    help="costs of a chord change on a downbeat, mid-bar, elsewhere ('tune' to tune them: 0,0,0 "
                         "won by 0.0007 validation root but split a bar arpeggiating G-B-D-G into G and ii per half)")
    ap.add_argument("--melody-fit", type=float, default=1.0,
                    help="weight of the melody's fit to each chord at decoding (not tuned: 1 makes a melody that "
                         "spells its chords get them, at about -0.006 validation root)")
    ap.add_argument("--combine", nargs="+", default=None,
                    help="trained files to join as one ensemble (a file that is an ensemble gives each of its networks)")
    ap.add_argument("--by-root", action="store_true",
                    help="decode the roots first (the posterior summed over qualities), then each stretch's quality")
    ap.add_argument("--bridge", action="store_true",
                    help="also train on the training songs' BRIDGE tracks (the secondary melody) over the same chords")
    ap.add_argument("--init", default=None,
                    help="start from a network of a trained file (FILE or FILE:N, N its member in an ensemble, 0 "
                         "the first); its shape replaces --arch/--hidden/--layers/--dropout/--extra")
    ap.add_argument("--limit", type=int, default=None, help="only the first N training songs (a quick try)")
    ap.add_argument("--out", default=str(N.WEIGHTS_PATH))
    ap.add_argument("--threads", type=int, default=1, help="torch's threads (1 on a shared machine)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.pop909) if args.pop909 else pop909_dir()
    if not root.is_dir():
        print(f"no POP909 folder at {root} (set POP909_DIR or pass --pop909)", file=sys.stderr)
        raise SystemExit(1)
    changes = None if args.changes == "tune" else tuple(float(x) for x in args.changes.split(","))
    if args.combine:
        combine(args.combine, Path(args.out), root, changes, args.melody_fit, args.by_root)
        return
    everything = songs(root, held_out=False)
    val = [s for s in everything if is_validation(s.number)]
    tr = [s for s in everything if not is_validation(s.number)][:args.limit]
    more = []
    if args.bridge:
        numbers = {s.number for s in tr}
        more = [s for s in songs(root, held_out=False, track_name="BRIDGE")
                if s.number in numbers and len(s.melody.pitch) >= 20]
    print(f"{len(tr)} training songs (and {len(more)} BRIDGE tracks), {len(val)} validation songs", flush=True)
    init = None
    if args.init:
        import torch as _t

        path, _, member = args.init.partition(":")
        blob = _t.load(path, map_location="cpu", weights_only=True)
        blob = ([blob] + list(blob.get("members", [])))[int(member or 0)]
        init, config = blob["state"], blob["config"]
        args.arch, args.hidden, args.layers = config.get("kind", "gru"), config["hidden"], config["layers"]
        args.dropout, args.extra = config["dropout"], config.get("extra", False)
    key_weights = key_finder(tr)
    found = [N.frame_tonic(N.key_features(s.melody.onset, s.melody.dur, s.melody.pitch,
                                          *N.beat_inputs(s.melody.onset, s.melody.dur, s.melody.pitch,
                                                         s.melody.downbeat)), key_weights) for s in val]
    key_acc = float(np.mean([f == _major_tonic(s.key) for f, s in zip(found, val)]))
    print(f"key finder: the validation songs' labelled major tonic on {key_acc:.3f}", flush=True)
    net, acc, epoch = train(tr, val, args.minutes, args.hidden, args.layers, args.batch, args.crop, args.lr,
                            key_weights, seed=args.seed, log=lambda x: print(x, flush=True), arch=args.arch,
                            root_loss=args.root_loss, weight_decay=args.weight_decay, dropout=args.dropout,
                            extra=args.extra, epochs=args.epochs, more_songs=more, init=init)
    settings, dec_acc = tune_decoding(N.Loaded(net, {}, key_weights), val, log=lambda x: print(x, flush=True),
                                      changes=changes, melody_fit=args.melody_fit, by_root=args.by_root)
    meta = {"data": "POP909 (Wang et al., ISMIR 2020), MELODY track in, chord_midi.txt per beat (beat_midi.txt) out",
            "licence": LICENCE, "train_songs": [s.number for s in tr], "validation_songs": [s.number for s in val],
            "held_out": "training.realism.HELD_OUT_POP909 (never read)", "command": COMMAND + " " + " ".join(argv or sys.argv[1:]),
            "epoch": epoch, "validation_key": round(key_acc, 4), "validation_root_argmax": round(acc, 4), "validation_root_decoded": round(dec_acc, 4),
            "decode": asdict(settings)}
    if more:
        meta["data"] += f"; and the BRIDGE track (the secondary melody) of {len(more)} of the training songs as more melodies"
    mode_weights = mode_classifier(tr, key_weights)
    meta["validation_mode"] = round(float(np.mean([
        N.is_minor(f, N.frame_tonic(f, key_weights), mode_weights) == s.key.endswith("minor")
        for f, s in ((N.key_features(s.melody.onset, s.melody.dur, s.melody.pitch,
                                     *N.beat_inputs(s.melody.onset, s.melody.dur, s.melody.pitch, s.melody.downbeat)), s)
                     for s in val)])), 4)
    save(N.Loaded(net, meta, key_weights, (), mode_weights), Path(args.out))
    print(f"wrote {args.out}: validation root {acc:.3f} argmax, {dec_acc:.3f} decoded")


if __name__ == "__main__":
    main()
