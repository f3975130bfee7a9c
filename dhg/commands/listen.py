"""`dhg listen [FILE]`: live transcription from the microphone (ALSA, where there is one) or a file played in real
time, through the ASR service's `/v1/realtime` (OpenAI's Realtime protocol). The words of the turn being spoken are
shown in place as they are recognised; each finished turn is printed as a line. The session is stored in the
Registry when it ends, as a transcript of its own (with its audio unless --no-store)."""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from dhg.commands.options import AsrUrlOption, DataDirOption, data_dir_from, resolve_asr_api_key, resolve_asr_url
from dhg.errors import DhgError

RATE = 16_000  # sent as 16 kHz PCM (the service's extension of OpenAI's 24 kHz): what Whisper hears, no resampling
CHUNK_SECONDS = 0.1
TAIL_SECONDS = 1.0  # silence after a file, so that its last turn ends as a pause would end it
END_MARK = "dhg-listen-end"


def file_audio(path: Path) -> Iterator[bytes]:
    """A file's audio as 16 kHz 16-bit mono PCM, a chunk at a time (anything FFmpeg decodes)."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise DhgError(f"{path}: not audio FFmpeg can read ({error})") from error
    with container:
        if not container.streams.audio:
            raise DhgError(f"{path}: has no audio")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield bytes(out.to_ndarray().tobytes())
        for out in resampler.resample(None):
            yield bytes(out.to_ndarray().tobytes())


def microphone() -> Iterator[bytes]:
    """The default ALSA capture device, 16 kHz mono, until interrupted."""
    import av

    try:
        container = av.open("default", format="alsa", options={"sample_rate": str(RATE), "channels": "1"})
    except (av.error.FFmpegError, OSError) as error:
        raise DhgError(f"no microphone to listen to (ALSA: {error}); give a FILE to play instead") from error
    with container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield bytes(out.to_ndarray().tobytes())


def paced(chunks: Iterator[bytes], speed: float) -> Iterator[bytes]:
    """CHUNK_SECONDS pieces on a real-time clock (`speed` times real time; 0: as fast as they come)."""
    step = int(RATE * 2 * CHUNK_SECONDS)
    started, sent, pending = time.monotonic(), 0, b""
    for chunk in chunks:
        pending += chunk
        while len(pending) >= step:
            piece, pending = pending[:step], pending[step:]
            if speed > 0:
                time.sleep(max(0.0, started + sent / (RATE * 2) / speed - time.monotonic()))
            sent += len(piece)
            yield piece
    if pending:
        yield pending


class Screen:
    """The turn being spoken, rewritten in place on a terminal; finished turns as lines (all a pipe gets)."""

    def __init__(self, stream: Any = sys.stdout) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.partial: dict[str, str] = {}

    def delta(self, item: str, text: str) -> None:
        self.partial[item] = self.partial.get(item, "") + text
        if self.live:
            self.stream.write("\r\x1b[2K" + " ".join(self.partial.values())[-200:])
            self.stream.flush()

    def completed(self, item: str, text: str) -> None:
        self.partial.pop(item, None)
        if self.live:
            self.stream.write("\r\x1b[2K")
        if text.strip():
            self.stream.write(text.strip() + "\n")
        if self.live and self.partial:
            self.stream.write(" ".join(self.partial.values())[-200:])
        self.stream.flush()


def listen_session(
    url: str,
    api_key: str | None,
    audio: Iterator[bytes],
    *,
    model: str | None,
    language: str | None,
    keep_audio: bool,
    screen: Screen,
) -> str:
    """Stream `audio` to a live session and show what comes back; the job id the session is stored under."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    address = f"{base}/v1/realtime?intent=transcription" + ("" if keep_audio else "&keep_audio=false")
    try:
        socket = connect(address, additional_headers=headers, open_timeout=30, max_size=None)
    except (OSError, InvalidHandshake, InvalidURI) as error:
        raise DhgError(f"the ASR service at {url} is not reachable (is `dhg up` running? or pass --asr-url)") from error
    with socket:
        created = _event(socket)
        if created.get("type") == "error":
            raise DhgError(f"the ASR service refused the session: {created['error']['message']}")
        job_id = str(created["session"].get("dhg_job_id"))
        transcription = {key: value for key, value in (("model", model), ("language", language)) if value}
        socket.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "audio": {
                            "input": {"format": {"type": "audio/pcm", "rate": RATE}, "transcription": transcription}
                        },
                    },
                }
            )
        )
        updated = _event(socket)
        if updated.get("type") == "error":
            raise DhgError(updated["error"]["message"])
        finished = threading.Event()
        failure: list[BaseException] = []

        def speak() -> None:
            try:
                for piece in audio:
                    socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": _b64(piece)}))
                # Answered once every append before it is heard: an error when no turn is open (the usual case after
                # the silence that ends a file), else the open turn is committed.
                socket.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": END_MARK}))
            except (ConnectionClosed, DhgError) as error:
                failure.append(error)
            finally:
                finished.set()

        speaker = threading.Thread(target=speak, daemon=True)
        speaker.start()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop; the session is stored as far as it got
            _show(socket, screen, finished)
        if failure and isinstance(failure[0], DhgError):
            raise failure[0]
    return job_id


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _event(socket: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(socket.recv(timeout=120))
    return event


def _show(socket: Any, screen: Screen, finished: threading.Event) -> None:
    """Events until all the audio was heard (the end mark answered) and every turn it held is completed."""
    from websockets.exceptions import ConnectionClosed

    open_turns: set[str] = set()
    heard_all = False
    while not (heard_all and not open_turns):
        try:
            event = _event(socket)
        except TimeoutError:
            if finished.is_set():
                return
            continue
        except ConnectionClosed:
            return
        kind = event.get("type", "")
        if kind == "input_audio_buffer.speech_started":
            open_turns.add(event["item_id"])
        elif kind == "input_audio_buffer.committed":
            open_turns.add(event["item_id"])
            heard_all = heard_all or finished.is_set()
        elif kind.endswith("input_audio_transcription.delta"):
            screen.delta(event["item_id"], event.get("delta") or "")
        elif kind.endswith("input_audio_transcription.completed") or kind.endswith("transcription.failed"):
            open_turns.discard(event["item_id"])
            screen.completed(event["item_id"], event.get("transcript", ""))
        elif kind == "error" and event["error"].get("event_id") == END_MARK:
            heard_all = True
        elif kind == "error":
            print(f"warning: {event['error']['message']}", file=sys.stderr)


def with_tail(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield from chunks
    yield b"\x00\x00" * int(RATE * TAIL_SECONDS)


def listen(
    file: Annotated[
        Path | None,
        typer.Argument(help="Play this file in real time instead of the microphone (anything FFmpeg decodes)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="A model the service serves (`dhg models`).")] = None,
    language: Annotated[str | None, typer.Option(help="The language spoken, e.g. en (default: detected).")] = None,
    speed: Annotated[
        float, typer.Option(min=0, help="Play the file this many times real time (0: as fast as it decodes).")
    ] = 1.0,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Store the session's transcript without its audio.")
    ] = False,
    asr_url: AsrUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Transcribe live: the microphone, or a FILE played in real time; each finished turn is printed as a line."""
    if file is not None and not file.is_file():
        raise DhgError(f"no such file: {file}")
    directory = data_dir_from(data_dir)
    url = resolve_asr_url(asr_url, directory)
    audio = with_tail(paced(file_audio(file), speed)) if file is not None else paced(microphone(), 1.0)
    try:
        job_id = listen_session(
            url,
            resolve_asr_api_key(directory),
            audio,
            model=model,
            language=language,
            keep_audio=not no_store,
            screen=Screen(),
        )
    except KeyboardInterrupt:
        return
    print(f"stored in the Registry as job {job_id} when the session ended", file=sys.stderr)
