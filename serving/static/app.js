// musiclake's page: prompt → recommended attributes (editable) → generate → listen, look, download.
// Plain browser JavaScript, no build step and nothing fetched from elsewhere. Every /v1 call carries the
// API key in the X-API-Key header, the piece's files too, so they are fetched and shown as blob URLs.
"use strict";

// A duration in milliseconds as people read it: under a second in whole milliseconds ("41 ms"), from a second
// on in seconds with one decimal ("1.2 s"). Top-level and self-contained: tests/unit/test_serving_page_js.py
// runs it with node.
function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "?";
  const whole = Math.round(ms);
  return whole < 1000 ? `${whole} ms` : `${(ms / 1000).toFixed(1)} s`;
}

(() => {
  const API = {
    recommend: "/v1/recommend",
    generate: "/v1/generate",
    uploads: "/v1/uploads",
    continue: "/v1/continue",
    infill: "/v1/infill",
    exercise: "/v1/exercise",
    harmonize: "/v1/harmonize",
    transfer: "/v1/transfer",
    models: "/v1/models",
    keyHeader: "X-API-Key",
  };
  const KEY_STORAGE = "musiclake.apiKey";
  const SOURCE_TITLES = {
    request: "you set it",
    prompt: "written in the prompt",
    keyword: "a keyword in the prompt",
    clap: "the CLAP model's zero-shot guess",
    inferred: "implied by what the prompt states (a key from its chords, instruments from its genre)",
    likely: "chosen from what the style and mood make likely: nothing in the prompt names it",
    derived: "computed from key and style (recomputed on Generate unless you edit it)",
    default: "the default",
    edited: "you changed it; it wins over the prompt",
  };

  const $ = (sel) => document.querySelector(sel);
  const el = {
    form: $("#form"),
    prompt: $("#prompt"),
    key: $("#api-key"),
    recommend: $("#recommend"),
    generate: $("#generate"),
    status: $("#status"),
    error: $("#error"),
    style: $("#style"),
    bpm: $("#bpm"),
    musicKey: $("#key"),
    ts: $("#time-signature"),
    instruments: $("#instruments"),
    chords: $("#chords"),
    progression: $("#progression"),
    bars: $("#bars"),
    seed: $("#seed"),
    temperature: $("#temperature"),
    model: $("#model"),
    candidates: $("#candidates"),
    result: $("#result"),
    pieceId: $("#piece-id"),
    summary: $("#summary"),
    audio: $("#audio"),
    roll: $("#roll"),
    score: $("#score"),
    tracks: $("#tracks"),
    resultChords: $("#result-chords"),
    timings: $("#timings"),
    candidatesResult: $("#candidates-result"),
    downloads: { mid: $("#download-mid"), wav: $("#download-wav"), musicxml: $("#download-musicxml"),
      png: $("#download-png"), svg: $("#download-svg") },
  };

  // The attribute fields Recommend fills and Generate may send, with how a field's text becomes a value.
  const splitWords = (s) => s.split(/[\s,，、;；]+/).filter(Boolean);
  const splitList = (s) => s.split(/[,，、;；]+/).map((x) => x.trim()).filter(Boolean);
  const splitNumerals = (s) => s.split(/[\s,，、;；–—-]+/).filter(Boolean);
  const ATTRS = {
    bpm: { input: el.bpm, show: (v) => String(v), parse: (s) => toNumber(s, "BPM") },
    key: { input: el.musicKey, show: (v) => v, parse: (s) => s },
    time_signature: { input: el.ts, show: (v) => v, parse: (s) => s.replace(/\s+/g, "") },
    instruments: { input: el.instruments, show: (v) => v.join(", "), parse: splitList },
    chords: { input: el.chords, show: (v) => v.join(" "), parse: splitWords },
    progression: { input: el.progression, show: (v) => v.join(" "), parse: splitNumerals },
  };

  const state = {
    rec: null, // the last recommendation's attributes
    recPrompt: null, // the prompt it was made for
    blobs: [], // object URLs to revoke when the next piece replaces them
    run: 0, // a counter, so a late answer of an earlier run cannot overwrite a newer one
    busy: false,
  };

  class ClientError extends Error {}

  function toNumber(s, label, integer = false) {
    const n = Number(s);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new ClientError(`${label}: ${JSON.stringify(s)} is not ${integer ? "a whole number" : "a number"}`);
    }
    return n;
  }

  // -- the API key: a field, localStorage, and #key=... in the address (removed once read) ------------
  function initKey() {
    try {
      el.key.value = localStorage.getItem(KEY_STORAGE) || "";
    } catch (_) { /* storage off: the field still works */ }
    keyFromFragment();
    // a link with #key=... opened on this page again is no reload, only a hash change
    window.addEventListener("hashchange", () => {
      if (keyFromFragment()) loadModels();
    });
    el.key.addEventListener("change", () => {
      storeKey(el.key.value.trim());
      loadModels();
    });
    $("#key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      el.key.dispatchEvent(new Event("change"));
    });
  }

  // #key=... in the address: take the key, then take it out of the address bar (and the history).
  function keyFromFragment() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (!fragment.has("key")) return false;
    el.key.value = fragment.get("key").trim();
    storeKey(el.key.value);
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }

  function storeKey(key) {
    try {
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
    } catch (_) { /* ignore */ }
  }

  function apiKey() {
    return el.key.value.trim();
  }

  // -- talking to the server ---------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function call(path, { method = "GET", body, as = "json" } = {}) {
    const headers = {};
    const key = apiKey();
    if (key) headers[API.keyHeader] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(`could not reach the server (${e.message || e})`, 0);
    }
    if (!res.ok) throw await errorOf(res);
    return as === "blob" ? res.blob() : res.json();
  }

  async function errorOf(res) {
    let message = "";
    try {
      const text = await res.text();
      try {
        const data = JSON.parse(text);
        message = typeof data.error === "string" ? data.error
          : typeof data.detail === "string" ? data.detail : "";
      } catch (_) {
        message = text.trim().split("\n")[0].slice(0, 200);
      }
    } catch (_) { /* no body */ }
    message = message || res.statusText || "request failed";
    let line = `${message} (HTTP ${res.status})`;
    if (res.status === 401 && !apiKey()) line += " — paste your API key above";
    if (res.status === 429 || res.status === 503) {
      const after = res.headers.get("Retry-After");
      if (after) line += ` — retry in ${after} s${/^\d+$/.test(after) ? ` (at ${retryClock(Number(after))})` : ""}`;
    }
    return new ApiError(line, res.status);
  }

  function retryClock(seconds) {
    return new Date(Date.now() + seconds * 1000).toLocaleTimeString();
  }

  // -- messages and busy state --------------------------------------------------------------------------
  function showError(message) {
    el.error.textContent = message ? String(message).split("\n")[0] : "";
  }

  function addError(message) {
    // several file loads may fail at once; the first message stays (the status line counts them)
    if (!el.error.textContent) showError(message);
  }

  let timer = null;
  function startBusy(label, buttons) {
    const t0 = performance.now();
    state.busy = true;
    buttons.forEach((b) => { b.disabled = true; });
    el.form.setAttribute("aria-busy", "true");
    const tick = () => {
      el.status.textContent = `${label} ${formatDuration(performance.now() - t0)}`;
    };
    tick();
    clearInterval(timer);
    timer = setInterval(tick, 100);
    return {
      relabel(next) { label = next; tick(); },
      done(message) {
        clearInterval(timer);
        timer = null;
        state.busy = false;
        buttons.forEach((b) => { b.disabled = false; });
        el.form.removeAttribute("aria-busy");
        el.status.textContent = message ? message.replace("{elapsed}", formatDuration(performance.now() - t0)) : "";
      },
    };
  }

  // -- attributes: fill, badge, what changed ------------------------------------------------------------
  function setBadge(name, source) {
    const badge = document.querySelector(`[data-source-for="${name}"]`);
    if (!badge) return;
    badge.textContent = source || "";
    badge.className = source ? `badge src-${source}` : "badge";
    badge.title = source ? SOURCE_TITLES[source] || source : "";
  }

  function edited(name) {
    const input = ATTRS[name].input;
    return input.value.trim() !== (input.dataset.rec || "");
  }

  function refreshBadge(name) {
    const source = name === "progression" ? null : state.rec && state.rec.sources[name];
    if (edited(name) && ATTRS[name].input.value.trim()) setBadge(name, "edited");
    else if (edited(name)) setBadge(name, null);
    else setBadge(name, source || null);
  }

  function fill(attrs) {
    state.rec = attrs;
    el.style.value = attrs.style + (attrs.mood ? ` · ${attrs.mood}` : "");
    setBadge("style", attrs.sources.style);
    for (const [name, spec] of Object.entries(ATTRS)) {
      const v = attrs[name];
      const text = v === null || v === undefined || (Array.isArray(v) && !v.length) ? "" : spec.show(v);
      spec.input.value = text;
      spec.input.dataset.rec = text;
      refreshBadge(name);
    }
  }

  // The attribute fields a request carries: what the user set or changed, and, while the prompt is the
  // one they were recommended for, what Recommend filled in (the explicit fields win on the server).
  // Chords the server derived from key and style are left to it, so a changed key gets its own chords.
  function attributeFields(prompt, { withRecommended }) {
    const out = {};
    const fresh = withRecommended && state.rec !== null && state.recPrompt === prompt;
    const take = (name) => {
      const text = ATTRS[name].input.value.trim();
      return text && (edited(name) || fresh) ? text : null;
    };
    for (const name of ["bpm", "key", "time_signature", "instruments"]) {
      const text = take(name);
      if (text !== null) out[name] = ATTRS[name].parse(text);
    }
    const chords = el.chords.value.trim();
    const progression = el.progression.value.trim();
    if (chords && edited("chords")) {
      out.chords = ATTRS.chords.parse(chords);
    } else if (progression && edited("progression")) {
      out.progression = ATTRS.progression.parse(progression);
    } else if (fresh && !["derived", "default"].includes(state.rec.sources.chords)) {
      if (progression) out.progression = ATTRS.progression.parse(progression);
      else if (chords) out.chords = ATTRS.chords.parse(chords);
    }
    return out;
  }

  function promptText() {
    const prompt = el.prompt.value.trim();
    if (!prompt) {
      el.prompt.focus();
      throw new ClientError("write a prompt first (English or Chinese)");
    }
    return prompt;
  }

  async function doRecommend() {
    if (state.busy) return;
    showError("");
    let body;
    try {
      const prompt = promptText();
      body = { prompt, ...attributeFields(prompt, { withRecommended: false }) };
    } catch (e) {
      return showError(e.message);
    }
    const busy = startBusy("Recommending…", [el.recommend, el.generate]);
    try {
      const res = await call(API.recommend, { method: "POST", body });
      state.recPrompt = body.prompt;
      fill(res.attributes);
      const clap = res.clap ? ` · CLAP ${res.clap.name} v${res.clap.version}` : "";
      busy.done(`Recommended in {elapsed}${clap}. Edit anything, then Generate.`);
    } catch (e) {
      busy.done("");
      showError(e.message);
    }
  }

  // -- generate and show -------------------------------------------------------------------------------
  function generationFields() {
    const out = {};
    const bars = el.bars.value.trim();
    if (bars) out.bars = toNumber(bars, "bars", true);
    const seed = el.seed.value.trim();
    if (seed) out.seed = toNumber(seed, "seed", true);
    const temperature = el.temperature.value.trim();
    if (temperature) out.temperature = toNumber(temperature, "temperature");
    if (el.model.value) out.model = el.model.value;
    const candidates = Number(el.candidates.value);
    if (candidates > 1) out.candidates = candidates;
    const tension = tensionValue();
    if (tension !== null) out.tension = tension;
    return out;
  }

  // -- film scoring: a tension (the slider) or a curve of breakpoints over the bars (the text) ----------
  function tensionValue() {
    const curve = $("#tension-curve").value.trim();
    if (curve) {
      const points = splitNumerals(curve).map((x) => toNumber(x, "tension curve"));
      if (points.some((v) => v < 0 || v > 1)) throw new ClientError("tension curve: every point must be within 0..1");
      return points.length === 1 ? points[0] : points;
    }
    const v = Number($("#tension").value);
    return v > 0 ? v : null;
  }

  // -- continue / infill an uploaded MIDI file ------------------------------------------------------------
  function fromUploadFields() {
    const mode = $("#fu-mode").value;
    if (mode === "continue") return { mode, body: { bars: toNumber($("#fu-bars").value, "new bars", true) } };
    const body = { first_bar: toNumber($("#fu-first").value, "from bar", true),
      last_bar: toNumber($("#fu-last").value, "to bar", true) };
    const track = $("#fu-track").value.trim();
    if (track) body.track = toNumber(track, "track", true);
    return { mode, body };
  }

  async function doFromUpload() {
    if (state.busy) return;
    showError("");
    const file = $("#fu-file").files[0];
    if (!file) return showError("choose a MIDI file to continue or infill");
    let mode, body;
    try {
      ({ mode, body } = fromUploadFields());
      const seed = el.seed.value.trim();
      if (seed) body.seed = toNumber(seed, "seed", true);
    } catch (e) {
      return showError(e.message);
    }
    const run = ++state.run;
    const busy = startBusy("Uploading…", [el.generate, el.recommend, $("#fu-go")]);
    let piece;
    try {
      const headers = { "Content-Type": "audio/midi" };
      const key = apiKey();
      if (key) headers[API.keyHeader] = key;
      let res;
      try {
        res = await fetch(API.uploads, { method: "POST", headers, body: await file.arrayBuffer() });
      } catch (e) {
        throw new ApiError(`could not reach the server (${e.message || e})`, 0);
      }
      if (!res.ok) throw await errorOf(res);
      const upload = await res.json();
      busy.relabel(mode === "continue" ? "Continuing…" : "Infilling…");
      piece = await call(API[mode], { method: "POST", body: { upload: upload.id, ...body } });
    } catch (e) {
      busy.done("");
      showError(e.message);
      return;
    }
    if (run !== state.run) return;
    showPiece(piece);
    busy.relabel("Rendering audio, piano roll and score…");
    const failed = await loadFiles(piece, run);
    if (run !== state.run) return;
    const [a, b] = piece.region;
    busy.done(`Wrote bars ${a}–${b} in {elapsed}` + (failed ? ` · ${failed} file(s) failed` : "."));
  }

  // -- education: an exercise; a melody harmonized or a piece re-arranged ---------------------------------
  async function showMade(answer, run, busy, what) {
    // the education routes answer with the piece's id and urls; its description comes from /v1/pieces/{id}
    const piece = await call(answer.urls.info || `/v1/pieces/${answer.id}`);
    if (run !== state.run) return;
    showPiece(piece);
    busy.relabel("Rendering audio, piano roll and score…");
    const failed = await loadFiles(piece, run);
    if (run !== state.run) return;
    busy.done(`${what} in {elapsed}` + (failed ? ` · ${failed} file(s) failed` : "."));
  }

  async function doExercise() {
    if (state.busy) return;
    showError("");
    let body;
    try {
      body = { kind: $("#ex-kind").value, scale: $("#ex-scale").value, tonic: $("#ex-tonic").value.trim() || "C",
        octaves: toNumber($("#ex-octaves").value, "octaves", true),
        difficulty: toNumber($("#ex-difficulty").value, "difficulty", true),
        instrument: $("#ex-instrument").value.trim() || "piano", bpm: toNumber($("#ex-bpm").value, "BPM") };
    } catch (e) {
      return showError(e.message);
    }
    const run = ++state.run;
    const busy = startBusy("Writing the exercise…", [el.generate, el.recommend, $("#ex-go"), $("#ed-go")]);
    try {
      const ex = await call(API.exercise, { method: "POST", body });
      $("#ed-key").textContent = `${ex.title} · ${ex.key} · ${ex.notes.length} notes`;
      $("#ed-chords").replaceChildren();
      $("#ed-measures").textContent = "";
      await showMade(ex, run, busy, "Exercise written");
    } catch (e) {
      busy.done("");
      showError(e.message);
    }
  }

  async function doEducation() {
    if (state.busy) return;
    showError("");
    const file = $("#ed-file").files[0];
    if (!file) return showError("choose a MIDI or MusicXML file");
    const mode = $("#ed-mode").value;
    const run = ++state.run;
    const busy = startBusy("Uploading…", [el.generate, el.recommend, $("#ex-go"), $("#ed-go")]);
    try {
      const headers = { "Content-Type": /\.(musicxml|xml)$/i.test(file.name) ? "application/vnd.recordare.musicxml+xml"
        : "audio/midi" };
      const key = apiKey();
      if (key) headers[API.keyHeader] = key;
      let res;
      try {
        res = await fetch(API.uploads, { method: "POST", headers, body: await file.arrayBuffer() });
      } catch (e) {
        throw new ApiError(`could not reach the server (${e.message || e})`, 0);
      }
      if (!res.ok) throw await errorOf(res);
      const upload = await res.json();
      busy.relabel(mode === "harmonize" ? "Harmonizing…" : "Re-arranging…");
      const body = mode === "harmonize"
        ? { melody: upload.id, per: $("#ed-per").value, style: $("#ed-style").value }
        : { piece: upload.id, style: $("#ed-style").value };
      const made = await call(API[mode], { method: "POST", body });
      $("#ed-key").textContent = `key ${made.key} · ${made.style.replace("_", " ")}`;
      $("#ed-chords").replaceChildren(...made.chords.map((c) => {
        const chip = text("span", `${c.symbol} ${c.roman}`, "chord");
        chip.title = `bar ${c.bar + 1}, beat ${c.beat + 1}, ${c.beats} beat(s)`;
        return chip;
      }));
      $("#ed-measures").textContent = mode === "transfer"
        ? `melody kept: intervals ${made.melody.intervals.toFixed(2)}, onsets ${made.melody.onsets.toFixed(2)} · `
          + `swing ${made.before.swing.toFixed(2)} → ${made.after.swing.toFixed(2)} · extended chords `
          + `${made.before.extended.toFixed(2)} → ${made.after.extended.toFixed(2)} · ${made.after.instruments.join(", ")}`
        : "";
      await showMade(made, run, busy, mode === "harmonize" ? "Harmonized" : "Re-arranged");
    } catch (e) {
      busy.done("");
      showError(e.message);
    }
  }

  async function doGenerate(ev) {
    if (ev) ev.preventDefault();
    if (state.busy) return;
    showError("");
    let body;
    try {
      const prompt = promptText();
      body = { prompt, ...attributeFields(prompt, { withRecommended: true }), ...generationFields() };
    } catch (e) {
      return showError(e.message);
    }
    const run = ++state.run;
    const busy = startBusy("Generating…", [el.generate, el.recommend]);
    let piece;
    try {
      piece = await call(API.generate, { method: "POST", body });
    } catch (e) {
      busy.done("");
      showError(e.message);
      return;
    }
    if (run !== state.run) return;
    showPiece(piece);
    busy.relabel("Rendering audio, piano roll and score…");
    const failed = await loadFiles(piece, run);
    if (run !== state.run) return;
    const server = formatDuration(piece.timings.total_ms);
    busy.done(`Done in {elapsed} (generation ${server} on the server)` + (failed ? ` · ${failed} file(s) failed` : "."));
  }

  function text(tag, content, cls) {
    const node = document.createElement(tag);
    node.textContent = content;
    if (cls) node.className = cls;
    return node;
  }

  function showPiece(p) {
    el.result.hidden = false;
    el.pieceId.textContent = p.id;
    const g = p.provenance.generator;
    const ref = g.ref && g.ref !== String(g.version) ? ` (${g.ref})` : "";
    const a = p.attributes;
    el.summary.replaceChildren(
      text("span", `model ${g.name} v${g.version}${ref}`, "pill"),
      text("span", `seed ${p.seed}`, "pill"),
      text("span", `${a.style} · ${a.key} · ${Math.round(a.bpm * 10) / 10} BPM · ${a.time_signature}`, "pill"),
      text("span", `${p.chords.length} bars · ${p.duration_s.toFixed(1)} s · ${p.n_notes} notes`, "pill"),
    );
    if (p.provenance.clap) {
      el.summary.append(text("span", `CLAP v${p.provenance.clap.version}`, "pill"));
    }
    const keep = text("button", "keep this seed", "small");
    keep.type = "button";
    keep.addEventListener("click", () => { el.seed.value = String(p.seed); });
    el.summary.append(keep);

    const tbody = el.tracks.tBodies[0];
    tbody.replaceChildren(...p.tracks.map((t) => {
      const tr = document.createElement("tr");
      const by = t.source === "model" ? `model v${g.version}` : t.source === "upload" ? "your upload" : "arranger";
      tr.append(text("td", t.role + (t.doubles ? ` (doubles ${t.doubles})` : "")),
        text("td", t.instrument + (t.program >= 0 ? ` · GM ${t.program}` : "")),
        text("td", by, `by-${t.source}`), text("td", String(t.n_notes), "num"));
      return tr;
    }));

    el.resultChords.replaceChildren(...p.chords.map((c, i) => {
      const chip = text("span", c, "chord");
      chip.title = `bar ${i + 1}`;
      return chip;
    }));

    const t = p.timings || { total_ms: p.elapsed_ms };  // continue / infill answer with their total only
    const rows = [["recommend", t.recommend_ms], ["generate", t.generate_ms], ["rank", t.rank_ms],
      ["store", t.store_ms], ["total", t.total_ms]];
    el.timings.replaceChildren(...rows.filter(([n, v]) => v !== undefined && (n !== "rank" || v > 0.5)).flatMap(([n, v]) => [
      text("dt", n), text("dd", formatDuration(v))]));

    el.candidatesResult.replaceChildren();
    if (p.candidates && p.candidates.length > 1) {
      el.candidatesResult.append(text("h3", "Candidates"));
      const ol = document.createElement("ol");
      ol.className = "candidates";
      for (const c of p.candidates) {
        ol.append(text("li", `seed ${c.seed}: ${c.score.toFixed(3)}${c.seed === p.seed ? " (kept)" : ""}`));
      }
      el.candidatesResult.append(ol);
    }

    // the previous piece's media go
    clearMedia();
  }

  function clearMedia() {
    state.blobs.forEach((u) => URL.revokeObjectURL(u));
    state.blobs = [];
    el.audio.removeAttribute("src");
    el.audio.load();
    el.roll.removeAttribute("src");
    el.score.replaceChildren(text("p", "rendering…", "hint"));
    for (const a of Object.values(el.downloads)) {
      a.removeAttribute("href");
      a.removeAttribute("download");
      a.classList.add("pending");
      a.setAttribute("aria-disabled", "true");
    }
  }

  function blobUrl(blob) {
    const url = URL.createObjectURL(blob);
    state.blobs.push(url);
    return url;
  }

  function offerDownload(fmt, url, id) {
    const a = el.downloads[fmt];
    a.href = url;
    a.download = `musiclake-${id}.${fmt}`;
    a.classList.remove("pending");
    a.removeAttribute("aria-disabled");
  }

  // Fetch every file with the key; each one shows as soon as it arrives. Returns how many failed.
  async function loadFiles(p, run) {
    const path = (fmt) => (p.urls && p.urls[fmt]) || `/v1/pieces/${p.id}.${fmt}`;
    const jobs = {
      wav: (blob) => {
        const url = blobUrl(blob);
        el.audio.src = url;
        offerDownload("wav", url, p.id);
      },
      png: (blob) => {
        const url = blobUrl(blob);
        el.roll.src = url;
        offerDownload("png", url, p.id);
      },
      svg: async (blob) => {
        offerDownload("svg", blobUrl(blob), p.id);
        showScore(await blob.text());
      },
      mid: (blob) => offerDownload("mid", blobUrl(blob), p.id),
      musicxml: (blob) => offerDownload("musicxml", blobUrl(blob), p.id),
    };
    const names = { wav: "WAV", png: "piano roll", svg: "score", mid: "MIDI", musicxml: "MusicXML" };
    const results = await Promise.all(Object.entries(jobs).map(async ([fmt, show]) => {
      try {
        const blob = await call(path(fmt), { as: "blob" });
        if (run === state.run) await show(blob);
        return true;
      } catch (e) {
        if (run === state.run) {
          addError(`${names[fmt]}: ${e.message}`);
          if (fmt === "svg") el.score.replaceChildren(text("p", "no score", "hint"));
        }
        return false;
      }
    }));
    return results.filter((ok) => !ok).length;
  }

  // The engraved score (verovio's SVG, from this server) goes inline, without scripts or event handlers,
  // and with a viewBox so it scales to the page's width.
  function showScore(markup) {
    const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
    const svg = doc.documentElement;
    if (!svg || svg.nodeName.toLowerCase() !== "svg" || doc.querySelector("parsererror")) {
      throw new ApiError("the score is not a readable SVG", 0);
    }
    svg.querySelectorAll("script, foreignObject").forEach((n) => n.remove());
    for (const node of [svg, ...svg.querySelectorAll("*")]) {
      for (const attr of [...node.attributes]) {
        const v = attr.value.trim().toLowerCase();
        if (attr.name.toLowerCase().startsWith("on") || v.startsWith("javascript:")) node.removeAttribute(attr.name);
      }
    }
    const w = parseFloat(svg.getAttribute("width"));
    const h = parseFloat(svg.getAttribute("height"));
    if (!svg.getAttribute("viewBox") && w > 0 && h > 0) svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMin meet");
    el.score.replaceChildren(document.importNode(svg, true));
  }

  // -- the model select: registered versions and aliases -------------------------------------------------
  async function loadModels() {
    if (!apiKey()) return;
    const keep = el.model.value;
    let data;
    try {
      data = await call(API.models);
    } catch (e) {
      if (!state.busy) showError(e.message);
      return;
    }
    const g = data.generator;
    const opts = [];
    const dflt = new Option(g.default_version ? `default (v${g.default_version})` : "default", "");
    dflt.title = `what a request without a model gets: ${g.default_model}` +
      (g.default_version ? ` → v${g.default_version}` : " (no version has it yet)");
    opts.push(dflt);
    const aliases = [];
    for (const v of g.versions) for (const a of v.aliases) aliases.push([a, v.version]);
    for (const [a, n] of aliases) opts.push(new Option(`${a} → v${n}`, a));
    for (const v of g.versions) {
      opts.push(new Option(`v${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}`, String(v.version)));
    }
    el.model.replaceChildren(...opts);
    if ([...el.model.options].some((o) => o.value === keep)) el.model.value = keep;
  }

  function fillKeyList() {
    const tonics = ["C", "C#", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
    const list = $("#keys");
    for (const mode of ["major", "minor"]) {
      for (const t of tonics) list.append(new Option("", `${t} ${mode}`));
    }
  }

  // -- wiring ------------------------------------------------------------------------------------------
  // -- verify: is a MIDI file ours? (POST /v1/verify: the watermark's verdict and the stored piece) ------
  const VERIFY_PATH = "/v1/verify";

  async function doVerify() {
    const out = $("#verify-result");
    const file = $("#verify-file").files[0];
    if (!file) {
      out.textContent = "choose a MIDI file to verify";
      return;
    }
    out.textContent = "Reading…";
    const headers = { "Content-Type": "audio/midi" };
    const key = apiKey();
    if (key) headers[API.keyHeader] = key;
    try {
      let res;
      try {
        res = await fetch(VERIFY_PATH, { method: "POST", headers, body: await file.arrayBuffer() });
      } catch (e) {
        throw new ApiError(`could not reach the server (${e.message || e})`, 0);
      }
      if (!res.ok) throw await errorOf(res);
      const v = await res.json();
      out.replaceChildren(text("strong", v.ours ? "Ours" : "Not ours"),
        text("span", `${v.verdict} · z ${v.z.toFixed(2)} · confidence ${(100 * v.confidence).toFixed(4)} %`));
      if (v.piece_id) {  // the stored piece (GET /v1/pieces/{id} describes it)
        const id = text("code", v.piece_id);
        id.id = "verify-piece";
        out.append(text("span", "stored piece"), id);
      }
    } catch (e) {
      out.textContent = e.message;
    }
  }

  function init() {
    initKey();
    fillKeyList();
    for (const name of Object.keys(ATTRS)) {
      ATTRS[name].input.addEventListener("input", () => refreshBadge(name));
    }
    el.recommend.addEventListener("click", doRecommend);
    $("#verify-go").addEventListener("click", doVerify);
    el.form.addEventListener("submit", doGenerate);
    $("#tension").addEventListener("input", () => {
      const v = Number($("#tension").value);
      $("#tension-value").textContent = v > 0 ? v.toFixed(2) : "off";
    });
    $("#fu-mode").addEventListener("change", () => {
      const mode = $("#fu-mode").value;
      document.querySelectorAll("#from-upload [data-mode]").forEach((f) => { f.hidden = f.dataset.mode !== mode; });
    });
    $("#fu-go").addEventListener("click", doFromUpload);
    $("#ex-go").addEventListener("click", doExercise);
    $("#ed-go").addEventListener("click", doEducation);
    $("#ed-mode").addEventListener("change", () => {
      const mode = $("#ed-mode").value;
      document.querySelectorAll("#education [data-ed]").forEach((f) => { f.hidden = f.dataset.ed !== mode; });
      $("#ed-go").textContent = mode === "harmonize" ? "Harmonize" : "Re-arrange";
    });
    el.prompt.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        doRecommend();
      }
    });
    el.prompt.addEventListener("input", () => {
      if (state.rec && el.prompt.value.trim() !== state.recPrompt) {
        el.status.textContent = "The prompt changed: Recommend again, or Generate sends only the fields you edited.";
      }
    });
    loadModels();
  }

  init();
})();
