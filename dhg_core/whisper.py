"""The Whisper facts every part names: the models that come with the package, the default one, and the model names
of OpenAI's API served as aliases. Plain data: the ASR service's catalogue, the TranscriptionJob resource and the
chart's defaults read it (one source; the controller imports no Whisper code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BundledModel:
    name: str
    multilingual: bool
    language_count: int  # how many of Whisper's languages (dhg_core/languages.py's order): 1 is English only


BUNDLED_MODELS: dict[str, BundledModel] = {
    "tiny.en": BundledModel("tiny.en", multilingual=False, language_count=1),
    "base": BundledModel("base", multilingual=True, language_count=99),
}
DEFAULT_MODEL = "base"  # multilingual: any language heard, translation possible
BUNDLED = "bundled"  # a model source: the bundled model of the same name ("bundled:<name>": one of another name)
# OpenAI's transcription model names; each serves the default model unless an alias table says otherwise.
OPENAI_MODEL_NAMES = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")


def default_models() -> dict[str, str]:
    """Served model name → source: every bundled model, as itself."""
    return dict.fromkeys(BUNDLED_MODELS, BUNDLED)


def default_aliases() -> dict[str, str]:
    """Alias → model ('' is the default model)."""
    return dict.fromkeys(OPENAI_MODEL_NAMES, "")


def bundled_name(name: str, source: str) -> str | None:
    """The bundled model a served model's source names, or None for a path."""
    if source == BUNDLED:
        return name
    if source.startswith(f"{BUNDLED}:"):
        return source.removeprefix(f"{BUNDLED}:")
    return None


def resolve(requested: str | None, models: dict[str, str], aliases: dict[str, str], default: str) -> str | None:
    """The served model a request's name means (an alias mapped, none or '' the default); None when none is served
    by that name."""
    name = (aliases.get(requested, requested) if requested else None) or default
    return name if name in models else None


def served_names(models: dict[str, str], aliases: dict[str, str]) -> list[str]:
    """What a request may name, for error messages: the models, then the aliases."""
    return [*sorted(models), *sorted(aliases)]


def known_multilingual(name: str, models: dict[str, str]) -> bool | None:
    """Whether the served model `name` is multilingual, as far as its source alone says (a bundled one); None for a
    path, whose files say it (the ASR service's catalogue reads them)."""
    bundled = bundled_name(name, models.get(name, ""))
    return BUNDLED_MODELS[bundled].multilingual if bundled in BUNDLED_MODELS else None


def english_only(name: str, models: dict[str, str]) -> bool:
    """Whether the served model `name` is known to be English-only from its source alone (a bundled one)."""
    return known_multilingual(name, models) is False
