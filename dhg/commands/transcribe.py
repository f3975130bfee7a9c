"""`dhg transcribe FILE...`: send files to the ASR service; print the transcripts or write them to a folder."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dhg.api import one_line_errors
from dhg.asr_client import AsrClient, Speakers, Transcription
from dhg.commands.options import (
    AsrUrlOption,
    DataDirOption,
    RegistryUrlOption,
    Target,
    TokenOption,
    resolve_asr_api_key,
    resolve_asr_url,
    resolve_target,
)
from dhg.errors import DhgError, RegistryRefused
from dhg.output import error_console
from dhg.settings import get_settings
from dhg_contract.client import RegistryClient
from dhg_core import speakers as speaker_bounds


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    srt = "srt"
    vtt = "vtt"
    verbose_json = "verbose_json"
    diarized_json = "diarized_json"


EXTENSIONS = {
    OutputFormat.text: "txt",
    OutputFormat.json: "json",
    OutputFormat.srt: "srt",
    OutputFormat.vtt: "vtt",
    OutputFormat.verbose_json: "verbose.json",
    OutputFormat.diarized_json: "diarized.json",
}


def output_path(directory: Path, source: Path, output_format: OutputFormat) -> Path:
    """Where a transcript of `source` goes in `directory`: `<stem>.<ext>`."""
    return directory / f"{source.stem}.{EXTENSIONS[output_format]}"


def _check_files(files: list[Path], output_dir: Path | None, output_format: OutputFormat) -> None:
    """Refuse the whole run before any work when a file is not there, or two would be written to one path."""
    written: dict[Path, Path] = {}
    for path in files:
        if not path.exists():
            raise DhgError(f"{path}: no such file")
        if not path.is_file():
            raise DhgError(f"{path}: not a file")
        if output_dir is not None:
            target = output_path(output_dir, path, output_format)
            if target in written:
                raise DhgError(f"{written[target]} and {path} would both be written to {target}")
            written[target] = path


def _asset_store(target: Target, closing: ExitStack) -> RegistryClient | None:
    """The Registry to upload files to first (closed with `closing`), when it answers and we have a token;
    otherwise None, with a note."""
    if not target.token:
        error_console.print("note: no Registry token, so the files are not stored as assets (see --token)")
        return None
    client = closing.enter_context(target.client())
    if not client.ready():
        error_console.print(
            f"note: the Registry at {escape(target.registry_url)} is not reachable, so the files are not stored "
            "as assets"
        )
        return None
    return client


def _upload(store: RegistryClient, registry_url: str, path: Path) -> uuid.UUID:
    try:
        with one_line_errors(registry_url):
            return store.upload_asset(path).value.id
    except RegistryRefused as error:
        hint = "" if error.status == httpx.codes.UNSUPPORTED_MEDIA_TYPE else " (or pass --no-store)"
        raise DhgError(f"{path}: the Registry refused to store it: {error}{hint}") from error


@contextmanager
def _progress(total: int) -> Iterator[Progress]:
    """Files done of `total` and the current file, on stderr while it is a terminal; gone when finished."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
        # transcripts printed to a terminal go above the bar; printed to a pipe or file they stay as they are
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
        disable=not error_console.is_terminal,
    )
    with progress:
        yield progress


def _emit(transcription: Transcription, source: Path, output_dir: Path | None, fmt: OutputFormat, many: bool) -> None:
    body = transcription.body if transcription.body.endswith("\n") else transcription.body + "\n"
    if output_dir is not None:
        target = output_path(output_dir, source, fmt)
        target.write_text(body)
        typer.echo(str(target))
        return
    if many:
        typer.echo(f"==> {source} <==")
    typer.echo(body, nl=False)


def _speakers(asked: bool, low: int | None, high: int | None, known: list[str] | None) -> Speakers | None:
    """The speakers to ask the service for, or None; a one-line error for a bad NAME=CLIP."""
    if not (asked or low or high or known):
        return None
    if (error := speaker_bounds.bounds_error(low, high, ("--min-speakers", "--max-speakers"))) is not None:
        raise DhgError(error)
    clips: dict[str, Path] = {}
    for item in known or []:
        name, separator, clip = item.partition("=")
        if not separator or not name.strip() or not clip:
            raise DhgError(f"--speaker takes NAME=CLIP (a name and an audio file), not {item!r}")
        path = Path(clip).expanduser()
        if not path.is_file():
            raise DhgError(f"--speaker {name.strip()}: no such file: {path}")
        clips[name.strip()] = path
    return Speakers(low, high, clips)


def transcribe(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Audio or video files (anything FFmpeg decodes).")
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="What to print or write for each file.")
    ] = OutputFormat.text,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            file_okay=False,
            help="Write <stem>.<ext> files here and print their paths, instead of printing the transcripts.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A model the service serves (default: its default, the multilingual base; `dhg models` lists them).",
            show_default=False,
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="The language spoken, e.g. en (default: detected).", show_default=False)
    ] = None,
    no_store: Annotated[
        bool,
        typer.Option("--no-store", help="Do not upload the files as Registry assets first (to link the transcripts)."),
    ] = False,
    speakers: Annotated[
        bool,
        typer.Option(
            "--speakers",
            help="Say who spoke when: [A], [B], ... before each line (speaker labels in every format).",
        ),
    ] = False,
    min_speakers: Annotated[
        int | None,
        typer.Option(
            min=speaker_bounds.MIN_SPEAKERS,
            max=speaker_bounds.MAX_SPEAKERS,
            help="At least this many speakers (implies --speakers).",
        ),
    ] = None,
    max_speakers: Annotated[
        int | None,
        typer.Option(
            min=speaker_bounds.MIN_SPEAKERS,
            max=speaker_bounds.MAX_SPEAKERS,
            help="At most this many speakers (implies --speakers).",
        ),
    ] = None,
    speaker: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=CLIP",
            help="A known speaker and 1-30 s of their voice (a file): their lines are labelled NAME. Repeatable, "
            "up to 4 (implies --speakers).",
            show_default=False,
        ),
    ] = None,
    asr_url: AsrUrlOption = None,
    data_dir: DataDirOption = None,
    registry_url: RegistryUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Transcribe files with the ASR service; each is stored in the Registry as an asset first when it answers."""
    _check_files(files, output_dir, output_format)
    wanted = _speakers(speakers or output_format == OutputFormat.diarized_json, min_speakers, max_speakers, speaker)
    target = resolve_target(data_dir=data_dir, registry_url=registry_url, token=token, token_required=False)
    asr = AsrClient(
        resolve_asr_url(asr_url, target.data_dir),
        resolve_asr_api_key(target.data_dir),
        timeout=get_settings().transcribe_timeout_seconds,
    )
    with asr, ExitStack() as closing:
        asr.readiness()
        store = None if no_store else _asset_store(target, closing)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
        with _progress(len(files)) as progress:
            overall = progress.add_task("", total=len(files))
            for path in files:
                progress.update(overall, description=escape(path.name))
                asset_id = _upload(store, target.registry_url, path) if store else None
                try:
                    transcription = asr.transcribe(
                        path,
                        response_format=output_format.value,
                        model=model,
                        language=language,
                        asset_id=asset_id,
                        speakers=wanted,
                    )
                except DhgError as error:
                    raise DhgError(f"{path}: {error}") from error
                _emit(transcription, path, output_dir, output_format, many=len(files) > 1)
                progress.advance(overall)
