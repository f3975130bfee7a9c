"""Many callers, one model: the ASR service with cross-request batching against the same service without it, in one
run, on the same audio.

    python -m bench.asr.concurrency            # make bench-asr-concurrency
    python -m bench.asr.concurrency --quick    # 1, 4 and 8 clients, a shorter long file

The same mix at every level (1, 2, 4, 8, 16 clients): one long file, then 8 rounds of the short clips of real speech
(the LibriVox utterances, 3 to 7 s), taken from one queue by that many clients, each sending its next request when
its last is answered. Reported per level: aggregate audio-seconds per second (the mix's audio over the level's wall
time) and the short requests' p50/p95 latency. The services:

- `batched`: DHG_ASR_BATCH_SIZE (8 by default): every waiting request's windows decoded together;
- `batched-trimmed`: the same with DHG_ASR_BATCH_TRIM (a short window encoded from its own audio, not 30 s);
- `per-request`: the same windows, each request's batched only with its own (faster-whisper's batched pipeline, a
  request at a time: DHG_ASR_BATCH_ACROSS_REQUESTS=false, concurrency 1);
- `sequential`: the service as it ran before batching (DHG_ASR_BATCH_SIZE=1: one request at a time, in sequence).

Then greedy transcripts: each short clip sent alone to `batched` and to `per-request`, and all of them at once to
`batched` (they must be the same words), and the word error rate at beam 5 of the sets of bench/asr on both.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from asr import audio
from asr.engines.base import SAMPLE_RATE
from asr.evaluation import LIBRIVOX_DIR, librivox_set, set_word_error_rate
from bench.asr.run import MODEL, Service, sequence, speech_unit, write_wav

LEVELS = (1, 2, 4, 8, 16)
SERVICES = ("batched", "batched-trimmed", "per-request", "sequential")


@dataclass
class Options:
    levels: tuple[int, ...] = LEVELS
    batch_size: int = 8
    batch_wait_ms: float = 10.0
    long_minutes: float = 3.0
    rounds: int = 8  # of the short clips, in the mix
    beam_size: int = 5


@dataclass
class Level:
    clients: int
    audio_seconds: float
    wall_seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.audio_seconds / self.wall_seconds

    def latency(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def environment(name: str, options: Options) -> dict[str, str]:
    common = {"DHG_ASR_BEAM_SIZE": str(options.beam_size), "DHG_ASR_QUEUE_SIZE": "64"}
    if name == "sequential":
        return {**common, "DHG_ASR_BATCH_SIZE": "1", "DHG_ASR_CONCURRENCY": "1"}
    batching = {"DHG_ASR_BATCH_SIZE": str(options.batch_size), "DHG_ASR_BATCH_WAIT_MS": str(options.batch_wait_ms)}
    if name == "per-request":
        return {**common, **batching, "DHG_ASR_BATCH_ACROSS_REQUESTS": "false", "DHG_ASR_CONCURRENCY": "1"}
    if name == "batched-trimmed":
        return {**common, **batching, "DHG_ASR_BATCH_TRIM": "true"}
    return {**common, **batching}


def post(url: str, path: Path, **fields: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = httpx.post(
            f"{url}/v1/audio/transcriptions",
            files={"file": (path.name, handle, "audio/wav")},
            data={"model": MODEL, "response_format": "json", **fields},
            timeout=3600,
        )
    response.raise_for_status()
    return dict(response.json())


def level(url: str, clients: int, work: list[tuple[Path, float]]) -> Level:
    """The fixed mix `work` (the long file first, then the short clips) taken by `clients` callers from one queue,
    each sending its next request when its last one is answered."""
    queue = list(reversed(work))
    start = threading.Barrier(clients)
    latencies: list[float] = []
    lock = threading.Lock()
    longest = max(seconds for _, seconds in work)

    def client() -> None:
        start.wait()
        while True:
            with lock:
                if not queue:
                    return
                path, seconds = queue.pop()
            sent = time.perf_counter()
            post(url, path)
            if seconds < longest:  # the short requests' latency
                with lock:
                    latencies.append(time.perf_counter() - sent)

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return Level(clients, sum(seconds for _, seconds in work), time.perf_counter() - began, latencies)


def greedy_texts(url: str, clips: list[tuple[Path, float]], *, together: bool) -> list[str]:
    fields = {"temperature": "0", "language": "en"}
    if not together:
        return [post(url, path, **fields)["text"] for path, _ in clips]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(clips)) as pool:
        return list(pool.map(lambda clip: post(url, clip[0], **fields)["text"], clips))


def lone_latency(url: str, clips: list[tuple[Path, float]], repeat: int = 3) -> float:
    """The median time of one short request with nothing else running (each clip, `repeat` times)."""
    times = []
    for _ in range(repeat):
        for path, _ in clips:
            sent = time.perf_counter()
            post(url, path)
            times.append(time.perf_counter() - sent)
    return statistics.median(times)


def wer(url: str) -> float:
    evaluation = librivox_set()
    return set_word_error_rate(evaluation, [post(url, u.path)["text"] for u in evaluation.utterances])


def measure(
    name: str, options: Options, workdir: Path, clips: list[tuple[Path, float]], work: list[tuple[Path, float]]
) -> dict[str, Any]:
    figures: dict[str, Any] = {"levels": {}}
    service = Service(workdir, **environment(name, options))
    try:
        post(service.url, clips[0][0])  # warm-up
        figures["lone_latency"] = lone_latency(service.url, clips)
        for clients in options.levels:
            measured = level(service.url, clients, work)
            figures["levels"][clients] = {
                "throughput": measured.throughput,
                "p50": statistics.median(measured.latencies),
                "p95": measured.latency(0.95),
            }
            print(
                f"{name:<12} {clients:>3} clients: {measured.throughput:6.1f} audio s/s, short requests p50 "
                f"{statistics.median(measured.latencies):5.2f} s, p95 {measured.latency(0.95):5.2f} s",
                flush=True,
            )
        figures["greedy_alone"] = greedy_texts(service.url, clips, together=False)
        figures["greedy_together"] = greedy_texts(service.url, clips, together=True)
        figures["wer_beam"] = wer(service.url)
    finally:
        service.stop()
    return figures


TARGETS = (  # (figure, bound, higher is better, description)
    ("scaling_8", 2.0, True, "batched: aggregate at 8 clients / 1 client"),
    ("over_sequential_8", 1.5, True, "batched / sequential service, 8 clients"),
    ("lone_latency_ratio", 1.10, False, "lone request latency, batched / sequential"),
    ("wer_points", 0.5, False, "WER at beam 5, batched - sequential (points)"),
)


def main(options: Options) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-asr-concurrency-"))
    clips = [(path, len(audio.read(path, max_seconds=60)) / SAMPLE_RATE) for path in sorted(LIBRIVOX_DIR.glob("*.wav"))]
    long_path = workdir / "long.wav"
    long = (long_path, write_wav(long_path, sequence(speech_unit(), options.long_minutes * 60)))
    work = [long, *clips * options.rounds]
    print(
        f"the mix at every level: one long file of {long[1]:.0f} s and {len(clips) * options.rounds} short requests "
        f"({options.rounds} rounds of {len(clips)} clips, {options.rounds * sum(s for _, s in clips):.0f} s)"
    )
    services = {name: measure(name, options, workdir, clips, work) for name in SERVICES}
    batched, sequential, per_request = services["batched"], services["sequential"], services["per-request"]
    level_8 = 8 if 8 in options.levels else max(options.levels)
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "services": services,
        "scaling_8": batched["levels"][level_8]["throughput"] / batched["levels"][min(options.levels)]["throughput"],
        "over_sequential_8": batched["levels"][level_8]["throughput"] / sequential["levels"][level_8]["throughput"],
        "over_per_request_8": batched["levels"][level_8]["throughput"] / per_request["levels"][level_8]["throughput"],
        "lone_latency_ratio": batched["lone_latency"] / sequential["lone_latency"],
        "wer_points": 100 * (batched["wer_beam"] - sequential["wer_beam"]),
        "greedy_identical": batched["greedy_together"] == per_request["greedy_alone"] == batched["greedy_alone"],
        "trimmed_over_sequential_8": services["batched-trimmed"]["levels"][level_8]["throughput"]
        / sequential["levels"][level_8]["throughput"],
        "trimmed_wer_points": 100 * (services["batched-trimmed"]["wer_beam"] - sequential["wer_beam"]),
    }
    print()
    for figure, bound, higher, description in TARGETS:
        value = figures[figure]
        met = value >= bound if higher else value <= bound
        print(f"{description:<48} {'>=' if higher else '<='} {bound:<5g} {value:8.3f}  {'PASS' if met else 'FAIL'}")
    print(f"{'greedy transcripts, together = alone = per-request':<48}          {figures['greedy_identical']!s:>8}")
    return figures


def machine() -> str:
    """This machine in words: cores, CPU, memory, the libraries that decode; the GPU is never used here."""
    import platform

    import ctranslate2
    import faster_whisper

    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (
        f"{os.cpu_count()} cores ({cpu}), {pages / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"faster-whisper {faster_whisper.__version__} / CTranslate2 {ctranslate2.__version__} int8, CPU only"
    )


def markdown(figures: dict[str, Any], options: Options) -> str:
    """The table of bench/results/asr-concurrency.md: each service's aggregate and short-request latency by level."""
    levels = options.levels
    head = "| service | " + " | ".join(f"{n} client{'s' if n > 1 else ''}" for n in levels) + " | lone request |"
    lines = [
        "# ASR concurrency: many callers, one model (`make bench-asr-concurrency`)",
        "",
        f"{figures['date']}, {figures['machine']}.",
        "",
        f"Model {MODEL}, beam {options.beam_size}, batch size {options.batch_size}, wait {options.batch_wait_ms:g} ms. "
        "Each cell: aggregate audio-seconds per second; short requests' p50 / p95 latency in seconds.",
        "",
        head,
        "|---" * (len(levels) + 2) + "|",
    ]
    for name, service in figures["services"].items():
        cells = [
            f"{row['throughput']:.1f} ({row['p50']:.2f} / {row['p95']:.2f})"
            for row in (service["levels"][n] for n in levels)
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {service['lone_latency']:.2f} s |")
    lines += ["", "| target | bound | measured | |", "|---|---|---|---|"]
    for figure, bound, higher, description in TARGETS:
        value = figures[figure]
        met = value >= bound if higher else value <= bound
        lines.append(
            f"| {description} | {'≥' if higher else '≤'} {bound:g} | {value:.3f} | {'met' if met else 'missed'} |"
        )
    lines.append(
        f"| greedy transcripts: in a shared batch = alone = per-request | same | {figures['greedy_identical']} | "
        f"{'met' if figures['greedy_identical'] else 'missed'} |"
    )
    lines.append(
        f"| trimmed: / sequential at 8 clients; WER at beam 5 minus sequential | | "
        f"{figures['trimmed_over_sequential_8']:.2f}x; {figures['trimmed_wer_points']:+.1f} points | |"
    )
    return "\n".join(lines) + "\n"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.asr.concurrency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1, 4 and 8 clients, a 1-minute long file")
    parser.add_argument("--batch-size", type=int, default=Options.batch_size)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the table (bench/results/asr-concurrency.md) here")
    args = parser.parse_args(argv)
    options = Options(batch_size=args.batch_size)
    if args.quick:
        options = Options(levels=(1, 4, 8), long_minutes=1.0, rounds=4, batch_size=args.batch_size)
    figures = main(options)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(figures, options))
    failed = [f for f, bound, higher, _ in TARGETS if not (figures[f] >= bound if higher else figures[f] <= bound)]
    return 1 if failed or not figures["greedy_identical"] else 0


if __name__ == "__main__":
    sys.exit(cli())
