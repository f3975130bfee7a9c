from __future__ import annotations

import json
import uuid
from pathlib import Path

from dhg.asr_client import Segment, Transcription
from dhg.commands.transcribe import OutputFormat, output_path


def test_each_format_writes_stem_dot_extension() -> None:
    source = Path("/audio/talk.final.wav")
    names = {fmt: output_path(Path("out"), source, fmt).name for fmt in OutputFormat}
    assert names == {
        OutputFormat.text: "talk.final.txt",
        OutputFormat.json: "talk.final.json",
        OutputFormat.srt: "talk.final.srt",
        OutputFormat.vtt: "talk.final.vtt",
        OutputFormat.verbose_json: "talk.final.verbose.json",
        OutputFormat.diarized_json: "talk.final.diarized.json",
    }


def test_a_verbose_json_answer_reads_as_segments() -> None:
    body = {"text": "Hello there.", "segments": [{"start": 0.0, "end": 1.5, "text": " Hello there.", "id": 0}]}
    answer = Transcription(body=json.dumps(body), job_id=uuid.uuid4())
    assert answer.segments() == [Segment(0.0, 1.5, "Hello there.")]
    assert Transcription(body=json.dumps({"text": "x"}), job_id=None).segments() == []
