"""Both OpenAPI documents are true: schemathesis' own command line with `--checks all` (every check it has: 5xx, status
codes, content types, headers and bodies as documented, schema-valid requests accepted and schema-violating ones
refused, missing auth, undeclared methods answered 405 with `Allow`, deleted resources gone, ...) over every phase
(examples, coverage, fuzzing, stateful), against the real Registry (embeddings on) and the real ASR service (the
bundled model loaded). Its exit status is the verdict; the only exceptions are in tests/fuzz/*.schemathesis.toml, one
operation each, with the reason the document cannot say it. The seed is fixed, so a run repeats exactly."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.asr.service import start_asr
from tests.conftest import start_registry

HERE = Path(__file__).parent
SEED = "20261206"
ASR_KEY = "fuzz-all-checks-key"
TIMEOUT_SECONDS = 900


def schemathesis(document: str, token: str, config: Path, examples: int, tmp_path: Path) -> str:
    """Run `schemathesis run` with every check and phase; the output, after asserting it found nothing."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", document,
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--header", f"Authorization: Bearer {token}", "--max-examples", str(examples), "--seed", SEED,
        "--no-color", "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    generated = re.search(r"(\d+) generated", output)  # the count of test cases (a "2440 generated" is not none)
    assert "Tested:" in output and generated is not None and int(generated.group(1)) > 0, output[-5000:]
    return output


@pytest.fixture(scope="module")
def registry_for_all_checks(postgres, tmp_path_factory):
    server = start_registry(
        postgres.create_database(f"allchecks_{uuid.uuid4().hex[:8]}"),
        tmp_path_factory.mktemp("all-checks-media"),
        embeddings="on",
        max_upload_bytes=2_000_000,
    )
    yield server
    server.stop()


def test_the_registry_answers_as_its_document_says_under_every_check(registry_for_all_checks, tmp_path) -> None:
    url = f"{registry_for_all_checks.url}/openapi.json"
    output = schemathesis(url, registry_for_all_checks.admin_token, HERE / "registry.schemathesis.toml", 30, tmp_path)
    print(output[-3000:])


def test_the_asr_service_answers_as_its_document_says_under_every_check(tmp_path) -> None:
    service = start_asr(
        outbox_dir=tmp_path / "outbox", spool_dir=tmp_path / "spool", api_key=ASR_KEY, max_upload_bytes=1_000_000,
        queue_size=64,
    )  # fmt: skip
    try:
        output = schemathesis(f"{service.url}/openapi.json", ASR_KEY, HERE / "asr.schemathesis.toml", 20, tmp_path)
    finally:
        service.stop()
    print(output[-3000:])
