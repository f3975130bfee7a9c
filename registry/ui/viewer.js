// The transcript viewer: a read-only client of the Registry's API, served by the Registry at /ui/ (registry/viewer.py).
// No framework, no build step, no other host: every element is created and its text set as text (no markup is ever
// parsed from a string), so nothing a transcript holds can run as markup. The token lives in sessionStorage: this
// tab only, gone when it closes.

import { PHASES } from "./vocabulary.js"; // the API's phases (dhg_core/vocabulary.py), written by the Registry
import { showLive } from "./live.js";

const TOKEN_KEY = "dhg.viewer.token";
const PAGE_SIZE = 25;
const API_ROOT = new URL("../", window.location.href); // the Registry, wherever /ui/ is mounted
const FORMATS = [
  ["text", "Text", "txt"],
  ["srt", "SRT", "srt"],
  ["vtt", "WebVTT", "vtt"],
  ["tsv", "TSV", "tsv"],
  ["json", "JSON", "json"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const announcer = document.getElementById("announcer");
const assetCache = new Map();
let lastPath = null;
let cleanup = () => {};

// ---- small helpers ----

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const whole = Math.max(0, seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = (whole % 60).toFixed(1).padStart(4, "0");
  const mm = String(minutes).padStart(hours ? 2 : 1, "0");
  return hours ? `${hours}:${mm}:${rest}` : `${mm}:${rest}`;
}

function duration(seconds) {
  return seconds === null || seconds === undefined ? "–" : clock(seconds).replace(/\.\d$/, "");
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function announce(message) {
  announcer.textContent = "";
  window.setTimeout(() => (announcer.textContent = message), 50);
}

function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

// ---- the token and the API ----

function token() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, params = {}, accept = "application/json") {
  const url = new URL(path, API_ROOT);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token()}`, Accept: accept },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.ok) return response;
  let message = `The Registry answered ${response.status}.`;
  try {
    const problem = await response.json();
    message = problem.detail || problem.title || message;
  } catch {
    // not problem+json: keep the status line
  }
  if (response.status === 401) {
    signOut("The Registry refused this token (expired, revoked or mistyped). Sign in again.");
  }
  if (response.status === 403) message = `This token may not read here: ${message}`;
  throw new ApiError(response.status, message);
}

async function getJson(path, params) {
  return (await api(path, params)).json();
}

async function asset(id) {
  if (!id) return null;
  if (!assetCache.has(id)) {
    assetCache.set(
      id,
      getJson(`v1/assets/${encodeURIComponent(id)}`).catch(() => null),
    );
  }
  return assetCache.get(id);
}

function transcriptName(transcript, found) {
  return found?.filename || `Transcript ${shortId(transcript.id)}`;
}

// ---- routing: #/transcripts, #/transcripts/<id>?t=<seconds>, #/search?q=, #/jobs, #/jobs/<id> ----

function parseHash() {
  const raw = window.location.hash.startsWith("#/") ? window.location.hash.slice(2) : "transcripts";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

function link(parts, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== "" && value !== null));
  const text = query.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${text ? `?${text}` : ""}`;
}

function navigate(parts, params) {
  window.location.hash = link(parts, params);
}

async function route() {
  cleanup();
  cleanup = () => {};
  if (!token()) {
    showSignIn();
    return;
  }
  nav.hidden = false;
  const { parts, params } = parseHash();
  const [section = "transcripts", id] = parts;
  for (const anchor of nav.querySelectorAll("a[data-section]")) {
    if (anchor.dataset.section === section) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
  const path = parts.join("/");
  const moved = path !== lastPath;
  lastPath = path;
  const views = {
    transcripts: id ? () => showTranscript(id, params) : () => showTranscripts(params),
    search: () => showSearch(params),
    jobs: id ? () => showJob(id) : () => showJobs(params),
    live: () => showLive({ main, h, getJson, announce, setCleanup: (done) => (cleanup = done) }),
  };
  const view = views[section] || (() => showMissing());
  main.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  try {
    await view();
  } catch (error) {
    if (!token()) return; // signed out by a 401: the sign-in form is shown
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "Something went wrong"),
      h("p", { class: "notice", role: "alert" }, error.message || String(error)),
    );
  }
  if (moved) main.querySelector("h1")?.focus();
}

