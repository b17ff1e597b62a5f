"""WAV: the piece played by FluidSynth with a General MIDI soundfont, normalised, its release trimmed."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

from serving.render_read import Piece, RenderError, read_piece

TAIL_S = 1.5  # release kept after the last note ends (WAV)
FADE_S = 0.25  # fade-out when the tail is cut
PEAK_DBFS = -1.0
GAIN = 0.5  # FluidSynth master gain (the float render is normalised afterwards, so this only sets headroom)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_audio(fluidsynth: str, soundfont: str) -> str:
    """Raise :class:`RenderError` (one line, naming the setting) unless WAV rendering can work;
    return the FluidSynth executable's resolved path."""
    exe = shutil.which(fluidsynth) if fluidsynth else None
    if exe is None:
        raise RenderError(f"FluidSynth executable {fluidsynth!r} not found: set serve.fluidsynth to its path "
                          "(Debian: apt-get install fluidsynth)")
    if not soundfont or not os.path.isfile(soundfont):
        raise RenderError(f"soundfont {soundfont!r} not found: set serve.soundfont to a General MIDI .sf2 file "
                          "(Debian: apt-get install fluid-soundfont-gm)")
    try:
        with open(soundfont, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise RenderError(f"soundfont {soundfont!r} cannot be read ({e.strerror}): set serve.soundfont "
                          "to a readable General MIDI .sf2 file") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise RenderError(f"soundfont {soundfont!r} is not a SoundFont 2 file: set serve.soundfont "
                          "to a General MIDI .sf2 file")
    return exe


def render_wav(midi: bytes, *, soundfont: str, fluidsynth: str = "fluidsynth", sample_rate: int = 44100,
               timeout_s: float = 120.0, piece: Piece | None = None) -> bytes:
    """The piece played by FluidSynth with ``soundfont``: 16-bit PCM stereo WAV bytes."""
    exe = check_audio(fluidsynth, soundfont)
    piece = piece or read_piece(midi, None)
    rate = int(sample_rate)
    with tempfile.TemporaryDirectory(prefix="musiclake-wav-") as tmp:
        mid_path, raw_path = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.raw")
        with open(mid_path, "wb") as f:
            f.write(midi)
        cmd = [exe, "-n", "-i", "-q", "-F", raw_path, "-T", "raw", "-O", "float", "-E", "little",
               "-r", str(rate), "-g", str(GAIN), soundfont, mid_path]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise RenderError(f"FluidSynth did not finish within {timeout_s:g} s") from None
        except OSError as e:
            raise RenderError(f"FluidSynth {exe!r} could not start ({e.strerror}): check serve.fluidsynth") from None
        if proc.returncode != 0 or not os.path.exists(raw_path):
            err = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
            raise RenderError(f"FluidSynth failed (exit {proc.returncode}): {_one_line(err[-1]) if err else 'no output'}")
        samples = np.fromfile(raw_path, dtype="<f4")
    frames = samples[: len(samples) // 2 * 2].reshape(-1, 2)
    keep = int(round((piece.end_s + TAIL_S) * rate))
    if len(frames) > keep:  # cut the release after TAIL_S and fade it out so the cut does not click
        frames = frames[:keep].copy()
        fade = min(int(FADE_S * rate), len(frames))
        if fade:
            frames[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    min_frames = max(1, int(round(piece.end_s * rate)))
    if len(frames) < min_frames:  # an empty piece, or FluidSynth stopped early: pad with silence
        frames = np.concatenate([frames, np.zeros((min_frames - len(frames), 2), np.float32)])
    frames = np.nan_to_num(frames)
    peak = float(np.max(np.abs(frames))) if frames.size else 0.0
    if peak > 1e-6:
        frames = frames * (10 ** (PEAK_DBFS / 20) / peak)
    pcm = np.clip(np.round(frames * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- MusicXML
