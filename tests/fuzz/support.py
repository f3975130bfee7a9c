"""Fuzzing an OpenAPI document with schemathesis' strategies, driven here by Hypothesis directly (schemathesis'
pytest plugin does not run under pytest 9): every operation, positive and negative data, bounded examples."""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 40  # per operation and mode


@dataclass
class Fuzzed:
    failures: list[str] = field(default_factory=list)  # the first per operation and mode, as text
    statuses: Counter[int] = field(default_factory=Counter)  # every answer's status

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def fuzz(document_url: str, headers: dict[str, str], *, examples: int = EXAMPLES) -> Fuzzed:
    """Every operation, positive and negative data (where there is any to negate), checked answer by answer."""
    schema = schemathesis.openapi.from_url(document_url)
    fuzzed = Fuzzed()
    failures = fuzzed.failures
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"no operations in {document_url}"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                      database=None)  # fmt: skip
            def run(case: schemathesis.Case) -> None:
                try:
                    response = case.call(headers=headers, timeout=30)
                except Exception:
                    fuzzed.statuses[0] += 1  # no answer at all
                    raise
                fuzzed.statuses[response.status_code] += 1
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:  # nothing to negate (no parameters, no body): positive data covered it
                assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no request could be generated"
            except (Exception, BaseExceptionGroup) as error:  # one operation's failure must not hide the others'
                text = "".join(traceback.format_exception_only(type(error), error))
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}):\n{text[:3000]}")
    return fuzzed


@dataclass
class Walked:
    links: int  # transitions between operations (the document's links and those inferred from it)
    statuses: Counter[int]


def fuzz_stateful(document_url: str, headers: dict[str, str], *, examples: int = 15, steps: int = 12) -> Walked:
    """Sequences of calls that feed one answer's ids into the next call (create, then read, change, delete what
    was created), as schemathesis infers them from the document; every answer checked as in `fuzz`. Raises the
    first failure found."""
    schema = schemathesis.openapi.from_url(document_url)
    inference = schema.apply_stateful_inference(None)
    statuses: Counter[int] = Counter()
    machine = schema.as_state_machine()

    class Walk(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers, "timeout": 30}

        def validate_response(self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any) -> None:
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

    run_state_machine_as_test(
        Walk,
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                          suppress_health_check=list(HealthCheck), database=None),
    )  # fmt: skip
    return Walked(inference.selected, statuses)