function heading(text) {
  document.title = `${text} · DHG transcripts`;
  return h("h1", { tabindex: "-1" }, text);
}

function showMissing() {
  main.replaceChildren(heading("Not found"), h("p", {}, "No page here. ", h("a", { href: "#/transcripts" }, "All transcripts")));
}

// ---- sign in and out ----

function signOut(message) {
  window.sessionStorage.removeItem(TOKEN_KEY);
  assetCache.clear();
  lastPath = null;
  showSignIn(message);
}

function showSignIn(message) {
  nav.hidden = true;
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-hint",
  });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" }, message || "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h("div", { class: "field" }, h("label", { for: "token" }, "Registry token"), input),
    h(
      "p",
      { id: "token-hint", class: "hint" },
      "A token with the read scope (dhg token create viewer --scope read). It stays in this tab only.",
    ),
    button,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const ok = await tryToken(input.value.trim());
    button.disabled = false;
    if (ok === true) route();
    else error.textContent = ok;
  });
  document.title = "Sign in · DHG transcripts";
  main.replaceChildren(h("h1", { id: "sign-in-title", tabindex: "-1" }, "Sign in"), form);
  input.focus();
}

async function tryToken(candidate) {
  if (!candidate) return "Enter a token.";
  try {
    const response = await fetch(new URL("v1/transcripts?limit=1", API_ROOT), {
      headers: { Authorization: `Bearer ${candidate}` },
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401) return "The Registry does not know this token.";
    if (response.status === 403) return "This token may not read transcripts: it needs the read scope.";
    if (!response.ok) return `The Registry answered ${response.status}; try again.`;
  } catch {
    return "The Registry could not be reached.";
  }
  window.sessionStorage.setItem(TOKEN_KEY, candidate);
  announce("Signed in.");
  return true;
}

// A link printed by `dhg up` carries the token in the fragment (never sent to a server): keep it, drop it from
// the address bar and the history.
function adoptTokenFromLink() {
  const match = window.location.hash.match(/^#token=([^&]+)$/);
  if (!match) return;
  window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#/transcripts`);
}

// ---- lists ----

function pager(page, params, parts) {
  const offset = page.offset;
  const first = page.total === 0 ? 0 : offset + 1;
  const last = offset + page.items.length;
  const previous = Math.max(0, offset - PAGE_SIZE);
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("span", {}, `${first}–${last} of ${page.total}`),
    offset > 0 ? h("a", { href: link(parts, { ...params, offset: previous || "" }) }, "Previous page") : null,
    last < page.total ? h("a", { href: link(parts, { ...params, offset: last }) }, "Next page") : null,
  );
}

function field(id, label, control, wide = false) {
  control.id = id;
  control.name = id;
  return h("div", { class: wide ? "field wide" : "field" }, h("label", { for: id }, label), control);
}

function filterForm(fields, onSubmit, extra = []) {
  const form = h("form", { class: "filters", role: "search" }, ...fields, h("button", { type: "submit" }, "Apply"), ...extra);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit(Object.fromEntries(new FormData(form).entries()));
  });
  return form;
}

function scrollingTable(label, head, rows) {
  return h(
    "div",
    { class: "table-scroll", role: "region", "aria-label": label, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, label),
      h("thead", {}, h("tr", {}, head.map(([text, numeric]) => h("th", { scope: "col", class: numeric ? "number" : null }, text)))),
      h("tbody", {}, rows),
    ),
  );
}

