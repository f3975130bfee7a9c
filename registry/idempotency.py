"""What "the same request again" means for the writes keyed for retries (a transcript's `job_id`, a job's `id`): the
same canonical content. A retry with the same content gets the stored record back; one with other content is refused
(409: it conflicts with the record stored under that key; the IETF Idempotency-Key draft's 422 would say the request
itself is malformed, which it is not), naming the stored record and what differs, and changes nothing.

The content is what the record says, not how the run that made it went:
- a transcript: `asset_id`, `language`, `model`, `duration_seconds`, `text` (joined from the segments when it was
  left out) and each segment's `start`, `end`, `text`, `speaker` and words (`start`, `end`, `word`, `speaker`); not
  `device`, `engine`, `processing_seconds`, `timings`, nor the scores `language_probability`, `avg_logprob`,
  `no_speech_prob` and a word's `probability` (a retried job run again elsewhere differs there while its result is
  the same);
- a job: `name`, `source` and `parameters`; not its state (`phase`, `device`, `attempts`, ...: a writer that sees a
  job first mid-way creates it with the state it sees, and changes state with PATCH).

Its digest (`content_digest`) is SHA-256 over the canonical JSON in UTF-8 (keys sorted, no spaces, no ASCII escapes,
floats as the shortest repr that reads back the same), so two clients agree on it byte for byte. Pure: no database,
no FastAPI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

TRANSCRIPT_FIELDS = ("asset_id", "language", "model", "duration_seconds", "text")
SEGMENT_FIELDS = ("start", "end", "text", "speaker")
WORD_FIELDS = ("start", "end", "word", "speaker")
JOB_FIELDS = ("name", "source", "parameters")


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def transcript_content(transcript: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content of a transcript given as JSON-like data (a push's body dumped in JSON mode, with its
    full text, or the stored transcript as the API renders it)."""
    content: dict[str, Any] = {name: transcript.get(name) for name in TRANSCRIPT_FIELDS}
    content["asset_id"] = _text(content["asset_id"])
    content["segments"] = [
        {
            **{name: segment.get(name) for name in SEGMENT_FIELDS},
            "words": [{name: word.get(name) for name in WORD_FIELDS} for word in segment.get("words") or ()],
        }
        for segment in transcript.get("segments") or ()
    ]
    return content


def job_content(job: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content of a job record: its name, its source (unset fields left out) and its parameters."""
    source = {key: _text(value) for key, value in (job.get("source") or {}).items() if value is not None}
    return {"name": job.get("name"), "source": source, "parameters": job.get("parameters") or {}}


def content_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (integers of any size, as a job's parameters may hold)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def differences(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    """What differs between two canonical contents, as readable paths: `text`, `segments[3].text`, `segments` (12
    stored, 0 sent)."""
    found: list[str] = []
    for name in sorted(set(stored) | set(sent)):
        old, new = stored.get(name), sent.get(name)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            found += _list_differences(name, old, new)
        else:
            found.append(name)
    return found


def _list_differences(name: str, old: Sequence[Any], new: Sequence[Any]) -> list[str]:
    if len(old) != len(new):
        return [f"{name} ({len(old)} stored, {len(new)} sent)"]
    found = []
    for index, (before, after) in enumerate(zip(old, new, strict=True)):
        if before != after:
            inner = differences(before, after) if isinstance(before, dict) and isinstance(after, dict) else [""]
            found += [f"{name}[{index}]" + (f".{part}" if part else "") for part in inner]
    return found


def describe(found: Sequence[str], limit: int = 5) -> str:
    """`found` for a sentence: the first `limit` paths and how many more."""
    shown = ", ".join(found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")
