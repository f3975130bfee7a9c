"""Working containers of the built images, through buildah: commands run as the image's own user (its USER),
with the host's network (the test PostgreSQL and the Registry listen on 127.0.0.1), and the root filesystem
readable from here through `buildah mount`."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from images.build import BUILDAH


@dataclass
class Container:
    id: str
    image: str

    @classmethod
    def create(cls, image: str) -> Container:
        result = subprocess.run([*BUILDAH, "from", "--pull=never", image], capture_output=True, text=True, check=True)
        return cls(result.stdout.strip(), image)

    def command(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, volumes: Sequence[str] = ()
    ) -> list[str]:
        options = ["--isolation", "chroot", "--network", "host"]
        for name, value in (env or {}).items():
            options += ["--env", f"{name}={value}"]
        for volume in volumes:
            options += ["--volume", volume]
        return [*BUILDAH, "run", *options, self.id, "--", *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args, env, volumes), capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *args: str, env: Mapping[str, str] | None = None, log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running command in its own process group (stopped with `stop`)."""
        with log.open("wb") as handle:
            return subprocess.Popen(
                self.command(args, env), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def mount(self) -> Path:
        result = subprocess.run([*BUILDAH, "mount", self.id], capture_output=True, text=True, check=True)
        return Path(result.stdout.strip())

    def config(self) -> dict[str, object]:
        import json

        result = subprocess.run(
            [*BUILDAH, "inspect", "--type", "image", self.image], capture_output=True, text=True, check=True
        )
        return dict(json.loads(result.stdout)["OCIv1"]["config"])

    def remove(self) -> None:
        subprocess.run([*BUILDAH, "rm", self.id], capture_output=True, check=False)
