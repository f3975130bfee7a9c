"""`/v1/realtime`: live transcription over a WebSocket, OpenAI's Realtime API for transcription sessions (GA; the
beta's `transcription_session.*` with the `OpenAI-Beta: realtime=v1` header or the `openai-beta.realtime-v1`
subprotocol). The official `openai` client's `client.realtime.connect()` works against it unchanged.

The API key, when the service has one, comes as OpenAI's clients send it: `Authorization: Bearer <key>`, or from a
browser (which cannot set headers) as the subprotocol `openai-insecure-api-key.<key>` beside `realtime`. A session
that cannot be served is told why in an `error` event, then closed: 3000 (unauthorized), 1013 (try again later:
every decoder or session place taken), 1008 (a client that stopped reading), 1000 (expired or idle)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

import anyio
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from asr import metrics
from asr.deps import ServiceDep
from asr.errors import AsrError
from asr.realtime import protocol
from asr.realtime.protocol import ProtocolError
from asr.realtime.recording import Recording
from asr.realtime.session import Limits, LiveSession
from asr.service import TranscriptionService
from asr.settings import Settings
from dhg_core.secrets import matches

log = logging.getLogger("asr.realtime")
router = APIRouter()
KEY_PREFIX = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
UNAUTHORIZED, POLICY, TRY_LATER, NORMAL = 3000, 1008, 1013, 1000


def _key(websocket: WebSocket, offered: list[str]) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return next((item.removeprefix(KEY_PREFIX) for item in offered if item.startswith(KEY_PREFIX)), None)


def _limits(settings: Settings) -> Limits:
    return Limits(
        max_event_bytes=settings.realtime_max_event_bytes,
        max_buffer_seconds=settings.realtime_max_buffer_seconds,
        interval=settings.realtime_interval_ms / 1000,
        beam_size=settings.beam_size,
    )


async def _refuse(websocket: WebSocket, code: int, problem: ProtocolError, *, server: bool = False) -> None:
    event = protocol.server_error(problem.message, problem.code) if server else protocol.error(problem)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_text(json.dumps(event))
        await websocket.close(code, f"{event['error']['type']}.{problem.code}"[:120])
    metrics.REALTIME_SESSIONS_ENDED.labels("refused").inc()


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket, service: ServiceDep) -> None:
    settings = service.settings
    offered = list(websocket.scope.get("subprotocols") or [])
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "") or BETA_PROTOCOL in offered
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    key = _key(websocket, offered)
    if settings.api_key is not None and (key is None or not matches(key, settings.api_key.get_secret_value())):
        problem = ProtocolError("invalid_api_key", "Send the service's API key as 'Authorization: Bearer <key>'.")
        await _refuse(websocket, UNAUTHORIZED, problem)
        return
    if service.live_sessions >= settings.realtime_sessions:
        problem = ProtocolError(
            "session_limit", f"{settings.realtime_sessions} live sessions are open here, the most allowed; retry later"
        )
        await _refuse(websocket, TRY_LATER, problem, server=True)
        return
    try:
        service.ready_engine()
        async with service.admission.now():
            service.live_sessions += 1
            metrics.REALTIME_SESSIONS.inc()
            try:
                await _serve(websocket, service, beta=beta)
            finally:
                service.live_sessions -= 1
                metrics.REALTIME_SESSIONS.dec()
    except AsrError as error:  # not ready, or every decoder busy
        await _refuse(websocket, TRY_LATER, ProtocolError(error.slug, error.detail), server=True)


async def _serve(websocket: WebSocket, service: TranscriptionService, *, beta: bool) -> None:
    settings = service.settings
    keep_audio = websocket.query_params.get("keep_audio", "true").lower() not in ("false", "0", "no")

    def recording(job_id: uuid.UUID) -> Recording | None:
        if not keep_audio or service.delivery.audio_path(job_id) is None:
            return None
        return Recording(settings.spool_dir / f"live-{job_id}.pcm")

    session = LiveSession(
        lambda model: service.models.get(model),
        limits=_limits(settings),
        beta=beta,
        max_seconds=settings.realtime_max_session_seconds,
        batch_size=settings.window_batch,
        recording=recording,
    )
    await session.start()
    sender = asyncio.create_task(_send(websocket, session, settings.realtime_send_timeout_seconds))
    decoder = asyncio.create_task(session.decode_forever())
    reason = "client"
    try:
        reason = await _receive(websocket, session, settings)
        if reason in ("expired", "idle"):
            await _drain(session, settings.realtime_send_timeout_seconds)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await websocket.close(NORMAL, f"invalid_request_error.{reason}")
    except Exception:
        reason = "error"
        log.exception("a live session failed", extra={"session": session.id})
    finally:
        for task in (decoder, sender):
            task.cancel()
        await asyncio.gather(decoder, sender, return_exceptions=True)
        if reason == "slow_client" or session.overflowed:
            reason = "slow_client"
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await websocket.close(POLICY, "client not reading")
        metrics.REALTIME_SESSIONS_ENDED.labels(reason).inc()
        await _store(service, session)


async def _receive(websocket: WebSocket, session: LiveSession, settings: Settings) -> str:
    """Client events until the client leaves (or the session expires, idles or overflows): why it ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.realtime_max_session_seconds
    while True:
        if session.overflowed:
            return "slow_client"
        left = deadline - loop.time()
        if left <= 0:
            minutes = settings.realtime_max_session_seconds / 60
            session.emit(
                protocol.error(
                    ProtocolError("session_expired", f"Your session hit the maximum duration of {minutes:g} minutes.")
                )
            )
            return "expired"
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=min(left, settings.realtime_idle_seconds))
        except TimeoutError:
            if deadline - loop.time() <= 0:
                continue
            idle = settings.realtime_idle_seconds
            session.emit(protocol.error(ProtocolError("idle_timeout", f"Nothing came from the client for {idle:g} s.")))
            return "idle"
        if message["type"] == "websocket.disconnect":
            return "client"
        if message.get("text") is not None:
            await session.handle(message["text"])
        else:
            problem = ProtocolError(
                "invalid_event", "Expected a text WebSocket message; binary frames are not supported."
            )
            session.emit(protocol.error(problem))


async def _send(websocket: WebSocket, session: LiveSession, seconds: float) -> None:
    """The session's events to the client; one that waits `seconds` for the client to read marks it slow."""
    while True:
        event = await session.outbox.get()
        try:
            async with asyncio.timeout(seconds):
                await websocket.send_text(json.dumps(event))
        except TimeoutError:
            session.overflowed = True  # the receive loop ends the session
            return
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            session.outbox.task_done()


async def _drain(session: LiveSession, seconds: float) -> None:
    """Wait (at most `seconds`) for the events queued so far to be sent."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await session.outbox.join()


async def _store(service: TranscriptionService, session: LiveSession) -> None:
    """The session's turns, decoded to the end, to the Registry as one transcript (through the outbox)."""
    recording = session.recording
    try:
        result = await session.finish()
        if result is not None:
            audio = service.delivery.audio_path(session.job_id)
            if recording is not None and audio is not None:
                await anyio.to_thread.run_sync(recording.encode, audio)
                recording = None
            service.delivery.submit(result.to_transcript(session.job_id))
            log.info(
                "a live session ended",
                extra={"session": session.id, "job": str(session.job_id), "turns": len(session.finished)},
            )
    except Exception:
        log.exception("a live session's transcript could not be stored", extra={"session": session.id})
    finally:
        if recording is not None:  # nothing said, or not stored: its audio is not kept either
            recording.discard()
