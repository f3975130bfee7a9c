"""`dhg models`: the models the local ASR service serves (its catalogue, `GET /v1/models`): languages, tasks, size,
whether each is loaded and the names that resolve to it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dhg.asr_client import AsrClient
from dhg.commands.options import AsrUrlOption, DataDirOption, data_dir_from, resolve_asr_api_key, resolve_asr_url
from dhg.errors import DhgError
from dhg.output import console

MEGABYTE = 1_000_000


def _languages(card: dict[str, Any]) -> str:
    if card.get("multilingual") is None:
        return "known once loaded"
    return f"{len(card['languages'])} languages" if card["multilingual"] else "English only"


def _size(card: dict[str, Any]) -> str:
    size, stored = card.get("size_bytes"), card.get("quantization")
    return (f"{size / MEGABYTE:.0f} MB" if size else "?") + (f" {stored}" if stored else "")


def _table(cards: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("MODEL", "LANGUAGES", "TASKS", "SIZE", "LOADED", "ALIASES"):
        table.add_column(column)
    for card in cards:
        loaded = f"yes ({card['device']})" if card.get("loaded") else "no"
        name = card["id"] + (" (default)" if card.get("default") else "")
        table.add_row(
            escape(name),
            _languages(card),
            ", ".join(card.get("tasks", [])),
            _size(card),
            loaded,
            escape(", ".join(card.get("aliases", [])) or "-"),
        )
    return table


def models(
    data_dir: DataDirOption = None,
    asr_url: AsrUrlOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
) -> None:
    """List the models the ASR service serves: what each can do, its size, whether it is loaded, its aliases."""
    if output not in ("table", "json"):
        raise DhgError(f"--output is table or json, not {output!r}")
    directory = data_dir_from(data_dir)
    with AsrClient(resolve_asr_url(asr_url, directory), resolve_asr_api_key(directory)) as client:
        cards = client.models()
    if output == "json":
        print(json.dumps(cards, indent=2))
    else:
        console.print(_table(cards))
