"""Media assets: streamed multipart upload with sha256 de-duplication, metadata, download, delete."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from dhg_contract.schemas import AssetLink, AssetOut, Page
from dhg_core.problems import problem_response
from registry import links, metrics
from registry.deps import (
    IngestAccess,
    PageDep,
    ReadAccess,
    ReadOrLinkAccess,
    SessionDep,
    SettingsDep,
    WriteAccess,
    record_audit,
)
from registry.errors import MissingContent, NotFound, RangeNotSatisfiable
from registry.models import Asset
from registry.resources import ResourcesDep
from registry.storage import Storage, key_for
from registry.store import assets, events
from registry.uploads import MediaInfo, StagedUpload, probe_async, receive_file

log = logging.getLogger("registry.assets")
router = APIRouter(prefix="/v1/assets", tags=["assets"])
BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def _probe(staged: StagedUpload) -> MediaInfo:
    return await probe_async(staged.path, declared_type=staged.content_type, filename=staged.filename)


@router.post(
    "",
    name="asset.create",
    status_code=201,
    response_model=AssetOut,
    openapi_extra=UPLOAD_BODY,
    responses={200: {"model": AssetOut, "description": "Already stored (same sha256)."}},
)
async def upload_asset(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    who: IngestAccess,
) -> AssetOut:
    """Upload one media file as multipart/form-data (`file`); identical bytes are stored once."""
    storage = resources.storage
    staged = await receive_file(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        storage=storage,
        max_bytes=settings.max_upload_bytes,
    )
    claim = None  # this request's claim on the bytes, while it stores them and until their row is in
    try:
        async with session.begin():
            known = await assets.by_sha256(session, sha256=staged.sha256)
        info = None
        while True:
            if known is None:
                # Probed and stored outside any transaction (ffprobe may take seconds, the bytes up to 2 GiB to
                # move), under a claim that keeps a delete of the same bytes meanwhile from removing them.
                info = info or await _probe(staged)
                async with session.begin():
                    claim = await assets.claim_bytes(session, sha256=staged.sha256)
                await asyncio.to_thread(storage.put_file, key_for(staged.sha256), staged.path)
            async with session.begin():
                await assets.lock_bytes(session, sha256=staged.sha256)
                existing = await assets.by_sha256(session, sha256=staged.sha256)
                if existing is None and claim is None:  # known when first looked, deleted since: store them
                    known = None
                    continue
                row, created = (existing, False) if existing else await _insert(session, staged, info, who.actor)
                if claim is not None:
                    await assets.release_claim(session, claim=claim)
                status = 201 if created else 200
                await record_audit(
                    request,
                    session,
                    action="asset.create",
                    entity_type="asset",
                    entity_id=row.id,
                    status_code=status,
                    detail={"sha256": row.sha256, "deduplicated": not created},
                )
                if created:
                    await events.emit(
                        session, event="asset.created", data={"asset_id": str(row.id), "sha256": row.sha256}
                    )
            claim = None
            break
    except BaseException:
        if claim is not None:  # its row did not commit: the bytes go too, unless a row or another upload holds them
            await _discard_unclaimed(session, storage, staged.sha256, claim)
        raise
    finally:
        staged.path.unlink(missing_ok=True)
    (metrics.ASSETS_CREATED if created else metrics.ASSET_DEDUPLICATED).inc()
    response.status_code = status
    if not created:
        response.headers["Location"] = f"/v1/assets/{row.id}"
    return AssetOut.model_validate(row)


async def _insert(session: SessionDep, staged: StagedUpload, info: MediaInfo | None, actor: str) -> tuple[Asset, bool]:
    assert info is not None  # probed before the bytes were stored
    return await assets.create(
        session,
        sha256=staged.sha256,
        size_bytes=staged.size_bytes,
        content_type=info.content_type,
        filename=staged.filename,
        duration_seconds=info.duration_seconds,
        storage_key=key_for(staged.sha256),
        created_by=actor,
    )


async def _discard_unclaimed(session: SessionDep, storage: Storage, sha256: str, claim: uuid.UUID) -> None:
    """Release this upload's claim, and remove its bytes unless an asset row or another upload holds them (under
    the bytes' lock, as an upload claims and records them)."""
    try:
        async with session.begin():
            await assets.lock_bytes(session, sha256=sha256)
            await assets.release_claim(session, claim=claim)
            if await assets.unclaimed(session, sha256=sha256):
                await asyncio.to_thread(storage.delete, key_for(sha256))
    except Exception:  # the database is away too: the bytes stay, unreachable, until the same upload succeeds
        log.warning("could not remove the bytes of a failed upload", extra={"sha256": sha256}, exc_info=True)