async function showTranscripts(params) {
  const filters = {
    language: params.get("language") || "",
    created_after: params.get("created_after") || "",
    created_before: params.get("created_before") || "",
  };
  const offset = Number(params.get("offset") || 0);
  const query = {
    language: filters.language,
    created_after: filters.created_after ? new Date(`${filters.created_after}T00:00:00`).toISOString() : "",
    created_before: filters.created_before ? new Date(`${filters.created_before}T23:59:59.999`).toISOString() : "",
    limit: PAGE_SIZE,
    offset,
  };
  const page = await getJson("v1/transcripts", query);
  const assets = await Promise.all(page.items.map((item) => asset(item.asset_id)));
  const form = filterForm(
    [
      field("language", "Language", h("input", { type: "text", value: filters.language, placeholder: "en", autocomplete: "off" })),
      field("created_after", "Created from", h("input", { type: "date", value: filters.created_after })),
      field("created_before", "Created until", h("input", { type: "date", value: filters.created_before })),
    ],
    (values) => navigate(["transcripts"], values),
    [h("a", { href: "#/transcripts" }, "Clear")],
  );
  const rows = page.items.map((item, index) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: link(["transcripts", item.id]) }, transcriptName(item, assets[index]))),
      h("td", {}, item.language || "–"),
      h("td", { class: "number" }, duration(item.duration_seconds)),
      h("td", { class: "number" }, item.segment_count),
      h("td", {}, item.model || "–"),
      h("td", {}, item.device || "–"),
      h("td", {}, when(item.created_at)),
    ),
  );
  const head = [["Recording"], ["Language"], ["Duration", true], ["Segments", true], ["Model"], ["Device"], ["Created"]];
  main.replaceChildren(
    heading("Transcripts"),
    form,
    page.items.length ? scrollingTable("Transcripts", head, rows) : h("p", {}, "No transcripts match."),
    pager(page, filters, ["transcripts"]),
  );
}

async function showSearch(params) {
  const q = params.get("q") || "";
  const mode = params.get("mode") || "auto";
  const language = params.get("language") || "";
  const speaker = params.get("speaker") || "";
  const modes = [
    ["auto", "Best available"],
    ["hybrid", "By words and meaning (hybrid)"],
    ["semantic", "By meaning (semantic)"],
    ["fulltext", "By words (full text)"],
  ];
  const form = filterForm(
    [
      field("q", "Search for", h("input", { type: "search", value: q, required: true, autocomplete: "off" }), true),
      field("mode", "Kind of search", h("select", {}, modes.map(([value, text]) => h("option", { value, selected: value === mode }, text)))),
      field("language", "Language", h("input", { type: "text", value: language, placeholder: "any", autocomplete: "off" })),
      field("speaker", "Speaker", h("input", { type: "text", value: speaker, placeholder: "anyone", autocomplete: "off" })),
    ],
    (values) => navigate(["search"], values),
  );
  const results = h("section", { "aria-labelledby": "results-title" });
  main.replaceChildren(heading("Search"), form, results);
  if (!q) {
    results.append(h("p", { id: "results-title", class: "hint" }, "Search every stored segment, by meaning or by words."));
    return;
  }
  let found;
  try {
    found = await getJson("v1/search", { q, mode, language, speaker, limit: 50 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) {
      results.append(h("h2", { id: "results-title" }, "Not available yet"), h("p", { class: "notice", role: "alert" }, error.message));
      return;
    }
    throw error;
  }
  const assets = await Promise.all(found.items.map((hit) => asset(hit.asset_id)));
  const kind = { hybrid: "by words and meaning", semantic: "by meaning", fulltext: "by words" }[found.mode];
  results.append(
    h("h2", { id: "results-title" }, `${found.items.length} ${found.items.length === 1 ? "hit" : "hits"} ${kind}`),
    found.items.length
      ? h(
          "ol",
          { class: "hits" },
          found.items.map((hit, index) =>
            h(
              "li",
              {},
              h("a", { href: link(["transcripts", hit.transcript_id], { t: hit.start }) }, hit.text.trim() || "(no words)"),
              h(
                "div",
                { class: "hit-meta" },
                `${assets[index]?.filename || `Transcript ${shortId(hit.transcript_id)}`} at ${clock(hit.start)}`,
                hit.speaker ? ` · ${hit.speaker}` : "",
                ` · score ${hit.score.toFixed(3)}`,
                hit.language ? ` · ${hit.language}` : "",
              ),
            ),
          ),
        )
      : h("p", {}, "Nothing found. Try other words, or the other kind of search."),
  );
  announce(`${found.items.length} hits`);
}

async function showJobs(params) {
  const filters = { phase: params.get("phase") || "", name: params.get("name") || "" };
  const offset = Number(params.get("offset") || 0);
  const page = await getJson("v1/jobs", { ...filters, limit: PAGE_SIZE, offset });
  const form = filterForm(
    [
      field(
        "phase",
        "Phase",
        h("select", {}, h("option", { value: "" }, "Any"), PHASES.map((phase) => h("option", { value: phase, selected: phase === filters.phase }, phase))),
      ),
      field("name", "Name", h("input", { type: "text", value: filters.name, autocomplete: "off" })),
    ],
    (values) => navigate(["jobs"], values),
    [h("a", { href: "#/jobs" }, "Clear")],
  );
  const rows = page.items.map((job) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: link(["jobs", job.id]) }, job.name || `Job ${shortId(job.id)}`)),
      h("td", {}, h("span", { class: `phase ${job.phase}` }, job.phase)),
      h("td", {}, job.device || "–"),
      h("td", { class: "number" }, job.attempts),
      h("td", {}, when(job.created_at)),
      h("td", {}, when(job.finished_at)),
      h("td", {}, job.transcript_id ? h("a", { href: link(["transcripts", job.transcript_id]) }, "Open") : "–"),
    ),
  );
  const head = [["Job"], ["Phase"], ["Device"], ["Attempts", true], ["Created"], ["Finished"], ["Transcript"]];
  main.replaceChildren(
    heading("Jobs"),
    form,
    page.items.length ? scrollingTable("Jobs", head, rows) : h("p", {}, "No jobs match."),
    pager(page, filters, ["jobs"]),
  );
}

