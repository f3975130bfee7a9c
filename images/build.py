"""Build the factory's container images without a Docker daemon, and check their sizes against the budgets.

    python -m images.build                      # registry, registry-embeddings, controller, asr (`make images`)
    python -m images.build controller           # one of them
    python -m images.build asr-cuda --wheels-only   # the CUDA image's cp312 wheelhouse and its docker build command

Each image is built by buildah (vfs storage, chroot isolation: no daemon, no privileges beyond root) from a Debian
bookworm base that mmdebstrap makes out of Debian's packages (`localhost/dhg-base:bookworm`, passed as BASE_IMAGE;
the Dockerfiles' default is the digest-pinned public python image). Python packages come from a wheelhouse made here
first (`pip wheel`), which is the build context: the build itself reaches no index, so the same Dockerfile builds
online and air-gapped. The base tarball and the wheelhouses are kept under .cache/images/ (git ignores it) and
reused; the project's own wheel is rebuilt every time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "images"
LOCK = ROOT / "constraints.txt"  # every Python requirement pinned (`make lock`): the wheelhouses get those versions
REGISTRY = "ghcr.io/dhg-ai"
BASE_SUITE = "bookworm"
# python3-venv: the images' venvs; passwd: useradd (debian:bookworm-slim, under the python image, has it too).
BASE_PACKAGES = "python3,python3-venv,ca-certificates,passwd"
# Left out of the base like the slim images leave them out: documentation, manuals, translations.
BASE_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
BASE_KEY = hashlib.sha256(f"{BASE_SUITE} {BASE_PACKAGES} {BASE_EXCLUDES} merged-usr".encode()).hexdigest()[:12]
BASE_IMAGE = f"localhost/dhg-base:{BASE_SUITE}-{BASE_KEY}"  # a new recipe makes a new base
BUILDAH = ("buildah", "--storage-driver", "vfs")
MB = 1000 * 1000  # sizes in MB as `docker images` prints them


def _project_sources() -> tuple[str, ...]:
    """What the project's wheel is built from: its metadata and every package pyproject.toml's `include` names."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return ("pyproject.toml", "README.md", *sorted({pattern.rstrip("*") for pattern in find["include"]}))


PROJECT_SOURCES = _project_sources()
SELF_REFERENCE = re.compile(r"^dhg-ai-factory\[([\w,-]+)\]")
CUDA_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# The GPU image's base (images/asr/Dockerfile with DEVICE=gpu): CTranslate2 4.x needs CUDA 12's cuBLAS and cuDNN 9.
CUDA_BASE_IMAGE = (
    "docker.io/nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
    "@sha256:8aef630a54bc5c5146ae5ce68e6af5caa3df0fb690bb91544175c91f307e4356"
)


@dataclass(frozen=True)
class Image:
    """One image: its Dockerfile folder, repository, the project's extras it installs and its size budget."""

    name: str
    repository: str
    extras: str
    budget_mb: int | None
    suffix: str = ""  # appended to the tag (the chart's GPU image is <tag>-cuda)
    folder: str = ""  # under images/; default: name
    python: str = "3.11"  # the wheelhouse's Python (the base image's)
    local: bool = True  # buildable from the local Debian base
    pins: tuple[str, ...] = ()  # requirements pinned in the wheelhouse (torch: any other downloads gigabytes)
    no_deps: tuple[str, ...] = ()  # wheels added without their requirements (the Dockerfile's NO_DEPS_PACKAGES)
    base_image: str = ""  # the base when it is not the local Debian one (the Dockerfile's BASE_IMAGE)
    device: str = ""  # the Dockerfile's DEVICE, where it has one

    @property
    def dockerfile(self) -> Path:
        return ROOT / "images" / (self.folder or self.name) / "Dockerfile"

    def tag(self, version: str) -> str:
        return f"{REGISTRY}/{self.repository}:{version}{self.suffix}"

    def build_arguments(self, base: str, version: str, revision: str) -> dict[str, str]:
        """The Dockerfile's build arguments for this image: what makes two images of one Dockerfile differ."""
        arguments = {"BASE_IMAGE": self.base_image or base, "EXTRAS": self.extras}
        if self.device:
            arguments["DEVICE"] = self.device
        return {**arguments, "VERSION": f"{version}{self.suffix}", "REVISION": revision}

    def docker_build(self, version: str, context: Path) -> str:
        """The `docker build` command line that builds this image from its wheelhouse (for bases not built here)."""
        arguments = self.build_arguments(self.base_image or "<base>", version, "$(git rev-parse HEAD)")
        flags = " ".join(f"--build-arg {key}={value}" for key, value in arguments.items())
        return f"docker build -f {self.dockerfile.relative_to(ROOT)} {flags} -t {self.tag(version)} {context}"


