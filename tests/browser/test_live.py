"""The viewer's Live page in a real browser: Chromium's fake microphone plays a WAV of real speech (the bundled
sample), the page streams it to `dhg up`'s ASR service over /v1/realtime, and the words appear as they are
recognised, the finished turns below, then a link to the session's transcript in the Registry. Every host but the two
services is unreachable."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from dhg.datadir import read_asr_api_key
from tests.asr.integration.test_stream_jobs_language import sample_samples
from tests.browser.support import axe_report, chromium, visit
from tests.dhg.integration.conftest import ServingStack


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears (looped): a second of silence, the sample, three seconds of silence."""
    samples = np.concatenate([np.zeros(16000, np.float32), sample_samples(), np.zeros(48000, np.float32)])
    path = tmp_path_factory.mktemp("microphone") / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def live_browser(microphone: Path) -> Iterator[Browser]:
    with chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ) as started:
        yield started


def test_live_words_from_the_microphone_and_the_stored_session(
    live_browser: Browser, stack: ServingStack, viewer_token: str
) -> None:
    with visit(live_browser, stack.url, also=(stack.asr_url,), permissions=("microphone",)) as current:
        page = current.page
        page.goto(f"{stack.url}/ui/#token={viewer_token}")
        expect(page.get_by_role("heading", level=1, name="Transcripts")).to_be_visible()
        page.get_by_role("link", name="Live").click()
        expect(page.get_by_role("heading", level=1, name="Live")).to_be_visible()
        assert current.accessibility_violations() == [], axe_report(current.accessibility_violations())
        page.get_by_label("ASR service API key").fill(read_asr_api_key(stack.data_dir) or "")
        page.get_by_role("button", name="Start listening").click()
        expect(page.locator("#live-status")).to_have_text("Listening: speak.", timeout=60_000)
        # Words while the turn is still spoken: the line of the turn in progress fills before the turn is listed.
        page.wait_for_function(
            "() => document.querySelector('#live-current').textContent.trim().length > 0", timeout=60_000
        )
        turns = page.locator("#live-turns li")
        expect(turns.first).to_be_visible(timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#live-turns li')].some((li) => /dashwood/i.test(li.textContent))",
            timeout=60_000,
        )
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("#live-status")).to_have_text("Stopped.", timeout=60_000)
        link = page.locator("#live-transcript")
        expect(link).to_be_visible(timeout=60_000)
        link.click()
        expect(page.get_by_text("Dashwood").first).to_be_visible(timeout=30_000)
        current.assert_offline_clean()
        assert current.console_errors == []
