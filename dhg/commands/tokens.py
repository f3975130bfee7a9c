"""`dhg token create|list|revoke`: manage the Registry's API tokens over HTTP (needs an admin token)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape

from dhg.commands.options import DataDirOption, RegistryUrlOption, TokenOption, resolve_target
from dhg.output import console, error_console, show_tokens

app = typer.Typer(help="Create, list and revoke the Registry's API tokens.", no_args_is_help=True)


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what will use the token.")],
    scope: Annotated[
        list[Scope],
        typer.Option("--scope", "-s", help="read, write or admin (admin implies write implies read); repeatable."),
    ],
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a token; prints the secret on stdout (shown only once) and its id on stderr."""
    target = resolve_target(data_dir=data_dir, registry_url=registry_url, token=token)
    with target.client() as client:
        created = client.create_token(name, [item.value for item in scope])
    scopes = ", ".join(created.scopes)
    error_console.print(
        f"created token {created.id} ({scopes}) for {escape(created.name)}; its secret, shown only once, is on stdout"
    )
    typer.echo(created.token)


@app.command("list")
def list_tokens(
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    token: TokenOption = None,
) -> None:
    """List tokens (never their secrets): id, name, scopes, created, state."""
    target = resolve_target(data_dir=data_dir, registry_url=registry_url, token=token)
    with target.client() as client:
        show_tokens(client.list_tokens())


@app.command("revoke")
def revoke(
    token_id: Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The token id (see `dhg token list`).")],
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token by id; it stops working at once."""
    target = resolve_target(data_dir=data_dir, registry_url=registry_url, token=token)
    with target.client() as client:
        revoked = client.revoke_token(token_id)
    console.print(f"revoked {revoked.id} ({escape(revoked.name)})")