# The ASR images' extras: the service with speakers, and the models inside (drop one of model-base and model-tiny-en
# for a smaller image; the chart's asr.models then names only the other).
ASR_EXTRAS = "diarization,model-base,model-tiny-en"
IMAGES = {
    image.name: image
    for image in (
        Image("registry", "factory-registry", "registry", 300),
        Image("controller", "factory-controller", "controller", 250),
        # Both bundled models as their int8 copies (the Dockerfile's QUANTIZATION): base (multilingual, the chart's
        # default) adds 81 MB to tiny.en's 43 MB (150 and 78 as the float16 wheels carry them).
        Image("asr", "factory-asr", ASR_EXTRAS, 960, no_deps=("resemblyzer==0.1.4",), device="cpu"),
        Image(
            "registry-embeddings",
            "factory-registry",
            "embeddings",
            1800,  # torch (CPU) alone is 754 MB
            suffix="-embeddings",
            folder="registry",
            pins=("torch==2.13.0",),
        ),
        Image(
            "asr-cuda",
            "factory-asr",
            ASR_EXTRAS,
            None,
            suffix="-cuda",
            folder="asr",  # the CPU image's Dockerfile on NVIDIA's base: they differ only in BASE_IMAGE and DEVICE
            python="3.12",  # Ubuntu 24.04's, which the Dockerfile installs on that base
            local=False,
            no_deps=("resemblyzer==0.1.4",),
            base_image=CUDA_BASE_IMAGE,
            device="gpu",
        ),
    )
}
DEFAULT_IMAGES = ("registry", "registry-embeddings", "controller", "asr")  # every image the chart runs on CPU


@dataclass(frozen=True)
class Built:
    image: Image
    tag: str
    size_bytes: int
    seconds: float

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB

    @property
    def over_budget(self) -> bool:
        return self.image.budget_mb is not None and self.size_mb > self.image.budget_mb


def run(args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    return subprocess.run(list(args), check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def version() -> str:
    """The chart's appVersion: every image's tag."""
    chart = yaml.safe_load((ROOT / "charts" / "dhg-factory" / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def revision() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def image_exists(reference: str) -> bool:
    probe = subprocess.run([*BUILDAH, "inspect", "--type", "image", reference], capture_output=True, check=False)
    return probe.returncode == 0


def ensure_base(cache: Path = CACHE) -> str:
    """The local Debian base in buildah's storage (made by mmdebstrap once; the tarball is kept)."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    tarball = cache / f"base-{BASE_SUITE}-{BASE_KEY}.tar"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tar")
        excludes = [f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_EXCLUDES]
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                # /usr merged by a hook, not by the usrmerge package (which brings the whole of perl).
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                f"--include={BASE_PACKAGES}",
                *excludes,
                "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*",
                BASE_SUITE,
                str(partial),
            ]
        )
        partial.rename(tarball)
    container = run([*BUILDAH, "from", "scratch"], capture_output=True).stdout.strip()
    try:
        run([*BUILDAH, "add", container, str(tarball), "/"])
        run(
            [
                *BUILDAH,
                "config",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "/bin/bash",
                container,
            ]
        )
        run([*BUILDAH, "commit", "--rm", container, BASE_IMAGE])
    except subprocess.CalledProcessError:
        subprocess.run([*BUILDAH, "rm", container], capture_output=True, check=False)
        raise
    return BASE_IMAGE


def project_wheel(cache: Path = CACHE) -> Path:
    """The project's wheel, built from a clean copy of its sources (no stale build/ folder can leak into it)."""
    dist = cache / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="dhg-wheel-") as folder:
        source = Path(folder) / "src"
        for name in PROJECT_SOURCES:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                source.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / name)
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(source)])
    (wheel,) = dist.glob("dhg_ai_factory-*.whl")
    return wheel


def wheelhouse_key(image: Image) -> str:
    """What the wheelhouse's contents depend on: the project's requirements, the extras, the pins, the Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    extras: set[str] = set()
    pending = image.extras.split(",")
    while pending:  # the extra and those it names (`dhg-ai-factory[http]`), not the others
        extra = pending.pop()
        if extra not in extras:
            extras.add(extra)
            for requirement in optional[extra]:
                if match := SELF_REFERENCE.match(requirement):
                    pending += match.group(1).split(",")
    optional_facts = {extra: optional[extra] for extra in sorted(extras)}
    facts = [project["dependencies"], optional_facts, image.pins, image.no_deps, image.python, constraints(image)]
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def constraints(image: Image) -> str:
    """pip's constraints for the image's wheelhouse: its own pins, then the project's lock."""
    return "".join(f"{pin}\n" for pin in image.pins) + LOCK.read_text()


