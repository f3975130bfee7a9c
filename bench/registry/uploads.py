"""`python -m bench.registry.uploads`: many large uploads at once to a Registry that keeps its media in S3 (a real
SeaweedFS on loopback), and small requests that need the database meanwhile.

Prints, next to each other from the same run: the small requests' p50/p99 alone and during the uploads, the
database connections held inside a transaction while the bytes move (sampled every 20 ms from pg_stat_activity:
an upload that kept its transaction open while storing its bytes shows as `idle in transaction`), the pool's
size, and the uploads' throughput. The uploads are `curl` processes (no client GIL in the way); each file is a
distinct WAV of noise (the Registry probes every upload as media)."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from bench.registry.processes import RegistryProcess, start_postgres
from bench.registry.s3 import start_s3_server
from registry import migrate
from registry.pg import conninfo

SAMPLE_SECONDS = 0.02
CURL = ("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}")
POOL_SIZE, POOL_OVERFLOW = 10, 10  # the Registry's defaults, named so the report can say them
IN_TRANSACTION = """
SELECT count(*) FILTER (WHERE state = 'idle in transaction'), count(*) FILTER (WHERE xact_start IS NOT NULL)
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@dataclass
class Options:
    uploads: int = 32
    megabytes: int = 100
    rate: float = 20.0
    alone_seconds: float = 10.0
    json: Path | None = None


@dataclass
class Small:
    """Small requests (a page of assets: one query) on a fixed schedule until stopped."""

    url: str
    token: str
    rate: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def run(self, stop: threading.Event) -> None:
        with (
            httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60) as client,
            ThreadPoolExecutor(16) as pool,
        ):
            started, sent = time.monotonic(), 0
            while not stop.is_set():
                time.sleep(max(0.0, started + sent / self.rate - time.monotonic()))
                pool.submit(self._one, client)
                sent += 1

    def _one(self, client: httpx.Client) -> None:
        began = time.perf_counter()
        try:
            ok = client.get("/v1/assets", params={"limit": 1}).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            self.latencies.append((time.perf_counter() - began) * 1000)
        else:
            self.errors += 1

    def figures(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [float("nan")]
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        }


def sample_transactions(database_url: str, stop: threading.Event, into: list[tuple[int, int]]) -> None:
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        while not stop.is_set():
            row = connection.execute(IN_TRANSACTION).fetchone()
            assert row is not None
            into.append((int(row[0]), int(row[1])))
            time.sleep(SAMPLE_SECONDS)


