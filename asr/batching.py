"""Cross-request dynamic batching: the windows of every request waiting on one model decoded together.

A `Batcher` sits in front of one loaded model. Each request opens a `Session` and submits its windows (a key, what
must match for windows to share a batch, and a payload); one decoding thread takes them in batches of at most
`max_size`, waiting at most `max_wait` seconds after the oldest window for a batch to fill, and hands each window's
result back through its own future, in the order its session submitted them.

Fairness: a batch is filled round-robin over the sessions that have windows of its key, one window each per turn,
and the key of the next batch is that of the session whose turn it is: a 2-hour file fills the slots that shorter
requests leave free, and never makes a 5-second request wait for more than one batch. A closed session (the client
gone, the job cancelled) loses its waiting windows at once.

Priority: a session opened with a higher priority has its turn before any of a lower one (a live turn's last decode,
which someone waits on as they stop speaking, goes ahead of the re-decodes of turns still being spoken and of files).
Sessions of a raised priority are short by design; among equal priorities the order is round-robin as above.

Nothing here knows Whisper: the engine gives the decode function (asr/engines/windows.py for faster-whisper)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from asr import metrics

P = TypeVar("P")  # a window's payload
R = TypeVar("R")  # a window's result
Decode = Callable[[Hashable, Sequence[P]], Sequence[R]]  # (key, payloads) → one result per payload, in order
IDLE_SECONDS = 5.0  # the decoding thread ends after this long with nothing to do; the next window starts another


@dataclass(eq=False)
class _Window(Generic[P, R]):
    session: Session[P, R]
    key: Hashable
    payload: P
    future: Future[R]
    submitted: float = field(default_factory=time.monotonic)


class Session(Generic[P, R]):
    """One request's windows: submitted in order, answered in order, dropped together when it closes."""

    def __init__(self, batcher: Batcher[P, R], number: int, priority: int = 0) -> None:
        self._batcher = batcher
        self.number = number
        self.priority = priority
        self.pending: deque[_Window[P, R]] = deque()
        self.closed = False

    def submit(self, key: Hashable, payload: P) -> Future[R]:
        """Queue a window; its future holds its result (or the decode's error, or is cancelled on close)."""
        return self._batcher._submit(self, key, payload)

    def close(self) -> None:
        """No more windows: those still waiting are cancelled and never decoded."""
        self._batcher._close(self)

    def __enter__(self) -> Session[P, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Batcher(Generic[P, R]):
    """The windows of all sessions, decoded `max_size` at a time by one thread (see the module's docstring)."""

    def __init__(
        self,
        decode: Decode[P, R],
        *,
        max_size: int,
        max_wait: float,
        model: str = "",
        device: str = "",
        across_sessions: bool = True,
    ) -> None:
        if max_size < 1:
            raise ValueError("a batch holds at least one window")
        self._decode = decode
        self.max_size = max_size
        self.max_wait = max_wait
        self.across_sessions = across_sessions  # off: a batch holds one session's windows only (the baseline)
        self._labels = (model, device)
        self._sessions: list[Session[P, R]] = []  # in turn order; the next turn is the first
        self._numbers = itertools.count(1)
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batches = 0  # decoded so far (tests and the benchmark read it)

    def session(self, priority: int = 0) -> Session[P, R]:
        return Session(self, next(self._numbers), priority)

    def waiting(self) -> int:
        with self._lock:
            return sum(len(session.pending) for session in self._sessions)

    def _submit(self, session: Session[P, R], key: Hashable, payload: P) -> Future[R]:
        future: Future[R] = Future()
        with self._lock:
            if session.closed:
                future.cancel()
                return future
            if not session.pending:
                self._sessions.append(session)
            grouped = key if self.across_sessions else (session.number, key)
            session.pending.append(_Window(session, grouped, payload, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"batcher-{self._labels[0]}", daemon=True)
                self._thread.start()
            self._lock.notify_all()
        return future

    def _close(self, session: Session[P, R]) -> None:
        with self._lock:
            session.closed = True
            for window in session.pending:
                window.future.cancel()
            session.pending.clear()
            if session in self._sessions:
                self._sessions.remove(session)
            self._lock.notify_all()

    def _ready(self, now: float) -> tuple[bool, float]:
        """Whether a batch should start now, and otherwise how long to wait at most (lock held)."""
        key = self._order()[0].pending[0].key
        same = sum(1 for session in self._sessions for window in session.pending if window.key == key)
        oldest = min(session.pending[0].submitted for session in self._sessions)
        left = oldest + self.max_wait - now
        return same >= self.max_size or left <= 0, left

    def _order(self) -> list[Session[P, R]]:
        """The sessions in the order they are served: highest priority first, turn order within one (lock held);
        the first is the session whose turn it is."""
        return sorted(self._sessions, key=lambda session: -session.priority)  # stable

    def _take(self) -> list[_Window[P, R]]:
        """The next batch: the key of the session whose turn it is, round-robin over the sessions with windows of
        that key (those of the highest priority first), each session's windows in their order (lock held)."""
        order = self._order()
        key = order[0].pending[0].key
        batch: list[_Window[P, R]] = []
        while len(batch) < self.max_size:
            took = False
            for session in order:
                if session.pending and session.pending[0].key == key and len(batch) < self.max_size:
                    batch.append(session.pending.popleft())
                    took = True
            if not took:
                break
        served = {id(window.session) for window in batch}
        # The sessions just served go to the back of the turn order; the empty ones leave it.
        self._sessions = [s for s in self._sessions if id(s) not in served and s.pending] + [
            s for s in self._sessions if id(s) in served and s.pending
        ]
        return batch

    def _run(self) -> None:
        while True:
            with self._lock:
                idle_since = time.monotonic()
                while True:
                    now = time.monotonic()
                    if not self._sessions:
                        if now - idle_since >= IDLE_SECONDS:
                            self._thread = None
                            return
                        self._lock.wait(IDLE_SECONDS)
                        continue
                    ready, left = self._ready(now)
                    if ready:
                        break
                    self._lock.wait(left)
                batch = [window for window in self._take() if window.future.set_running_or_notify_cancel()]
            if batch:
                self._decode_batch(batch)

    def _decode_batch(self, batch: list[_Window[P, R]]) -> None:
        started = time.monotonic()
        for window in batch:
            metrics.BATCH_WAIT.labels(*self._labels).observe(started - window.submitted)
        metrics.BATCH_SIZE.labels(*self._labels).observe(len(batch))
        try:
            results = self._decode(batch[0].key, [window.payload for window in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} windows was decoded into {len(results)} results")
        except BaseException as error:  # every waiter gets the error; the thread goes on with the next batch
            self._decoded(started)
            for window in batch:
                window.future.set_exception(error)
        else:
            self._decoded(started)
            for window, result in zip(batch, results, strict=True):
                window.future.set_result(result)

    def _decoded(self, started: float) -> None:
        self.batches += 1
        metrics.BATCH_SECONDS.labels(*self._labels).observe(time.monotonic() - started)
