"""Reading the end of a service's log for an error message (pure apart from reading the file)."""

from __future__ import annotations

import json
from pathlib import Path

TAIL_LINES = 15
MAX_LINE_CHARS = 400


def readable(line: str) -> str:
    """One JSON log line as `level msg` (plus the last line of its traceback); other lines as they are."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:MAX_LINE_CHARS]
    if not isinstance(entry, dict) or "msg" not in entry:
        return line[:MAX_LINE_CHARS]
    text = f"{entry.get('level', '?')}: {entry['msg']}"
    exc = str(entry.get("exc") or "").strip()
    if exc:
        text += f" — {exc.splitlines()[-1]}"
    return text[:MAX_LINE_CHARS]


def tail(path: Path, *, offset: int = 0, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` non-empty lines written to `path` after byte `offset`, made readable."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    kept = [line for line in data.splitlines() if line.strip()]
    return [readable(line) for line in kept[-lines:]]


def describe_tail(path: Path, *, offset: int = 0) -> str:
    """A block to append to an error: the log's last lines, indented, or a note that it is empty."""
    lines = tail(path, offset=offset)
    if not lines:
        return f"{path} has nothing new."
    return f"the end of {path}:\n" + "\n".join(f"  {line}" for line in lines)
