"""`dhg up`'s supervisor: the restart policy (pure) and the loop that carries it out, on parts that die."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dhg.errors import StackError
from dhg.supervisor import RestartPolicy, Supervisor

POLICY = RestartPolicy(limit=3, window_seconds=600, first_delay_seconds=1, max_delay_seconds=3)


def test_the_pause_doubles_with_each_recent_restart_up_to_its_cap() -> None:
    assert POLICY.delay([], now=1000) == 1
    assert POLICY.delay([990], now=1000) == 2
    assert POLICY.delay([980, 990], now=1000) == 3  # 4, capped
    assert POLICY.delay([970, 980, 990], now=1000) is None  # the limit within the window: give up


def test_restarts_older_than_the_window_are_forgotten() -> None:
    assert POLICY.delay([0, 10, 20], now=1000) == 1


@dataclass
class FakePart:
    name: str
    deaths: int = 0  # how many times it is found dead
    failing_starts: int = 0  # restarts that fail before one works
    log_path: Path = Path("/var/log/fake.log")
    started: int = field(default=0)

    def ended(self) -> str | None:
        if self.deaths:
            self.deaths -= 1
            return "was killed by SIGKILL"
        return None

    def restart(self) -> None:
        self.started += 1
        if self.failing_starts:
            self.failing_starts -= 1
            raise StackError("port 8000 on 127.0.0.1 is already in use\nmore detail")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def supervisor(*parts: FakePart, clock: Clock, lines: list[str]) -> Supervisor:
    return Supervisor(list(parts), lines.append, POLICY, clock=clock, sleep=clock.sleep)


def test_a_dead_part_is_said_in_one_line_restarted_and_said_back() -> None:
    clock, lines = Clock(), []
    registry, asr = FakePart("the Registry", deaths=1), FakePart("the ASR service")
    assert supervisor(registry, asr, clock=clock, lines=lines).check() == 1
    assert registry.started == 1 and asr.started == 0 and clock.slept == [1]
    assert lines == [
        "the Registry was killed by SIGKILL; restarting it in 1 s (restart 1 of at most 3); its log: /var/log/fake.log",
        "the Registry is running again",
    ]


def test_the_new_process_is_recorded_before_the_restart_is_said() -> None:
    clock, lines, recorded = Clock(), [], []
    part = FakePart("the Registry", deaths=1)
    watcher = Supervisor([part], lines.append, POLICY, clock=clock, sleep=clock.sleep,
                         restarted=lambda restarted: recorded.append((restarted.name, len(lines))))  # fmt: skip
    watcher.check()
    assert recorded == [("the Registry", 1)] and lines[1] == "the Registry is running again"


def test_a_restart_that_fails_is_retried_with_a_longer_pause() -> None:
    clock, lines = Clock(), []
    part = FakePart("the Registry", deaths=1, failing_starts=1)
    supervisor(part, clock=clock, lines=lines).check()
    assert part.started == 2 and clock.slept == [1, 2]
    assert "did not start again (port 8000 on 127.0.0.1 is already in use)" in lines[1]
    assert lines[-1] == "the Registry is running again"


def test_a_part_that_keeps_dying_is_given_up_on_naming_its_log() -> None:
    clock, lines = Clock(), []
    part = FakePart("Postgres", deaths=10)
    watcher = supervisor(part, clock=clock, lines=lines)
    for _ in range(3):
        watcher.check()
    with pytest.raises(StackError) as raised:
        watcher.check()
    assert str(raised.value) == (
        "Postgres was killed by SIGKILL, after 3 restarts within 10 minutes; giving up. Read its log: /var/log/fake.log"
    )
    assert part.started == 3


def test_deaths_far_apart_never_exhaust_the_limit() -> None:
    clock, lines = Clock(), []
    part = FakePart("the ASR service", deaths=10)
    watcher = supervisor(part, clock=clock, lines=lines)
    for _ in range(10):
        watcher.check()
        clock.now += 3600
    assert part.started == 10 and set(clock.slept) == {1}
