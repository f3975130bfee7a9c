"""`dhg up --exit-after-sample`: the README's first command, run for real (Postgres, migrations, Registry, ASR)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dhg.datadir import DataDir, read_admin_token, read_asr_api_key
from tests.dhg.integration.conftest import FirstRun, up_once
from tests.dhg.runner import assert_one_line_error, assert_sample_transcribed, free_ports, run_dhg, search_hits


def assert_everything_stopped(data_dir: DataDir) -> None:
    assert not (data_dir.postgres / "pgdata" / "postmaster.pid").exists(), "Postgres still runs"
    assert not data_dir.state_file.exists()


def test_up_transcribes_the_sample_end_to_end_and_exits(first_run: FirstRun) -> None:
    data_dir, result = first_run.data_dir, first_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sample audio sense-and-sensibility.opus" in out and ", stored," in out
    assert_sample_transcribed(out)
    assert "Succeeded" in out and "stored once" not in out
    hits = search_hits(out)  # the sentence the query means, in one segment or two, whichever near-tie wins
    assert any("young man" in hit or "selfish" in hit for hit in hits[:2]), out
    if "(semantic search)" not in out:  # not ready within the demo's wait (a busy machine): full text, said why
        assert "(fulltext search)" in out and "`dhg search` uses semantic search once it is ready" in out, out
    assert out.count("/docs") == 2 and out.count("/metrics") == 2 and str(data_dir.root) in out
    token, asr_key = read_admin_token(data_dir), read_asr_api_key(data_dir)
    assert token and token in out and asr_key and asr_key in out and asr_key != token
    for secret in (data_dir.admin_token_file, data_dir.asr_api_key_file):
        assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert "starting the Registry" in data_dir.registry_log.read_text()
    assert "starting the ASR service" in data_dir.asr_log.read_text()
    assert out.index("stopping the ASR service") < out.index("stopping the Registry") < out.index("stopping Postgres")
    assert "Traceback" not in result.stderr
    assert_everything_stopped(data_dir)


@pytest.mark.parametrize("taken", ["--registry-port", "--asr-port"])
def test_up_refuses_a_taken_port_in_one_line(tmp_path: Path, taken: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ports = dict(zip(("--registry-port", "--asr-port"), map(str, free_ports(2)), strict=True))
        ports[taken] = str(port)
        options = [item for pair in ports.items() for item in pair]
        result = run_dhg("up", "--exit-after-sample", "--data-dir", tmp_path / "data", *options)
    assert_one_line_error(result, f"port {port}", "already in use", taken)
    assert not (tmp_path / "data" / "postgres").exists(), "nothing should start when a port is taken"


def test_up_says_the_registry_refused_the_sample_when_its_job_holds_another_transcript(tmp_path: Path) -> None:
    """An admin replaced the sample's transcript by an empty one: the next `dhg up` does not print Succeeded for the
    empty one; it shows the Registry's refusal and exits 1."""
    from dhg.postgres import EmbeddedPostgres

    data = tmp_path / "data"
    assert up_once(data).returncode == 0
    postgres = EmbeddedPostgres(DataDir(data).postgres).start()
    try:
        emptied = postgres.psql(
            "WITH t AS (UPDATE transcripts SET text = '', segment_count = 0 RETURNING id) "
            "DELETE FROM segments USING t WHERE segments.transcript_id = t.id RETURNING segments.id",
            database="dhg",
        )
        assert emptied, "the sample's segments were there to empty"
    finally:
        postgres.stop()
    result = up_once(data)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refused by the Registry" in result.stdout and "0 segments" in result.stdout, result.stdout
    assert "stored once" not in result.stdout
    assert_one_line_error(result, "the Registry refused the sample's transcript", "differ")
