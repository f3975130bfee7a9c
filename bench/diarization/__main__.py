"""Speaker diarization on the evaluation set (asr/diarization/evaluation.py): accuracy, and what it adds to the time of
a transcription, both measured in this run on this machine.

For every conversation (2-4 speakers, 1-5 minutes; real people and synthetic voices apart), alternately:
  - baseline: the transcription alone, as the service runs it (`asr.transcribe.run`, tiny.en, beam 5, VAD, CPU);
  - subject: the same with speakers, as the service runs it for diarized_json (word timestamps on, the ge2e
    diarizer fed chunk by chunk, speakers put on segments and words).
Prints per conversation and per pool: the diarization error rate (pyannote.metrics, a ±0.25 s collar, overlaps
scored) of the diarizer's turns and of the labelled segments users get, whether the number of speakers is right,
and the time ratio subject ÷ baseline. Targets: DER ≤ 15%, the count right on ≥ 80% of conversations, ≤ 25% added
time. Results in bench/results/diarization.json, and each conversation's reference RTTM (written by the generator)
with both hypotheses' in bench/results/diarization/; exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asr import diarization, transcribe
from asr.diarization import DiarizationOptions, DiarizationSession, Turn
from asr.diarization.evaluation import (
    PLAN,
    Conversation,
    diarization_error_rate,
    evaluation_set,
    missing_tools,
    rttm,
    wav,
)
from asr.engines.base import Options as EngineOptions
from asr.models import ModelManager
from asr.settings import Settings

RESULTS = Path(__file__).resolve().parents[1] / "results" / "diarization.json"
RTTM_DIR = RESULTS.with_suffix("")  # bench/results/diarization/<conversation>.{reference,turns,segments}.rttm
MAX_DER = 0.15
MIN_COUNT_RIGHT = 0.80
MAX_ADDED_TIME = 0.25
SETTLE_SECONDS = 1.0
HELD_OUT_SEED = 41  # a draw of the evaluation set that tuning never saw


@dataclass
class Recording:
    """A session that keeps the diarizer's own turns (to score them as well as the labelled segments)."""

    inner: DiarizationSession
    turns: list[Turn] = field(default_factory=list)

    def add(self, offset: float, audio: Any) -> None:
        self.inner.add(offset, audio)

    def finish(self) -> list[Turn]:
        self.turns = self.inner.finish()
        return self.turns


def measure(conversation: Conversation, engine: Any, diarizer: diarization.Diarizer, folder: Path) -> dict[str, Any]:
    path = folder / f"{conversation.name}.wav"
    path.write_bytes(wav(conversation.audio))
    settings = Settings()
    options = EngineOptions(beam_size=settings.beam_size)

    def run(session: DiarizationSession | None, engine_options: EngineOptions) -> tuple[float, transcribe.Result]:
        time.sleep(SETTLE_SECONDS)
        started = time.perf_counter()
        result = transcribe.run(
            engine,
            path,
            engine_options,
            chunk_seconds=settings.chunk_seconds,
            max_seconds=settings.max_audio_seconds,
            diarization=session,
        )
        return time.perf_counter() - started, result

    baseline_seconds, _ = run(None, options)
    recording = Recording(diarizer.session(DiarizationOptions()))
    subject_seconds, result = run(recording, replace(options, word_timestamps=True))
    turns = [(t.start, t.end, t.speaker) for t in recording.turns]
    segments = [(s.start, s.end, s.speaker or "?") for s in result.segments]
    RTTM_DIR.mkdir(parents=True, exist_ok=True)  # the reference and both hypotheses, for md-eval or pyannote
    (RTTM_DIR / f"{conversation.name}.reference.rttm").write_text(conversation.rttm())
    (RTTM_DIR / f"{conversation.name}.turns.rttm").write_text(rttm(conversation.name, turns))
    (RTTM_DIR / f"{conversation.name}.segments.rttm").write_text(rttm(conversation.name, segments))
    found = len({speaker for _, _, speaker in turns})
    return {
        "name": conversation.name,
        "real": conversation.real,
        "seconds": round(conversation.duration, 1),
        "speakers": len(conversation.speakers),
        "found": found,
        "turns": diarization_error_rate(conversation.turns, turns),
        "segments": diarization_error_rate(conversation.turns, segments),
        "baseline_seconds": round(baseline_seconds, 3),
        "subject_seconds": round(subject_seconds, 3),
        "diarization_seconds": result.timings.get("diarization_seconds", 0.0),
    }


def pooled(rows: list[dict[str, Any]], key: str) -> float:
    """The pool's DER: all errors over all reference speech (not a mean of rates)."""
    errors = sum(row[key]["missed"] + row[key]["false_alarm"] + row[key]["confusion"] for row in rows)
    return errors / max(sum(row[key]["total"] for row in rows), 1e-9)


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "der": round(pooled(rows, "turns"), 4),
        "der_segments": round(pooled(rows, "segments"), 4),
        "count_right": round(sum(row["found"] == row["speakers"] for row in rows) / len(rows), 3),
        "added_time": round(sum(r["subject_seconds"] for r in rows) / sum(r["baseline_seconds"] for r in rows) - 1, 4),
        "audio_minutes": round(sum(row["seconds"] for row in rows) / 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diarization", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the first two conversations of each pool")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="which draw of the set (tuning used 7, 11, 23)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if missing := missing_tools():
        print(f"missing: {', '.join(missing)} (make system-packages installs them)", file=sys.stderr)
        return 2
    plan = PLAN[:2] if args.quick else PLAN
    engine = ModelManager(Settings(device="cpu")).get(None)
    diarizer = diarization.load("ge2e")
    rows: list[dict[str, Any]] = []
    print(
        f"{'conversation':<22} {'min':>5} {'spk':>4} {'found':>5} {'DER':>6} {'DER seg':>7} {'base s':>7} "
        f"{'+spk s':>7} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="dhg-bench-diarization-") as folder:
        for conversation in evaluation_set(plan, seed=args.seed):
            row = measure(conversation, engine, diarizer, Path(folder))
            rows.append(row)
            print(
                f"{row['name']:<22} {row['seconds'] / 60:5.1f} {row['speakers']:4d} {row['found']:5d} "
                f"{row['turns']['der']:6.1%} {row['segments']['der']:7.1%} {row['baseline_seconds']:7.1f} "
                f"{row['subject_seconds']:7.1f} {row['subject_seconds'] / row['baseline_seconds']:6.2f}",
                flush=True,
            )
    pools = {kind: summary([r for r in rows if r["real"] == (kind == "real")]) for kind in ("real", "synthetic")}
    everything = summary(rows)
    print()
    for kind, figures in pools.items():
        print(
            f"{kind:<10} {figures['audio_minutes']:5.1f} min: DER {figures['der']:.1%} (segments "
            f"{figures['der_segments']:.1%}), speaker count right {figures['count_right']:.0%}, "
            f"time added {figures['added_time']:+.1%}"
        )
    missed = [
        f"{kind} {name}"
        for kind, figures in pools.items()
        for name, bad in (("DER", figures["der"] > MAX_DER), ("count", figures["count_right"] < MIN_COUNT_RIGHT))
        if bad
    ]
    if everything["added_time"] > MAX_ADDED_TIME:
        missed.append("time added")
    print(
        f"targets: DER ≤ {MAX_DER:.0%}, count right ≥ {MIN_COUNT_RIGHT:.0%}, time added ≤ {MAX_ADDED_TIME:.0%} "
        f"(all: {everything['added_time']:+.1%}): " + ("met" if not missed else "missed: " + ", ".join(missed))
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "pools": pools, "all": everything}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
