"""Server-sent events while a transcription decodes, in OpenAI's event shapes: `transcript.text.delta` per
segment (with its times), and with speakers `transcript.text.segment` after it; `transcript.text.done` with the full
text, then `[DONE]`; an error as a problem event. Diarized segments come once the whole audio is heard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from asr.engines.base import Segment
from asr.errors import AsrError
from asr.transcribe import Result, SegmentCallback

log = logging.getLogger("asr.streaming")
SSE_MEDIA_TYPE = "text/event-stream"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Decode = Callable[[SegmentCallback], Awaitable[Result]]  # decodes, handing each segment to the callback


def event(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"data: {payload}\n\n".encode()


def _delta(segment: Segment, text: str, index: int) -> bytes:
    return event(
        {
            "type": "transcript.text.delta",
            "delta": text if index == 0 else " " + text,
            "segment_id": str(index),
            "start": round(segment.start, 3),
            "end": round(segment.end, 3),
        }
    )


def _segment(segment: Segment, text: str, index: int) -> bytes:
    """OpenAI's `transcript.text.segment`: a finished segment with its speaker (diarized transcriptions)."""
    return event(
        {
            "type": "transcript.text.segment",
            "id": f"seg_{index:03d}",
            "start": round(segment.start, 3),
            "end": round(segment.end, 3),
            "text": text,
            "speaker": segment.speaker,
        }
    )


def _done(result: Result) -> bytes:
    return event(
        {
            "type": "transcript.text.done",
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration, 3),
        }
    )


async def events(decode: Decode, *, instance: str) -> AsyncIterator[bytes]:
    """One delta per segment as it is decoded, then the full text. Deltas concatenate to the text."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()

    def on_segment(segment: Segment) -> None:  # runs in the decoder thread
        loop.call_soon_threadsafe(queue.put_nowait, segment)

    async def work() -> Result:
        try:
            return await decode(on_segment)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    # The decoding runs to the end even if the client goes away: its result still reaches the Registry.
    task = asyncio.create_task(work())
    index = 0
    while (segment := await queue.get()) is not None:
        if text := segment.text.strip():
            yield _delta(segment, text, index)
            if segment.speaker is not None:
                yield _segment(segment, text, index)
            index += 1
    try:
        result = await task
    except AsrError as error:
        yield event(error.problem(instance=instance))
        return
    except Exception:
        log.exception("a streamed transcription failed")
        yield event(AsrError("an unexpected error occurred; see the server log").problem(instance))
        return
    yield _done(result)
    yield event("[DONE]")
