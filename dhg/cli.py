"""`dhg`: the command line of DHG AI Factory. This module only names the commands: each one's module is imported
when that command runs (or for `--help`), so that `dhg apply` or `dhg get` starts without `dhg up`'s imports."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from dhg.errors import DhgError

# name → (module, attribute): a command function, or a Typer app of subcommands. The order is `dhg --help`'s.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("dhg.commands.up", "up"),
    "transcribe": ("dhg.commands.transcribe", "transcribe"),
    "listen": ("dhg.commands.listen", "listen"),
    "search": ("dhg.commands.search", "search"),
    "models": ("dhg.commands.models", "models"),
    "status": ("dhg.commands.status", "status"),
    "token": ("dhg.commands.tokens", "app"),
    "apply": ("dhg.commands.jobs", "apply"),
    "get": ("dhg.commands.jobs", "get"),
    "describe": ("dhg.commands.jobs", "describe"),
    "wait": ("dhg.commands.follow", "wait"),
    "logs": ("dhg.commands.follow", "logs"),
    "delete": ("dhg.commands.jobs", "delete"),
}


def _main() -> None:
    """DHG AI Factory: local-first speech to text."""


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer(add_completion=False)  # a group of one: the command as Typer builds it under `dhg`
        holder.callback()(_main)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=cmd_name)
        else:
            holder.command(name=cmd_name)(target)
        return typer.main.get_group(holder).commands[cmd_name]


class _App(typer.Typer):
    """Reports expected failures (DhgError) as one `error: ...` line on stderr, never as a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except DhgError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)


app = _App(
    cls=_LazyGroup,
    help="DHG AI Factory: local-first speech to text.",
    no_args_is_help=True,
    add_completion=False,
)

app.callback()(_main)