async function showJob(id) {
  const job = await getJson(`v1/jobs/${encodeURIComponent(id)}`);
  const facts = [
    ["Phase", h("span", { class: `phase ${job.phase}` }, job.phase)],
    ["Device", job.device || "–"],
    ["Attempts", job.attempts],
    ["Created", when(job.created_at)],
    ["Started", when(job.started_at)],
    ["Finished", when(job.finished_at)],
    ["Source", JSON.stringify(job.source)],
    ["Parameters", Object.keys(job.parameters).length ? JSON.stringify(job.parameters) : "–"],
    ["Error", job.error || "–"],
    ["Transcript", job.transcript_id ? h("a", { href: link(["transcripts", job.transcript_id]) }, "Open the transcript") : "–"],
    ["Id", job.id],
  ];
  main.replaceChildren(
    heading(job.name || `Job ${shortId(job.id)}`),
    h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("p", {}, h("a", { href: "#/jobs" }, "All jobs")),
  );
}

// ---- one transcript: the audio, the segments, the downloads ----

async function showTranscript(id, params) {
  const [transcript, speakers] = await Promise.all([
    getJson(`v1/transcripts/${encodeURIComponent(id)}`),
    getJson(`v1/transcripts/${encodeURIComponent(id)}/speakers`),
  ]);
  const found = await asset(transcript.asset_id);
  const name = transcriptName(transcript, found);
  const segments = transcript.segments;
  const starts = segments.map((segment) => segment.start);
  const wanted = params.get("t") === null ? null : Number(params.get("t"));

  const audio = h("audio", { controls: true, preload: "metadata", "aria-label": `Audio of ${name}` });
  const audioStatus = h("p", { class: "hint", role: "status" });
  const player = h("section", { class: "player", "aria-label": "Player" }, audio, audioStatus);
  audio.hidden = true;

  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const buttons = segments.map((segment, index) =>
    h(
      "button",
      {
        type: "button",
        class: "segment",
        "data-index": index,
        "data-start": segment.start,
        onclick: () => seek(index, true),
      },
      h("span", { class: "time" }, `${clock(segment.start)} – ${clock(segment.end)}`),
      h("span", { class: "text" }, segment.speaker ? h("span", { class: "speaker" }, segment.speaker) : null, segment.text.trim()),
    ),
  );

  let current = -1;
  function highlight(index, scroll) {
    if (index === current) return;
    if (current >= 0) {
      buttons[current].classList.remove("current");
      buttons[current].removeAttribute("aria-current");
    }
    current = index;
    if (index < 0) return;
    buttons[index].classList.add("current");
    buttons[index].setAttribute("aria-current", "true");
    if (scroll) buttons[index].scrollIntoView({ block: "nearest" });
  }

  function segmentAt(time) {
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (starts[middle] <= time + 1e-3) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found;
  }

  function seek(index, play) {
    highlight(index, false);
    if (!audio.src) return;
    audio.currentTime = segments[index].start;
    if (play) audio.play().catch(() => {});
  }

  audio.addEventListener("timeupdate", () => highlight(segmentAt(audio.currentTime), follow.checked));

  const downloads = h(
    "ul",
    { class: "downloads", "aria-label": "Downloads" },
    FORMATS.map(([format, label, extension]) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "secondary", "data-format": format, onclick: (event) => download(event.currentTarget, transcript.id, format, `${baseName(name)}.${extension}`) },
          `Download ${label}`,
        ),
      ),
    ),
  );

  const detected = transcript.language_probability == null ? "" : ` (detected, ${Math.round(transcript.language_probability * 100)}% sure)`;
  const facts = [
    ["Language", transcript.language ? `${transcript.language}${detected}` : "–"],
    ["Duration", duration(transcript.duration_seconds)],
    ["Model", transcript.model || "–"],
    ["Device", transcript.device || "–"],
    ["Created", when(transcript.created_at)],
    ["Job", h("a", { href: link(["jobs", transcript.job_id]) }, shortId(transcript.job_id))],
  ];
  if (speakers.items.length) {
    const talk = speakers.items.map((item) => `${item.speaker} ${duration(item.talk_seconds)}`).join(", ");
    facts.splice(1, 0, ["Speakers", talk]);
  }
  main.replaceChildren(
    heading(name),
    h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    player,
    downloads,
    h("h2", { id: "segments-title" }, `Segments (${segments.length})`),
    h("p", { class: "check" }, follow, h("label", { for: "follow" }, "Follow the audio")),
    segments.length
      ? h("ol", { class: "segments", "aria-labelledby": "segments-title" }, buttons.map((button) => h("li", {}, button)))
      : h("p", {}, "This transcript has no segments."),
  );

  if (wanted !== null && Number.isFinite(wanted)) {
    const index = segmentAt(wanted);
    if (index >= 0) {
      highlight(index, true);
      buttons[index].focus();
    }
  }
  if (!transcript.asset_id) {
    audioStatus.textContent = "No audio is stored with this transcript.";
    return;
  }
  const controller = new AbortController();
  cleanup = () => {
    controller.abort();
    audio.removeAttribute("src");
    audio.load(); // stops fetching
  };
  loadAudio(transcript.asset_id, audio, audioStatus, controller.signal).then((loaded) => {
    if (!loaded) return;
    if (wanted !== null && Number.isFinite(wanted)) audio.currentTime = wanted;
  });
}

