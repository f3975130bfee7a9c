"""FastAPI dependencies of the ASR service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from asr.errors import AsrError
from asr.service import TranscriptionService
from asr.settings import Settings
from dhg_core.secrets import matches

BEARER = HTTPBearer(auto_error=False, description="The service's API key (DHG_ASR_API_KEY), as OpenAI clients send it.")


class Unauthenticated(AsrError):
    status, slug, title = 401, "unauthenticated", "Missing or invalid API key"


def get_service(connection: HTTPConnection) -> TranscriptionService:
    """The one service object create_app made (the only thing the ASR app keeps on `app.state`), for a request or a
    WebSocket alike."""
    service: TranscriptionService = connection.app.state.service
    return service


ServiceDep = Annotated[TranscriptionService, Depends(get_service)]


def get_settings_dep(service: ServiceDep) -> Settings:
    return service.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def require_api_key(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> None:
    """When DHG_ASR_API_KEY is set, every call that transcribes must present it as a bearer token."""
    if settings.api_key is None:
        return
    if credentials is None or not matches(credentials.credentials, settings.api_key.get_secret_value()):
        raise Unauthenticated("Send the service's API key as 'Authorization: Bearer <key>'.")


ApiKey = Annotated[None, Depends(require_api_key)]
