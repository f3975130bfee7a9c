"""The lock (constraints.txt, `make lock`): every requirement of pyproject.toml and of the Makefile's and the images'
pins is locked at a version its range allows, the lock is closed (every locked package's own requirements are locked
too), every install uses it, and what the suite runs in is what the lock says."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from images import build

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"
PROJECT = "dhg-ai-factory"
PIN = re.compile(r"(?<![\w.-])([A-Za-z0-9][\w.-]*==[\w.!+-]+)")


def locked(text: str | None = None) -> dict[str, Version]:
    """The lock's pins: canonical name → version."""
    pins: dict[str, Version] = {}
    for line in (LOCK.read_text() if text is None else text).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def project_requirements() -> list[Requirement]:
    """Every requirement of the project and of each of its extras, for this platform, without its self-references."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    every = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    requirements = [Requirement(line) for line in every]
    return [
        r
        for r in requirements
        if canonicalize_name(r.name) != PROJECT and (r.marker is None or r.marker.evaluate({"extra": ""}))
    ]


def makefile_pins() -> dict[str, list[Requirement]]:
    """The pins of the Makefile's installs into the project's virtualenv (`$(PIP) ... name==version`), by whether
    they are installed with --no-deps."""
    pins: dict[str, list[Requirement]] = {"deps": [], "no-deps": []}
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.strip().startswith("$(PIP)") or "$(LOCK_VENV)/bin/pip install" in line:
            kind = "no-deps" if "--no-deps" in line else "deps"
            pins[kind] += [Requirement(pin) for pin in PIN.findall(line)]
    return pins


def satisfied(requirement: Requirement, pins: dict[str, Version]) -> bool:
    version = pins.get(canonicalize_name(requirement.name))
    return version is not None and requirement.specifier.contains(version, prereleases=True)


def test_every_requirement_of_the_project_is_locked_within_its_range() -> None:
    pins = locked()
    unmet = [str(r) for r in project_requirements() if not satisfied(r, pins)]
    assert not unmet, f"constraints.txt does not satisfy pyproject.toml for: {unmet} (run `make lock`)"
    assert PROJECT not in pins, "the project itself is not locked (it is installed from its checkout)"


def test_the_makefile_and_the_images_pin_what_the_lock_pins() -> None:
    pins = locked()
    makefile = makefile_pins()
    assert {r.name for r in makefile["deps"]} >= {"torch"} and len(makefile["no-deps"]) >= 3
    images = [Requirement(pin) for image in build.IMAGES.values() for pin in (*image.pins, *image.no_deps)]
    unmet = [str(r) for r in (*makefile["deps"], *makefile["no-deps"], *images) if not satisfied(r, pins)]
    assert not unmet, f"pinned elsewhere at a version the lock does not hold: {unmet}"


def test_the_lock_is_closed_over_the_requirements_of_what_it_locks() -> None:
    """Each locked package's own requirements are locked too (but those of packages installed with --no-deps, whose
    requirements are left out on purpose: triton, librosa, ...)."""
    pins = locked()
    without_deps = {canonicalize_name(r.name) for r in makefile_pins()["no-deps"]}
    missing: dict[str, list[str]] = {}
    for name in sorted(set(pins) - without_deps):
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # locked for an install this virtualenv did not make (checked by the next test)
        for line in requirements:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue  # an optional extra of that package, or another platform's
            if not satisfied(requirement, pins):
                missing.setdefault(name, []).append(str(requirement))
    assert not missing, f"locked packages whose requirements the lock misses: {missing} (run `make lock`)"


def test_the_suite_runs_on_exactly_the_locked_versions() -> None:
    """`make test` installed with the lock: every locked package is here at its locked version (so a green run is a
    green run of the lock)."""
    different = {}
    for name, version in locked().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            different[name] = f"{version} locked, not installed"
            continue
        if not SpecifierSet(f"=={version}").contains(installed, prereleases=True):  # 2.13.0 holds 2.13.0+cpu
            different[name] = f"{version} locked, {installed} installed"
    assert not different, different


def test_every_install_of_the_project_environment_goes_through_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PIP := \$\(PY\) -m pip install -q --constraint \$\(LOCK\)$", makefile, re.MULTILINE)
    unlocked = [line.strip() for line in makefile.splitlines() if "$(PY) -m pip install" in line]
    assert unlocked == ["PIP := $(PY) -m pip install -q --constraint $(LOCK)"], unlocked
    for image in build.IMAGES.values():  # the wheelhouses too
        assert build.constraints(image).endswith(LOCK.read_text()), image.name


@pytest.mark.parametrize(
    ("lock", "unmet"),
    [
        ("fastapi==0.100.0\n", "fastapi"),  # below pyproject's range
        ("", "pydantic"),  # missing
    ],
)
def test_the_range_check_catches_an_unmet_lock(lock: str, unmet: str) -> None:
    pins = {**locked(), **locked(lock)} if lock else {k: v for k, v in locked().items() if k != unmet}
    assert any(canonicalize_name(r.name) == unmet and not satisfied(r, pins) for r in project_requirements())