@router.get("", name="asset.list")
async def list_assets(
    session: SessionDep,
    page: PageDep,
    who: ReadAccess,
    content_type: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AssetOut]:
    rows, total = await assets.list_page(session, limit=page.limit, offset=page.offset, content_type=content_type)
    return Page(items=[AssetOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{asset_id}", name="asset.get")
async def get_asset(asset_id: uuid.UUID, session: SessionDep, who: ReadAccess) -> AssetOut:
    row = await assets.get(session, asset_id=asset_id)
    if row is None:
        raise NotFound(f"No asset {asset_id}.")
    return AssetOut.model_validate(row)


@router.get(
    "/{asset_id}/content",
    name="asset.content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The media bytes."}},
)
async def download_asset(
    asset_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, who: ReadOrLinkAccess
) -> Response:
    """The stored bytes, with Range support; with a `read` token, or through a link (`expires` and `signature`, from
    GET /v1/assets/{asset_id}/link) in place of one."""
    row = await assets.get(session, asset_id=asset_id)
    if row is None:
        raise NotFound(f"No asset {asset_id}.")
    storage = resources.storage
    try:
        size = await asyncio.to_thread(storage.size, row.storage_key)
    except MissingContent as error:
        log.error("asset %s: its bytes (%s) are missing from the storage", row.id, row.storage_key)
        raise MissingContent(f"The bytes of asset {row.id} are missing from the storage.") from error
    path = storage.local_path(row.storage_key)
    headers = {"ETag": f'"{row.sha256}"'}
    if path is not None:
        return FileResponse(path, media_type=row.content_type, filename=row.filename or f"{row.id}", headers=headers)
    try:
        wanted = requested_range(request.headers.get("range"), size)
    except RangeNotSatisfiable as error:
        refused = problem_response(error, request.url.path)
        refused.headers["Content-Range"] = f"bytes */{size}"
        return refused
    return _streamed(storage, row, size, wanted, headers)


@router.get("/{asset_id}/link", name="asset.link")
async def link_asset(
    asset_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, who: ReadAccess
) -> AssetLink:
    """A short-lived link to the asset's bytes that needs no token, for what cannot send one (an <audio> element,
    which then streams it with Range requests): signed for this asset and reading only, never carrying a token."""
    row = await assets.get(session, asset_id=asset_id)
    if row is None:
        raise NotFound(f"No asset {asset_id}.")
    seconds = links.lifetime(row.duration_seconds)
    expires, signature = resources.links.sign(asset_id, seconds)
    return AssetLink(
        href="content?" + urlencode({"expires": expires, "signature": signature}),
        expires_at=datetime.fromtimestamp(expires, UTC),
        seconds=seconds,
    )


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, end) that a `Range` header asks of `size` bytes; None for all of them (no header, or one
    that may be ignored: another unit, several ranges, bad syntax). Past the end is `RangeNotSatisfiable`."""
    match = BYTE_RANGE.fullmatch((header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # a suffix: the last N bytes
        if int(last) == 0:
            raise RangeNotSatisfiable(f"The range asks for no bytes of {size}.")
        return max(size - int(last), 0), size
    start, end = int(first), min(int(last) + 1, size) if last else size
    if start >= size:
        raise RangeNotSatisfiable(f"The range starts at or past the end ({size} bytes).")
    return (start, end) if start < end else None


def _streamed(
    storage: Storage, row: Asset, size: int, wanted: tuple[int, int] | None, headers: dict[str, str]
) -> StreamingResponse:
    """The bytes of a storage without local files (S3), whole or one range, read as they are sent."""
    start, end = wanted or (0, size)
    headers = headers | {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(row.filename or str(row.id))}",
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    chunks = storage.read_chunks(row.storage_key, start, end)
    return StreamingResponse(chunks, status_code=206 if wanted else 200, media_type=row.content_type, headers=headers)


@router.delete("/{asset_id}", name="asset.delete", status_code=204)
async def delete_asset(
    asset_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, who: WriteAccess
) -> Response:
    """Delete the asset and its bytes; transcripts made from it stay, without the link."""
    async with session.begin():
        row = await assets.remove(session, asset_id=asset_id)
        if row is None:
            raise NotFound(f"No asset {asset_id}.")
        await record_audit(
            request,
            session,
            action="asset.delete",
            entity_type="asset",
            entity_id=asset_id,
            status_code=204,
            detail={"sha256": row.sha256},
        )
        await events.emit(session, event="asset.deleted", data={"asset_id": str(asset_id)})
    async with session.begin():  # under the bytes' lock: an upload of the same bytes waits, or is seen
        await assets.lock_bytes(session, sha256=row.sha256)
        if await assets.unclaimed(session, sha256=row.sha256):
            await asyncio.to_thread(resources.storage.delete, row.storage_key)
    return Response(status_code=204)
