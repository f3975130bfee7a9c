"""A retrying loop's failures: one line when a kind starts, a count while it goes on, one line when it ends."""

from __future__ import annotations

import logging

import pytest

from dhg_core.failures import RepeatedFailures, failure_kind


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def failures(clock: Clock) -> RepeatedFailures:
    return RepeatedFailures("the loop", logging.getLogger("tests.failures"), report_every=60, clock=clock)


def test_a_hundred_failures_of_one_kind_are_a_line_then_a_count_a_minute(
    failures: RepeatedFailures, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tests.failures")
    for second in range(100):  # one failure a second for 100 s
        clock.now = float(second)
        failures.failed(ConnectionRefusedError(111, "Connection refused"))
    lines = [record for record in caplog.records if record.name == "tests.failures"]
    assert len(lines) == 2, [r.getMessage() for r in lines]
    first, repeat = lines
    assert first.getMessage() == "the loop failed (ConnectionRefusedError: [Errno 111] Connection refused); retrying"
    assert first.exc_info is not None  # the traceback once, for the bug it may be
    assert "60 more times in the last 60 s, 61 since it last worked" in repeat.getMessage()
    assert repeat.exc_info is None and repeat.failures == 61  # type: ignore[attr-defined]


def test_each_kind_gets_its_own_line_and_recovery_says_how_many(
    failures: RepeatedFailures, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tests.failures")
    failures.failed(ConnectionRefusedError("refused"))
    failures.failed(TimeoutError("timed out"))
    failures.failed(TimeoutError("timed out"))
    failures.succeeded()
    failures.succeeded()  # nothing more to say
    messages = [r.getMessage() for r in caplog.records if r.name == "tests.failures"]
    assert len(messages) == 3, messages
    assert messages[2] == "the loop works again after 3 failures (ConnectionRefusedError x1, TimeoutError x2)"


def test_a_kind_that_comes_back_after_recovery_is_said_again_without_its_traceback(
    failures: RepeatedFailures, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tests.failures")
    failures.failed(TimeoutError("timed out"))
    failures.succeeded()
    failures.failed(TimeoutError("timed out"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and warnings[0].exc_info is not None and warnings[1].exc_info is None


def test_the_kind_names_the_exception_type_with_its_module() -> None:
    class OperationalError(Exception):
        pass

    assert failure_kind(KeyError("x")) == "KeyError"
    assert failure_kind(OperationalError()).endswith(
        "test_failures.test_the_kind_names_the_exception_type_with_its_module.<locals>.OperationalError"
    )
