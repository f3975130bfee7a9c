"""The Registry under a bounded stream of writes while PostgreSQL is restarted and then killed (SIGKILL, as a
crash) mid-stream (issue 17, faults): every request is accounted for. Each one accepted (2xx) is stored; each
one refused is a 503 with Retry-After and is not stored; no other 5xx, no dropped connection; the Registry
recovers by itself after each fault.

The stream mixes the four kinds of write: transcript pushes (the hot path), job creations, job updates and
asset uploads, each with its own key so that what is stored can be matched to what was sent."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from dhg.postgres import EmbeddedPostgres
from tests.registry.integration.media import sine_wav

CLIENTS = 3
STREAM_SECONDS = 14.0


@dataclass
class Ledger:
    accepted: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    refused: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, key: str, response: httpx.Response | None, error: str = "") -> None:
        with self.lock:
            if response is None:
                self.bad.append(f"{kind} {key}: no answer ({error})")
                self.statuses[0] += 1
                return
            self.statuses[response.status_code] += 1
            if response.status_code < 300:
                self.accepted[kind].add(key)
            elif response.status_code == 503 and int(response.headers.get("retry-after", "0")) > 0:
                self.refused[kind].add(key)
            else:
                self.bad.append(f"{kind} {key}: {response.status_code} {response.text[:200]}")


KINDS = ("push", "job", "update", "upload")


def client_loop(
    url: str, token: str, ledger: Ledger, stop: threading.Event, index: int, fresh_connections: bool = False
) -> None:
    """Writes until `stop`; `fresh_connections`: a connection per request (so that a load balancer in front of
    several servers spreads them)."""
    headers = {"Authorization": f"Bearer {token}"} | ({"Connection": "close"} if fresh_connections else {})
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        count, jobs = 0, []
        while not stop.is_set():
            count += 1
            kind = KINDS[count % len(KINDS)]
            key = str(uuid.uuid4())
            try:
                if kind == "push":
                    body = {"job_id": key, "segments": [{"start": 0, "end": 1, "text": f"client {index} #{count}"}]}
                    response = client.post("/v1/transcripts", json=body)
                elif kind == "job":
                    response = client.post("/v1/jobs", json={"id": key, "source": {"path": f"/data/{key}.wav"}})
                    if response.status_code < 300:
                        jobs.append(key)
                elif kind == "update" and jobs:
                    key = jobs.pop(0)
                    response = client.patch(f"/v1/jobs/{key}", json={"phase": "Running", "attempts": 1})
                elif kind == "upload":
                    data = sine_wav(0.05, frequency=200 + (hash(key) % 2000))
                    key = hashlib.sha256(data).hexdigest()
                    response = client.post("/v1/assets", files={"file": (f"{key[:8]}.wav", data, "audio/wav")})
                else:
                    continue
            except httpx.HTTPError as error:
                ledger.note(kind, key, None, repr(error))
                continue
            ledger.note(kind, key, response)


def crash(postgres: EmbeddedPostgres) -> None:
    """SIGKILL the postmaster (a crash: no shutdown), wait for its backends to notice, then start it again."""
    pid = int((postgres.data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while postgres.pg_ctl("status").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # its backends exit once they see the postmaster gone
    postgres.start()


def test_a_stream_of_writes_through_a_restart_and_a_crash_loses_nothing_and_stores_no_refusal(
    registry_on_own_postgres,
) -> None:
    postgres, server = registry_on_own_postgres
    ledger, stop = Ledger(), threading.Event()
    threads = [
        threading.Thread(target=client_loop, args=(server.url, server.admin_token, ledger, stop, i), daemon=True)
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)
    began = time.monotonic()
    postgres.stop()  # a clean restart: fast shutdown (clients disconnected), then start
    postgres.start()
    print(f"restart took {time.monotonic() - began:.1f} s")
    time.sleep(4)
    crash(postgres)
    time.sleep(STREAM_SECONDS - 7)
    stop.set()
    for thread in threads:
        thread.join(60)
    total = sum(ledger.statuses.values())
    print(f"fault stream: {total} requests, statuses {dict(sorted(ledger.statuses.items()))}")
    assert not ledger.bad, ledger.bad[:10]
    assert total >= 200 and ledger.statuses[503] >= 1  # the faults were felt, and answered as promised

    with server.client(server.admin_token) as admin:
        stored = check_stored(admin, ledger)
    assert stored["push"] == ledger.accepted["push"] and stored["upload"] == ledger.accepted["upload"]  # only those


def check_stored(admin: httpx.Client, ledger: Ledger) -> dict[str, set[str]]:
    """What the Registry holds of each kind of write (keys), once every accepted write is found there and no
    refused one is; returns it."""
    transcripts = {item["job_id"] for item in every(admin, "/v1/transcripts")}
    jobs = {item["id"]: item for item in every(admin, "/v1/jobs")}
    assets = {item["sha256"] for item in every(admin, "/v1/assets")}
    updated = {key for key, job in jobs.items() if (job["phase"], job["attempts"]) == ("Running", 1)}
    stored = {"push": transcripts, "job": set(jobs), "update": updated, "upload": assets}
    for kind in KINDS:
        lost = ledger.accepted[kind] - stored[kind]
        assert not lost, f"{len(lost)} accepted {kind} requests are not stored: {sorted(lost)[:5]}"
        kept = (ledger.refused[kind] - ledger.accepted[kind]) & stored[kind]
        assert not kept, f"{len(kept)} {kind} requests refused with 503 are stored: {sorted(kept)[:5]}"
    return stored


def every(admin: httpx.Client, path: str) -> list[dict]:
    items: list[dict] = []
    while True:
        page = admin.get(path, params={"limit": 500, "offset": len(items)}).json()
        items += page["items"]
        if len(items) >= page["total"] or not page["items"]:
            return items
