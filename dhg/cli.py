"""`dhg`: the command line of DHG AI Factory. This module only registers the commands."""

from __future__ import annotations

import sys
from typing import Any

import typer

from dhg.commands import jobs, search, status, tokens, transcribe, up
from dhg.errors import DhgError


class _App(typer.Typer):
    """Reports expected failures (DhgError) as one `error: ...` line on stderr, never as a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except DhgError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)


app = _App(help="DHG AI Factory: local-first speech to text.", no_args_is_help=True, add_completion=False)
app.command()(up.up)
app.command()(transcribe.transcribe)
app.command()(search.search)
app.command()(status.status)
app.add_typer(tokens.app, name="token")
for command in (jobs.apply, jobs.get, jobs.describe, jobs.delete, jobs.wait, jobs.logs):
    app.command()(command)
