from __future__ import annotations

import json
from pathlib import Path

from dhg.logs import describe_tail, readable, tail


def test_json_log_lines_read_as_level_message_and_exception() -> None:
    line = json.dumps({"level": "error", "msg": "startup failed", "exc": "Traceback...\nOSError: boom"})
    assert readable(line) == "error: startup failed — OSError: boom"
    assert readable("plain text") == "plain text"


def test_tail_shows_only_what_was_written_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write("\n".join(f"line {n}" for n in range(30)) + "\n")
    lines = tail(log, offset=offset, lines=3)
    assert lines == ["line 27", "line 28", "line 29"]
    assert "old run" not in describe_tail(log, offset=offset)
    assert "nothing new" in describe_tail(tmp_path / "missing.log")
