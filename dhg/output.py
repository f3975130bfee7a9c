"""How the command line shows results: plain lines that read well in a terminal and in a log."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from dhg.datadir import DataDir
from dhg.demo import DemoResult
from registry.schemas import Page, SearchResult, TokenOut

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
    name = escape(asset.filename or "")
    console.print(
        f"\n[bold]1. sample audio[/bold] {name}: asset {asset.id}, {stored}, "
        f"{asset.size_bytes} bytes, {asset.duration_seconds or 0:.1f} s"
    )
    transcript = result.transcript
    console.print(
        f"[bold]2. transcript[/bold] {transcript.id} (job {transcript.job_id}) — a PLACEHOLDER, "
        "not recognised speech: the ASR service will transcribe the sample once it lands"
    )
    for segment in transcript.segments:
        span = escape(f"[{timestamp(segment.start)}-{timestamp(segment.end)}]")
        console.print(f"  {span}  {escape(segment.text)}")
    console.print("[bold]3. search[/bold]")
    show_search(result.search)


def show_next_steps(*, registry_url: str, data_dir: DataDir, admin_token: str, cli_options: str = "") -> None:
    console.print("\n[bold]where to look next[/bold]")
    for label, value in (
        ("API docs", f"{registry_url}/docs"),
        ("metrics", f"{registry_url}/metrics"),
        ("admin token", f"{admin_token}  (in {data_dir.admin_token_file})"),
        ("data dir", str(data_dir.root)),
        ("logs", f"{data_dir.registry_log}, {data_dir.postgres_log}"),
        ("try", f'dhg search "placeholder"{cli_options}   dhg token create NAME --scope read{cli_options}'),
    ):
        console.print(f"  {label:<12} {escape(value)}")
