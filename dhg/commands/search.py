"""`dhg search`: search stored transcript segments by words and by meaning."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dhg.commands.options import DataDirOption, RegistryUrlOption, TokenOption, resolve_target
from dhg.output import show_search


class SearchMode(StrEnum):
    auto = "auto"
    hybrid = "hybrid"
    semantic = "semantic"
    fulltext = "fulltext"


def search(
    query: Annotated[str, typer.Argument(help="What to look for, in your own words.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many hits.")] = 10,
    mode: Annotated[
        SearchMode,
        typer.Option(
            help="hybrid: by words and by meaning, fused; semantic: by meaning; fulltext: by words; auto: hybrid when "
            "the Registry has its embedding model loaded, else full text."
        ),
    ] = SearchMode.auto,
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Search transcript segments; prints score, transcript id, time span and text of each hit."""
    target = resolve_target(data_dir=data_dir, registry_url=registry_url, token=token)
    with target.client() as client:
        show_search(client.search(query, mode=mode.value, limit=limit))