function baseName(name) {
  return name.replace(/\.[^.]+$/, "") || "transcript";
}

// An <audio> element cannot send the token: it gets a short-lived link signed for this one asset (no token in it) and
// streams from it, fetching with Range requests only what it plays and where it seeks.
async function loadAudio(assetId, audio, status, signal) {
  status.textContent = "Loading the audio…";
  try {
    const path = `v1/assets/${encodeURIComponent(assetId)}/link`;
    const link = await (await api(path)).json();
    if (signal.aborted) return false;
    const loaded = new Promise((resolve, reject) => {
      audio.addEventListener("loadedmetadata", resolve, { once: true });
      audio.addEventListener("error", () => reject(new Error(audio.error?.message || "the browser cannot play it")), { once: true });
    });
    audio.src = new URL(link.href, new URL(path, API_ROOT)).href;
    audio.hidden = false;
    await loaded;
    status.replaceChildren();
    return true;
  } catch (error) {
    if (signal.aborted) return false;
    status.replaceChildren(h("span", { class: "error" }, `The audio could not be loaded: ${error.message}`));
    return false;
  }
}

async function download(button, transcriptId, format, filename) {
  button.disabled = true;
  try {
    const response = await api(`v1/transcripts/${encodeURIComponent(transcriptId)}`, { format }, "*/*");
    const url = URL.createObjectURL(await response.blob());
    const anchor = h("a", { href: url, download: filename, hidden: true });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce(`Downloaded ${filename}`);
  } catch (error) {
    announce(`The download failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- start ----

document.getElementById("sign-out").addEventListener("click", () => {
  signOut("Signed out.");
  window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}`);
});
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault(); // the fragment is the router's
  main.focus();
});
window.addEventListener("hashchange", route);
adoptTokenFromLink();
route();
