"""What `dhg up` shows once the stack is up: upload the sample, store its transcript, search for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dhg.api import RegistryClient
from dhg.sample import SEARCH_QUERY, placeholder_transcript, sample_audio
from registry.schemas import AssetOut, SearchResult, TranscriptOut


@dataclass(frozen=True)
class DemoResult:
    asset: AssetOut
    asset_is_new: bool
    transcript: TranscriptOut
    search: SearchResult


def run_demo(client: RegistryClient, samples_dir: Path) -> DemoResult:
    """The sample through the Registry's API, as a client would use it."""
    asset, is_new = client.upload_asset(sample_audio(samples_dir))
    body = placeholder_transcript(asset_id=asset.id, duration_seconds=asset.duration_seconds)
    transcript = client.create_transcript(body)
    found = client.search(SEARCH_QUERY, transcript_id=transcript.id)
    if not found.items and found.mode == "semantic":
        # the embedding worker has not reached the new segments yet; full-text sees them at once
        found = client.search(SEARCH_QUERY, transcript_id=transcript.id, mode="fulltext")
    return DemoResult(asset=asset, asset_is_new=is_new, transcript=transcript, search=found)
