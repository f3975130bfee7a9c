// The Live page (#/live): the microphone transcribed as you speak, through the ASR service's /v1/realtime (OpenAI's
// Realtime protocol, a transcription session). The words of the turn being spoken appear as the service agrees on
// them; finished turns are listed below; once the session ends, a link to its transcript in the Registry.
// The ASR service's API key is asked for once and kept in sessionStorage (this tab only), and sent as the
// WebSocket subprotocol browsers use for it (`openai-insecure-api-key.<key>`), never in a URL.

import { ASR_URL } from "./config.js"; // the ASR service's address for browsers, written by the Registry

const KEY = "dhg.viewer.asr-key";
const DELTA = "conversation.item.input_audio_transcription.delta";
const COMPLETED = "conversation.item.input_audio_transcription.completed";
const END_MARK = "viewer-live-end";

function realtimeUrl() {
  const base = new URL(ASR_URL || "../", window.location.href);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  base.pathname = `${base.pathname.replace(/\/$/, "")}/v1/realtime`;
  base.search = "intent=transcription";
  return base.toString();
}

export function showLive({ main, h, getJson, announce, setCleanup }) {
  const key = h("input", {
    id: "asr-key",
    type: "password",
    autocomplete: "off",
    value: window.sessionStorage.getItem(KEY) || "",
    "aria-describedby": "asr-key-hint",
  });
  const start = h("button", { type: "button", id: "live-start" }, "Start listening");
  const stop = h("button", { type: "button", id: "live-stop", disabled: true }, "Stop");
  const status = h("p", { id: "live-status", class: "hint", role: "status" }, "Not listening.");
  const current = h("p", { id: "live-current", class: "live-current", "aria-live": "off" });
  const turns = h("ol", { id: "live-turns", class: "live-turns" });
  const stored = h("p", { id: "live-stored" });
  main.replaceChildren(
    h("h1", { tabindex: "-1" }, "Live"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "asr-key" }, "ASR service API key"),
      key,
      h("p", { id: "asr-key-hint", class: "hint" }, "The key `dhg up` prints (asr-api-key). It stays in this tab only."),
    ),
    h("p", {}, start, " ", stop),
    status,
    h("h2", {}, "Now"),
    current,
    h("h2", {}, "Turns"),
    turns,
    stored,
  );

  let session = null;
  const finish = () => session?.close();
  setCleanup(finish);

  start.addEventListener("click", async () => {
    window.sessionStorage.setItem(KEY, key.value.trim());
    start.disabled = true;
    stored.replaceChildren();
    try {
      session = await listen(key.value.trim(), { status, current, turns, h, announce });
      stop.disabled = false;
      session.closed.then(async (jobId) => {
        stop.disabled = true;
        start.disabled = false;
        if (jobId) await linkStored(jobId, { stored, h, getJson });
      });
    } catch (error) {
      status.textContent = error.message;
      start.disabled = false;
    }
  });
  stop.addEventListener("click", () => {
    stop.disabled = true;
    status.textContent = "Finishing the last turn…";
    session?.stop();
  });
}

async function listen(key, { status, current, turns, h, announce }) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  const context = new AudioContext();
  await context.audioWorklet.addModule(new URL("./live-worklet.js", import.meta.url));
  const source = context.createMediaStreamSource(media);
  const tap = new AudioWorkletNode(context, "pcm-tap");
  const protocols = ["realtime", ...(key ? [`openai-insecure-api-key.${key}`] : [])];
  const socket = new WebSocket(realtimeUrl(), protocols);
  const partial = new Map(); // item id → its words so far
  const open = new Set();
  let jobId = null;
  let ending = false;
  let settle;
  const closed = new Promise((resolve) => (settle = resolve));

  const render = () => (current.textContent = [...partial.values()].join(" "));
  let released = false;
  const release = () => {
    if (released) return; // the stop, the socket's close and the page leaving may each ask
    released = true;
    tap.port.onmessage = null;
    source.disconnect();
    tap.disconnect();
    media.getTracks().forEach((track) => track.stop());
    context.close();
  };
  const end = () => {
    release();
    if (socket.readyState === WebSocket.OPEN) socket.close(1000);
  };

  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "session.created") {
      jobId = event.session.dhg_job_id;
      socket.send(JSON.stringify({ type: "session.update", session: { type: "transcription" } }));
      status.textContent = "Listening: speak.";
      announce("Listening");
    } else if (event.type === "input_audio_buffer.speech_started") {
      open.add(event.item_id);
    } else if (event.type === DELTA) {
      partial.set(event.item_id, (partial.get(event.item_id) || "") + event.delta);
      render();
    } else if (event.type === COMPLETED) {
      open.delete(event.item_id);
      partial.delete(event.item_id);
      render();
      if (event.transcript.trim()) turns.append(h("li", {}, event.transcript.trim()));
    } else if (event.type === "input_audio_buffer.committed" && ending === true) {
      ending = "heard"; // the stop's commit closed the open turn
    } else if (event.type === "error" && event.error.event_id === END_MARK) {
      ending = "heard"; // every append before the stop was heard; the open turns finish below
    } else if (event.type === "error") {
      status.textContent = event.error.message;
    }
    if (ending === "heard" && open.size === 0) end();
  });
  socket.addEventListener("close", (event) => {
    release();
    status.textContent = event.code === 1000 || event.code === 1005 ? "Stopped." : `Closed: ${event.reason || event.code}`;
    settle(jobId);
  });
  tap.port.onmessage = (message) => {
    if (socket.readyState !== WebSocket.OPEN || ending) return;
    const bytes = new Uint8Array(message.data);
    let binary = "";
    for (let index = 0; index < bytes.length; index += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(index, index + 0x8000));
    }
    socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: btoa(binary) }));
  };
  source.connect(tap);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error("The ASR service could not be reached.")), { once: true });
  });
  return {
    closed,
    stop() {
      ending = true;
      // Answered once all the audio before it is heard: an error when no turn is open, else that turn is committed.
      socket.send(JSON.stringify({ type: "input_audio_buffer.commit", event_id: END_MARK }));
      window.setTimeout(end, 30_000); // however it goes, the microphone is given back
    },
    close: end,
  };
}

async function linkStored(jobId, { stored, h, getJson }) {
  stored.replaceChildren(h("span", { class: "hint" }, "Storing the session…"));
  for (let attempt = 0; attempt < 60; attempt += 1) {
    try {
      const page = await getJson("v1/transcripts", { job_id: jobId, limit: 1 });
      if (page.items.length) {
        const id = page.items[0].id;
        stored.replaceChildren(
          h("a", { id: "live-transcript", href: `#/transcripts/${encodeURIComponent(id)}` }, "The session's transcript"),
        );
        return;
      }
    } catch {
      // the Registry may not have it yet; try again
    }
    await new Promise((resolve) => window.setTimeout(resolve, 1000));
  }
  stored.replaceChildren(h("span", { class: "hint" }, "The session is not in the Registry yet; see Transcripts later."));
}
