"""Where a worker's audio comes from: an http(s) URL, a Registry asset, or a file under an allowed root.
Failures say whether they are the input's fault (never retried) or transient (worth retrying)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from dhg_contract.client import RegistryAPIError, RegistryClient
from dhg_core.egress import AddressPolicy, Blocked, guarded_client

DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class SourceError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def from_path(path: str, allowed_roots: list[Path]) -> Path:
    """A local file, only under one of `allowed_roots` (symlinks resolved first)."""
    resolved = Path(path).resolve()
    if not any(resolved == root.resolve() or root.resolve() in resolved.parents for root in allowed_roots):
        roots = ", ".join(str(r) for r in allowed_roots) or "none configured"
        raise SourceError(f"path {path} is outside the allowed roots ({roots})", transient=False)
    if not resolved.is_file():
        raise SourceError(f"path {path} does not exist or is not a file", transient=False)
    return resolved


def from_url(url: str, target: Path, *, max_bytes: int, policy: AddressPolicy | None = None) -> Path:
    """Download `url` into `target`, streamed, refusing more than `max_bytes`, connecting (redirects included) only
    where `policy` allows (by default: public addresses). A refused address is bad input, and nothing of what such
    a host would answer is reported."""
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"only http and https URLs are supported, not {url!r}", transient=False)
    written = 0
    try:
        with (
            guarded_client(policy or AddressPolicy(), timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                transient = response.status_code >= 500 or response.status_code == 429
                raise SourceError(f"GET {url} answered {response.status_code}", transient=transient)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > max_bytes:
                        raise SourceError(f"{url} is larger than {max_bytes} bytes", transient=False)
                    handle.write(chunk)
    except Blocked as error:
        raise SourceError(f"{url} is not reachable: {error}", transient=False) from error
    except httpx.HTTPError as error:
        raise SourceError(f"could not download {url}: {error}", transient=True) from error
    return target


def from_asset(asset_id: str, target: Path, client: RegistryClient, *, max_bytes: int) -> Path:
    """Fetch a Registry media asset into `target`."""
    try:
        parsed = uuid.UUID(asset_id)
    except ValueError as error:
        raise SourceError(f"asset id {asset_id!r} is not a UUID", transient=False) from error
    try:
        client.download_asset_to(parsed, target, max_bytes=max_bytes)
    except RegistryAPIError as error:
        raise SourceError(f"could not fetch asset {asset_id}: {error}", transient=error.transient) from error
    return target