def noise_wav(path: Path, megabytes: int, seed: int) -> None:
    """`megabytes` of 16 kHz 16-bit mono noise as a WAV (distinct per seed)."""
    frames = megabytes * 1024 * 1024 // 2
    rng = np.random.default_rng(seed)
    with path.open("wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt ")
        handle.write(struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", 2 * frames))
        for start in range(0, frames, 1 << 20):
            handle.write(rng.integers(-3000, 3000, min(1 << 20, frames - start), dtype="<i2").tobytes())


def phase(server: RegistryProcess, database_url: str, rate: float, work: Any) -> tuple[Small, list[tuple[int, int]]]:
    """Small requests and the transaction sampler while `work()` runs."""
    small, samples, stop = Small(server.url, server.admin_token, rate), [], threading.Event()
    threads = [
        threading.Thread(target=small.run, args=(stop,)),
        threading.Thread(target=sample_transactions, args=(database_url, stop, samples)),
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return small, samples


def upload_all(server: RegistryProcess, files: list[Path]) -> list[str]:
    """Every file at once, each by its own curl; their HTTP statuses."""
    url = f"{server.url}/v1/assets"
    processes = [
        subprocess.Popen(
            [*CURL, "-H", f"Authorization: Bearer {server.admin_token}", "-F", f"file=@{path};type=audio/wav", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for path in files
    ]
    return [process.communicate()[0] for process in processes]


def run(options: Options) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    postgres = start_postgres(root / "postgres")
    s3 = start_s3_server(root / "s3")
    server: RegistryProcess | None = None
    try:
        database_url = postgres.url
        migrate.upgrade(database_url)
        settings = s3.registry_settings(s3.create_bucket("media"))
        env = {f"DHG_REGISTRY_{key.upper()}": str(value) for key, value in settings.items()}
        env |= {"DHG_REGISTRY_DB_POOL_SIZE": str(POOL_SIZE), "DHG_REGISTRY_DB_MAX_OVERFLOW": str(POOL_OVERFLOW)}
        server = RegistryProcess(database_url, root / "unused-media", root / "registry.log", extra_env=env).start()
        print(f"writing {options.uploads} files of {options.megabytes} MB", flush=True)
        files = [root / f"upload-{index}.wav" for index in range(options.uploads)]
        for index, path in enumerate(files):
            noise_wav(path, options.megabytes, seed=index)
        print(f"small requests alone for {options.alone_seconds:g} s", flush=True)
        alone, alone_samples = phase(server, database_url, options.rate, lambda: time.sleep(options.alone_seconds))
        statuses: list[str] = []
        print(f"{options.uploads} uploads at once, small requests meanwhile", flush=True)
        began = time.perf_counter()
        during, samples = phase(server, database_url, options.rate, lambda: statuses.extend(upload_all(server, files)))
        seconds = time.perf_counter() - began
    finally:
        if server is not None:
            server.stop()
        s3.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    idle = [held for held, _ in samples] or [0]
    open_ = [count for _, count in samples] or [0]
    return {
        "options": {**vars(options), "json": str(options.json) if options.json else None},
        "pool": {"size": POOL_SIZE, "max_overflow": POOL_OVERFLOW},
        "uploads": {
            "created": statuses.count("201"),
            "statuses": sorted(set(statuses)),
            "seconds": round(seconds, 1),
            "megabytes_per_second": round(options.uploads * options.megabytes / seconds, 1),
        },
        "small_alone": alone.figures(),
        "small_during_uploads": during.figures(),
        "transactions_alone": {"max_open": max(c for _, c in alone_samples or [(0, 0)])},
        "transactions_during_uploads": {
            "samples": len(samples),
            "max_idle_in_transaction": max(idle),
            "mean_idle_in_transaction": round(statistics.fmean(idle), 3),
            "max_open": max(open_),
            "mean_open": round(statistics.fmean(open_), 3),
        },
    }


def table(result: dict[str, Any]) -> str:
    alone, during = result["small_alone"], result["small_during_uploads"]
    held, uploads = result["transactions_during_uploads"], result["uploads"]
    options = result["options"]
    return "\n".join(
        [
            f"{options['uploads']} uploads of {options['megabytes']} MB at once to SeaweedFS: {uploads['created']} "
            f"created in {uploads['seconds']} s ({uploads['megabytes_per_second']} MB/s), "
            f"statuses {uploads['statuses']}",
            "| small requests (GET /v1/assets) | requests | errors | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {name} | {row['requests']} | {row['errors']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} |"
                for name, row in [("alone", alone), ("during the uploads", during)]
            ),
            f"database connections in a transaction during the uploads (pool {result['pool']['size']} + "
            f"{result['pool']['max_overflow']} overflow, {held['samples']} samples every "
            f"{SAMPLE_SECONDS * 1000:g} ms): "
            f"max {held['max_open']} (mean {held['mean_open']}); idle in transaction max "
            f"{held['max_idle_in_transaction']} (mean {held['mean_idle_in_transaction']}); "
            f"alone: max {result['transactions_alone']['max_open']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.registry.uploads", description=__doc__)
    parser.add_argument("--uploads", type=int, default=defaults.uploads, help="uploads at once")
    parser.add_argument("--megabytes", type=int, default=defaults.megabytes, help="size of each upload")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="small requests per second")
    parser.add_argument("--alone-seconds", type=float, default=defaults.alone_seconds)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    options = Options(args.uploads, args.megabytes, args.rate, args.alone_seconds, args.json)
    result = run(options)
    print(table(result))
    if options.json:
        options.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
