"""`dhg-registry`: run migrations, serve the API, manage tokens."""

from __future__ import annotations

import asyncio
import getpass
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from registry import migrate
from registry.auth import SCOPES
from registry.db import make_engine, make_sessionmaker, transaction
from registry.models import ApiToken
from registry.settings import get_settings, set_library_environment
from registry.store import audit, tokens

T = TypeVar("T")
app = typer.Typer(help="The DHG Registry.", no_args_is_help=True, add_completion=False)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the newest migration."""
    migrate.upgrade(get_settings().database_url)
    typer.echo(f"schema at {migrate.head_revision()}")


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    migrate_first: bool = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes, one per core (default: DHG_REGISTRY_WORKERS, else 1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the API with uvicorn (migrating first unless --no-migrate-first)."""
    import uvicorn

    from dhg_core.logs import configure_logging
    from registry.app import create_app
    from registry.metrics import MULTIPROCESS_ENV

    settings = get_settings()
    processes = workers or settings.workers
    configure_logging(settings.service_name, settings.log_level)
    if migrate_first:
        migrate.upgrade(settings.database_url)
    if processes == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
        return
    # Several processes: each writes its metrics to a fresh shared folder, which /metrics sums.
    with tempfile.TemporaryDirectory(prefix="dhg-registry-metrics-") as folder:
        set_library_environment({MULTIPROCESS_ENV: folder})
        uvicorn.run(
            "registry.app:create_worker_app",
            factory=True,
            workers=processes,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )


async def _with_session(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = make_engine(get_settings())
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await action(session)
    finally:
        await engine.dispose()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what will use the token.")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="read, write or admin (repeatable).")],
) -> None:
    """Create a token and print it (it is shown only once)."""
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        _fail(f"unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}")

    async def action(session: AsyncSession) -> tuple[ApiToken, str]:
        row, token = await tokens.create(session, name=name, scopes=scope, created_by=_actor())
        await audit.record(
            session,
            actor=_actor(),
            action="token.create",
            outcome="ok",
            status_code=0,
            method="CLI",
            path="dhg-registry token create",
            request_id=None,
            entity_type="token",
            entity_id=row.id,
            detail={"name": name, "scopes": scope},
        )
        return row, token

    row, token = asyncio.run(_with_session(action))
    typer.echo(f"id:     {row.id}", err=True)
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by id; it stops working within the cache TTL of running servers."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        _fail(f"not a token id: {token_id!r}")

    async def action(session: AsyncSession) -> ApiToken | None:
        row = await tokens.revoke(session, token_id=parsed)
        if row is not None:
            await audit.record(
                session,
                actor=_actor(),
                action="token.revoke",
                outcome="ok",
                status_code=0,
                method="CLI",
                path="dhg-registry token revoke",
                request_id=None,
                entity_type="token",
                entity_id=parsed,
            )
        return row

    if asyncio.run(_with_session(action)) is None:
        _fail(f"no token {token_id}")
    typer.echo(f"revoked {token_id}")


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""

    async def action(session: AsyncSession) -> tuple[list[ApiToken], int]:
        return await tokens.list_all(session, limit=1000, offset=0)

    rows, _ = asyncio.run(_with_session(action))
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        typer.echo(f"{row.id}  {row.name:<24} {','.join(row.scopes):<18} {state}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