def wheelhouse(image: Image, wheel: Path, cache: Path = CACHE) -> Path:
    """The build context: every wheel the image installs (kept while its key holds) and the fresh project wheel."""
    folder = cache / "wheels" / image.name
    stamp = folder / ".key"
    key = wheelhouse_key(image)
    if not (stamp.exists() and stamp.read_text() == key):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        requirement = f"{wheel}[{image.extras}]"
        pip = [sys.executable, "-m", "pip"]
        if image.pins or image.no_deps:  # pure-Python or pinned wheels: the same file for every Python here
            run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(folder), *image.pins, *image.no_deps])
        constraint_file = folder / ".constraints.txt"
        constraint_file.write_text(constraints(image))
        if image.python == f"{sys.version_info.major}.{sys.version_info.minor}":
            wheels = ["--wheel-dir", str(folder), "--find-links", str(folder), "--constraint", str(constraint_file)]
            run([*pip, "wheel", "-q", *wheels, requirement])
        else:  # another Python (the CUDA image's 3.12): binary wheels for it, downloaded, never built here
            platforms = [f"--platform={platform}" for platform in CUDA_PLATFORMS]
            version = image.python.replace(".", "")
            target = [f"--python-version={version}", "--implementation=cp", f"--abi=cp{version}", *platforms]
            downloads = ["--dest", str(folder), "--only-binary=:all:", "--constraint", str(constraint_file)]
            run([*pip, "download", "-q", *downloads, *target, requirement])
        stamp.write_text(key)
    for old in folder.glob("dhg_ai_factory-*.whl"):
        old.unlink()
    shutil.copy2(wheel, folder / wheel.name)
    return folder


def image_size(reference: str) -> int:
    """Uncompressed size in bytes: the sum of the image's layers (local storage keeps them as plain tar)."""
    result = run([*BUILDAH, "inspect", "--type", "image", reference], capture_output=True)
    manifest = json.loads(json.loads(result.stdout)["Manifest"])
    return sum(int(layer["size"]) for layer in manifest["layers"])


def build(image: Image, context: Path, base: str, version: str, revision: str) -> Built:
    tag = image.tag(version)
    started = time.monotonic()
    run(
        [
            *BUILDAH,
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--quiet",
            "--file",
            str(image.dockerfile),
            *(
                flag
                for key, value in image.build_arguments(base, version, revision).items()
                for flag in ("--build-arg", f"{key}={value}")
            ),
            "--tag",
            tag,
            str(context),
        ],
        stdout=subprocess.DEVNULL,
    )
    # The build stage and the dangling layers of earlier builds take disk (vfs stores every layer whole).
    subprocess.run([*BUILDAH, "rmi", "--prune"], capture_output=True, check=False)
    return Built(image, tag, image_size(tag), time.monotonic() - started)


def build_images(names: Sequence[str], budgets: dict[str, int] | None = None) -> list[Built]:
    """Build the named images from the local base; returns each one's tag, size and build time."""
    images = [IMAGES[name] for name in names]
    if budgets:
        images = [
            Image(**{**image.__dict__, "budget_mb": budgets.get(image.name, image.budget_mb)}) for image in images
        ]
    base = ensure_base()
    wheel = project_wheel()
    tag_version, commit = version(), revision()
    return [build(image, wheelhouse(image, wheel), base, tag_version, commit) for image in images]


def report(built: Sequence[Built]) -> str:
    lines = [f"{'image':<48} {'size MB':>8} {'budget':>7} {'build s':>8}"]
    for item in built:
        budget = "-" if item.image.budget_mb is None else str(item.image.budget_mb)
        verdict = "  OVER BUDGET" if item.over_budget else ""
        lines.append(f"{item.tag:<48} {item.size_mb:>8.1f} {budget:>7} {item.seconds:>8.1f}{verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m images.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", metavar="IMAGE", help=f"{', '.join(IMAGES)} (default: the CPU ones)")
    parser.add_argument("--wheels-only", action="store_true", help="make the wheelhouses (build contexts) only")
    parser.add_argument(
        "--budget", action="append", default=[], metavar="IMAGE=MB", help="override a size budget (MB, uncompressed)"
    )
    args = parser.parse_args(argv)
    names = args.images or list(DEFAULT_IMAGES)
    unknown = [name for name in names if name not in IMAGES]
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)}; the images: {', '.join(IMAGES)}")
    if args.wheels_only:
        wheel = project_wheel()
        for name in names:
            context = wheelhouse(IMAGES[name], wheel)
            if not IMAGES[name].local:  # built elsewhere: how, on the last line but one
                print(IMAGES[name].docker_build(version(), Path(os.path.relpath(context))))
            print(context)
        return 0
    not_local = [name for name in names if not IMAGES[name].local]
    if not_local:
        parser.error(
            f"{', '.join(not_local)}: its base is not built here; use --wheels-only and build it with its base"
        )
    budgets = {name: int(mb) for name, _, mb in (item.partition("=") for item in args.budget)}
    built = build_images(names, budgets)
    print(report(built))
    over = [item.tag for item in built if item.over_budget]
    if over:
        print(f"over budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
