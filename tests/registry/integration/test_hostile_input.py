"""Hostile input to the Registry (issue 17, class 1): what PostgreSQL cannot hold or the writers cannot render is a
4xx problem+json that names the trouble, never a 500, and changes nothing; what it accepts renders in every format.

The strings PostgreSQL refuses are NUL (U+0000) and lone UTF-16 surrogates (not UTF-8); they come from query
parameters, JSON bodies (text and jsonb), path segments and multipart file names. Numbers: integers beyond the
columns' range, non-finite and overflowing floats."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_registry
from tests.registry.integration.media import sine_wav

NUL = "a\x00b"
SURROGATE = "a\ud800b"
PROBLEM = "application/problem+json"


def raw_json(client: httpx.Client, method: str, url: str, text: str) -> httpx.Response:
    """A JSON body as written, escapes and all (json.dumps would refuse or rewrite what these tests send)."""
    return client.request(method, url, content=text.encode(), headers={"content-type": "application/json"})


def assert_refused(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (400, 422)), (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"]
    return problem


def counts(admin: httpx.Client) -> tuple[int, ...]:
    """How many of each thing the Registry holds: a refused request must change none of them."""
    paths = ("/v1/transcripts", "/v1/jobs", "/v1/assets", "/v1/webhooks", "/v1/tokens")
    return tuple(admin.get(path, params={"limit": 1}).json()["total"] for path in paths)


QUERIES = [
    ("/v1/transcripts", {"language": NUL}),
    ("/v1/jobs", {"name": NUL}),
    ("/v1/assets", {"content_type": NUL}),
    ("/v1/audit", {"actor": NUL}),
    ("/v1/audit", {"action": SURROGATE}),
    ("/v1/search", {"q": NUL, "mode": "fulltext"}),
    ("/v1/search", {"q": "tone", "mode": "fulltext", "language": NUL}),
    ("/v1/transcripts", {"limit": 5, "offset": 2**64}),
    ("/v1/jobs", {"offset": 10**30}),
    ("/v1/audit", {"after_seq": 2**63}),
    ("/v1/assets", {"offset": 2**63}),
]


@pytest.mark.parametrize(("path", "params"), QUERIES, ids=[f"{p}?{'&'.join(q)}" for p, q in QUERIES])
def test_query_parameters_postgres_cannot_take_are_refused(admin, path, params) -> None:
    query = "&".join(f"{key}={httpx.QueryParams({key: value})[key]}" for key, value in params.items())
    encoded = (
        str(httpx.QueryParams(params)) if SURROGATE not in params.values() else query.replace("\ud800", "%ED%A0%80")
    )
    problem = assert_refused(admin.get(f"{path}?{encoded}"))
    assert "Internal" not in problem["title"]


BODIES = [
    ("POST", "/v1/jobs", '{"name": "a\\u0000b", "source": {"url": "https://example.org/a.wav"}}'),
    ("POST", "/v1/jobs", '{"name": "a\\ud800b", "source": {"url": "https://example.org/a.wav"}}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "parameters": {"k": "a\\u0000b"}}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "parameters": {"a\\u0000": 1}}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "parameters": {"k": "\\udc00"}}'),
    ("POST", "/v1/jobs", '{"source": {"path": "/data/a\\u0000.wav"}}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "attempts": 99999999999999999999}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "attempts": 3000000000}'),
    ("POST", "/v1/jobs", '{"source": {"url": "https://example.org/a.wav"}, "parameters": {"n": NaN}}'),
    ("POST", "/v1/tokens", '{"name": "a\\u0000b", "scopes": ["read"]}'),
    ("POST", "/v1/webhooks", '{"url": "https://example.org/h", "events": ["job.created"], "description": "\\u0000"}'),
    (
        "POST",
        "/v1/webhooks",
        '{"url": "https://example.org/h", "events": ["job.created"], "secret": "0123456789abcdef\\u0000"}',
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=[body[:70] for _, _, body in BODIES])
def test_json_bodies_postgres_cannot_take_are_refused_and_change_nothing(admin, method, path, body) -> None:
    before = counts(admin)
    assert_refused(raw_json(admin, method, path, body))
    assert counts(admin) == before


def transcript_body(**segment: object) -> dict:
    return {
        "job_id": str(uuid.uuid4()),
        "language": "en",
        "segments": [{"start": 0.0, "end": 1.0, "text": "hello", **segment}],
    }


TRANSCRIPTS = [
    '{"job_id": "%s", "text": "a\\u0000b", "segments": []}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "a\\u0000b"}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "\\ud83d"}]}',
    '{"job_id": "%s", "language": "e\\u0000", "segments": []}',
    '{"job_id": "%s", "model": "\\udfff", "segments": []}',
    '{"job_id": "%s", "timings": {"a\\u0000": 1.0}, "segments": []}',
    '{"job_id": "%s", "segments": [{"start": NaN, "end": 1, "text": "x"}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": Infinity, "text": "x"}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1e400, "text": "x"}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1e300, "text": "x"}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "x", "avg_logprob": -1e309}]}',
    '{"job_id": "%s", "duration_seconds": 1e308, "segments": []}',
    '{"job_id": "%s", "timings": {"fetch": NaN}, "segments": []}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "x", "words": [{"start": 0, "end": 1e999, '
    '"word": "x"}]}]}',
    '{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "x", "words": [{"start": 0, "end": 1, '
    '"word": "\\u0000"}]}]}',
]


@pytest.mark.parametrize("template", TRANSCRIPTS, ids=[t[20:90] for t in TRANSCRIPTS])
def test_transcript_bodies_postgres_or_the_writers_cannot_take_are_refused(admin, writer, template) -> None:
    before = counts(admin)
    assert_refused(raw_json(writer, "POST", "/v1/transcripts", template % uuid.uuid4()))
    assert counts(admin) == before


def test_job_patches_with_nulls_or_numbers_out_of_range_are_refused(admin, writer) -> None:
    job = writer.post("/v1/jobs", json={"source": {"url": "https://example.org/a.wav"}}).json()
    for body in ('{"attempts": null}', '{"phase": null}', '{"attempts": 9223372036854775808}',
                 '{"attempts": 2147483648}', '{"error": "\\u0000"}', '{"device": "\\ud800"}'):  # fmt: skip
        assert_refused(raw_json(writer, "PATCH", f"/v1/jobs/{job['id']}", body))
    assert writer.get(f"/v1/jobs/{job['id']}").json() == job


def multipart(filename: bytes, data: bytes, *, closed: bool = True) -> bytes:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
    return head + b"Content-Type: audio/wav\r\n\r\n" + data + (b"\r\n--b--\r\n" if closed else b"")


def post_multipart(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/v1/assets", content=body, headers={"content-type": "multipart/form-data; boundary=b"})


def test_a_multipart_file_name_with_nul_is_refused_and_one_not_utf8_is_stored_replaced(admin, writer) -> None:
    before = counts(admin)
    problem = assert_refused(post_multipart(writer, multipart(b"a\x00b.wav", sine_wav(0.2))))
    assert "NUL" in problem["detail"]
    assert counts(admin) == before
    stored = post_multipart(writer, multipart("a\ud800.wav".encode("utf-8", "surrogatepass"), sine_wav(0.3)))
    assert stored.status_code == 201 and stored.json()["filename"] == "a\ufffd\ufffd\ufffd.wav"  # as browsers do


def test_every_transcript_the_registry_accepts_renders_in_every_format(writer, reader) -> None:
    """Edge values the Registry takes: each stored transcript must render as json, text, srt, vtt and tsv."""
    odd = [
        {"start": 0.0, "end": 0.0, "text": ""},
        {"start": 359999.999, "end": 360000.5, "text": "-->\n\n<b>&amp;</b>\tcolumns\r\nand\x1f\x7f controls"},
        {"start": 1e6, "end": 1e6, "text": "\u2028\u2029 \ufeff emoji 😀 rtl \u202e", "avg_logprob": -1e300},
        {"start": 0.1, "end": 0.2, "text": "words", "words": [{"start": 0.1, "end": 0.2, "word": " w\u0301"}]},
    ]
    for segments in ([], odd, [{"start": 5e-324, "end": 2.5e-310, "text": "denormal"}]):
        body = {"job_id": str(uuid.uuid4()), "text": None, "segments": segments, "timings": {"x": -0.0}}
        response = writer.post("/v1/transcripts", json=body)
        if response.status_code >= 400:
            assert_refused(response)
            continue
        transcript_id = response.json()["id"]
        for output in ("json", "text", "srt", "vtt", "tsv"):
            rendered = reader.get(f"/v1/transcripts/{transcript_id}", params={"format": output})
            assert rendered.status_code == 200, (output, segments, rendered.text[:300])
            if output == "json":
                json.loads(rendered.text)


@pytest.fixture
def small_registry(postgres, tmp_path):
    """A Registry of its own (its media directory is this test's), taking uploads up to 20 kB."""
    server = start_registry(
        postgres.create_database(f"hostile_{uuid.uuid4().hex[:8]}"),
        tmp_path / "media",
        embeddings="off",
        max_upload_bytes=20_000,
    )
    yield server
    server.stop()


def stored_files(media: Path) -> list[Path]:
    return [path for path in media.rglob("*") if path.is_file()]


def test_a_multipart_body_cut_before_its_closing_boundary_is_not_stored(small_registry, tmp_path) -> None:
    with small_registry.client(small_registry.admin_token) as admin:
        data = sine_wav(0.2)
        for cut in (multipart(b"cut.wav", data, closed=False), multipart(b"cut.wav", data)[:-3]):
            problem = assert_refused(post_multipart(admin, cut), 400)
            assert "closing boundary" in problem["detail"]
        assert admin.get("/v1/assets").json()["total"] == 0
        assert stored_files(tmp_path / "media") == []
        assert post_multipart(admin, multipart(b"whole.wav", data)).status_code == 201  # the same bytes, whole


def test_an_oversize_upload_sent_chunked_is_413_with_its_reason(small_registry, tmp_path) -> None:
    body = multipart(b"big.wav", sine_wav(0.7))  # just over: sent whole before the answer (no reset mid-send)
    assert 20_000 < len(body) < 24_000

    def chunks():
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    with small_registry.client(small_registry.admin_token) as admin:
        response = admin.post(
            "/v1/assets", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
        )
        problem = assert_refused(response, 413)
        assert problem["type"].endswith("too-large") and "20000 bytes" in problem["detail"]
        assert admin.get("/v1/assets").json()["total"] == 0
    assert stored_files(tmp_path / "media") == []


def test_an_upload_that_fails_after_its_bytes_were_stored_leaves_no_bytes(small_registry, tmp_path, monkeypatch):
    from registry.routes import assets

    async def broken(*args, **kwargs):
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(assets.events, "emit", broken)
    with small_registry.client(small_registry.admin_token) as admin:
        response = post_multipart(admin, multipart(b"fails.wav", sine_wav(0.25)))
        assert response.status_code == 500 and response.headers["x-request-id"], response.text  # answered, not cut
        assert admin.get("/v1/assets").json()["total"] == 0
        assert stored_files(tmp_path / "media") == []
        monkeypatch.undo()
        assert post_multipart(admin, multipart(b"fails.wav", sine_wav(0.25))).status_code == 201
        assert len(stored_files(tmp_path / "media")) == 1


def test_a_database_error_logs_neither_the_statements_parameters_nor_secrets_and_carries_the_request_id(
    admin, caplog, monkeypatch
) -> None:
    """Class 6: the statement of a failing query is logged without its parameters (a webhook secret here)."""
    from sqlalchemy import text

    from dhg_core.logs import JsonFormatter
    from registry.routes import webhooks

    secret = "s3cr3t-" + uuid.uuid4().hex

    async def failing(session, *, body, **_):
        await session.execute(text("SELECT * FROM no_such_table WHERE secret = :secret"), {"secret": body.secret})

    monkeypatch.setattr(webhooks.webhooks, "create", failing)
    body = {"url": "https://example.org/hook", "events": ["job.created"], "secret": secret}
    with caplog.at_level("INFO"):
        response = admin.post("/v1/webhooks", json=body, headers={"X-Request-ID": "req-secret-test"})
    assert response.status_code == 500 and secret not in response.text
    formatter = JsonFormatter("registry")
    lines = [formatter.format(record) for record in caplog.records]
    assert any("no_such_table" in line for line in lines), lines  # the failure is logged...
    assert not any(secret in line for line in lines)  # ...without the secret
    failed = [json.loads(line) for line in lines if "no_such_table" in line]
    assert all(entry.get("request_id") == "req-secret-test" for entry in failed), failed


class FormattedLines(logging.Handler):
    """The JSON log lines as the service writes them: formatted when emitted, in the request's own context."""

    def __init__(self) -> None:
        from dhg_core.logs import JsonFormatter

        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("registry"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_log_lines_stay_one_json_object_each_and_never_carry_a_token(registry, admin, monkeypatch) -> None:
    """Header and JSON injection into the logs, and tokens in them (issue 17): whatever a client sends, each log
    line is one JSON object whose own fields it cannot forge, and no bearer token (right or wrong) is written."""
    wrong_token = "dhg_" + "w" * 43
    forged_id = 'x","level":"critical","msg":"forged'
    from registry.routes import webhooks

    async def failing(session, *, body, **_):
        raise RuntimeError('boom"}\n{"level":"critical","msg":"forged"}')  # an error whose text tries it too

    monkeypatch.setattr(webhooks.webhooks, "create", failing)
    capture, root = FormattedLines(), logging.getLogger()
    root.addHandler(capture)
    level, root.level = root.level, logging.DEBUG
    try:
        with httpx.Client(base_url=registry.url, timeout=30) as anonymous:
            anonymous.get("/v1/jobs", headers={"Authorization": f"Bearer {wrong_token}", "X-Request-ID": forged_id})
        admin.post(
            "/v1/jobs",
            json={"name": 'a"}\n{"level":"critical","msg":"forged"}', "source": {"url": "https://example.org/a.wav"}},
            headers={"X-Request-ID": forged_id},
        )
        admin.get("/v1/jobs/%0d%0a%7B%22level%22%3A%22critical%22%7D", headers={"X-Request-ID": forged_id})
        admin.post("/v1/transcripts", content=b'{"job_id": "\n{\\"level\\": \\"critical\\"}', headers=JSON_TYPE)
        hook = {"url": "https://example.org/h", "events": ["job.created"], "secret": "s" * 32}
        failed = admin.post("/v1/webhooks", json=hook, headers={"X-Request-ID": forged_id})
        assert failed.status_code == 500 and failed.headers["x-request-id"] != forged_id
    finally:
        root.removeHandler(capture)
        root.level = level
    requests_logged = [line for line in capture.lines if '"request_id"' in line]
    assert requests_logged, capture.lines  # the refused calls were logged, with their (fresh) request ids
    for line in capture.lines:
        assert "\n" not in line and "\r" not in line, line
        entry = json.loads(line)
        assert entry["level"] != "critical" and entry.get("msg") != "forged", line
        assert entry.get("request_id") != forged_id, line
        assert wrong_token not in line and registry.admin_token not in line and "s" * 32 not in line, line
    assert any(failed.headers["x-request-id"] in line for line in requests_logged)


JSON_TYPE = {"content-type": "application/json"}
