"""How the command line shows results: plain lines that read well in a terminal and in a log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from dhg.sample import SEARCH_QUERY

if TYPE_CHECKING:  # types only: `dhg get` and the other quick commands start without these modules
    from dhg.datadir import DataDir
    from dhg.demo import DemoResult
    from dhg_contract.schemas import Page, SearchResult, TokenOut

console = Console(highlight=False, soft_wrap=True)
error_console = Console(highlight=False, soft_wrap=True, stderr=True)


def timestamp(seconds: float) -> str:
    """`mm:ss.s`, the way a transcript's time spans read."""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def show_search(result: SearchResult) -> None:
    if not result.items:
        console.print(f"no matches for {escape(repr(result.query))} ({result.mode} search)")
        return
    console.print(f"{len(result.items)} match(es) for {escape(repr(result.query))} ({result.mode} search):")
    for hit in result.items:
        span = f"{timestamp(hit.start)}-{timestamp(hit.end)}"
        console.print(f"  {hit.score:6.3f}  {hit.transcript_id}  {span}  {escape(hit.text)}")


def show_tokens(page: Page[TokenOut]) -> None:
    if not page.items:
        console.print("no tokens (the local admin token is configured, not stored)")
        return
    for token in page.items:
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
        console.print(
            f"{token.id}  {escape(token.name):<24} {','.join(token.scopes):<18} "
            f"{token.created_at:%Y-%m-%d %H:%M}  {state}"
        )


def show_demo(result: DemoResult) -> None:
    asset = result.asset
    stored = "stored" if result.asset_is_new else "already stored (same sha256)"
    console.print(
        f"\n[bold]1. sample audio[/bold] {escape(asset.filename or '')}: asset {asset.id}, {stored}, "
        f"{asset.size_bytes} bytes, {asset.duration_seconds or 0:.1f} s"
    )
    answer = result.transcription.parsed()
    duration = float(answer.get("duration") or asset.duration_seconds or 0)
    speed = f", {duration / result.transcribe_seconds:.1f}x real time" if result.transcribe_seconds > 0 else ""
    console.print(
        f"[bold]2. transcribed by the ASR service[/bold] in {result.transcribe_seconds:.1f} s{speed}; "
        f"word error rate {result.word_error_rate:.1%} against the LibriVox reference:"
    )
    console.print(f"  {escape(str(answer.get('text', '')).strip())}")
    for segment in result.transcription.segments():
        span = escape(f"[{timestamp(segment.start)}-{timestamp(segment.end)}]")
        console.print(f"  {span}  {escape(segment.text)}")
    transcript, job = result.transcript, result.job
    if result.refused:
        console.print(
            f"[bold red]3. refused by the Registry[/bold red] (job {job.id} keeps transcript {transcript.id}, "
            f"{len(transcript.segments)} segments): {escape(result.refused)}"
        )
        console.print("[bold]4. search[/bold]")
        show_search(result.search)
        return
    console.print(
        f"[bold]3. stored in the Registry[/bold] transcript {transcript.id}: job {job.id} {job.phase}, "
        f"{len(transcript.segments)} segments, {escape(transcript.model or '?')} on {escape(transcript.device or '?')}"
        + (" (stored once: an earlier run sent the same job id)" if result.stored_before else "")
    )
    console.print("[bold]4. search[/bold]")
    show_search(result.search)
    if result.search_note:
        console.print(f"  [dim]({escape(result.search_note)})[/dim]")


@dataclass(frozen=True)
class NextSteps:
    registry_url: str
    asr_url: str
    admin_token: str
    asr_api_key: str
    viewer_token: str
    cli_options: str = ""
    prometheus_url: str | None = None


def show_next_steps(steps: NextSteps, data_dir: DataDir) -> None:
    options = steps.cli_options
    console.print("\n[bold]where to look next[/bold]")
    for label, value in (
        (
            "viewer",
            f"{steps.registry_url}/ui/#token={steps.viewer_token}  (read-only; in {data_dir.viewer_token_file})",
        ),
        (
            "Registry",
            f"{steps.registry_url}/docs   redoc {steps.registry_url}/redoc   metrics {steps.registry_url}/metrics",
        ),
        ("ASR service", f"{steps.asr_url}/docs   redoc {steps.asr_url}/redoc   metrics {steps.asr_url}/metrics"),
        ("admin token", f"{steps.admin_token}  (in {data_dir.admin_token_file})"),
        ("ASR API key", f"{steps.asr_api_key}  (in {data_dir.asr_api_key_file})"),
        *(
            [("Prometheus", f"{steps.prometheus_url}/alerts   rules {steps.prometheus_url}/rules")]
            if steps.prometheus_url
            else []
        ),
        ("data dir", str(data_dir.root)),
        ("logs", f"{data_dir.registry_log}, {data_dir.asr_log}, {data_dir.postgres_log}, {data_dir.runner_log}"),
        (
            "try",
            f'dhg transcribe FILE...{options}   dhg search "{SEARCH_QUERY}"{options}   '
            f"dhg token create NAME --scope read{options}",
        ),
    ):
        console.print(f"  {label:<12} {escape(value)}")
