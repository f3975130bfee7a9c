"""The transcript viewer (/ui/) in a real browser, against a `dhg up` that transcribed the bundled sample, with
every other host unreachable: sign in, list, search, open, play from a segment, download; the token stays in the
tab; what a transcript says is shown, never run; no serious accessibility violation, on a desktop or a phone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from dhg.sample import SAMPLE_PATH
from tests.browser.support import DESKTOP, PHONE, Visit, visit
from tests.dhg.integration.conftest import ServingStack

SAMPLE_NAME = SAMPLE_PATH.name
SELFISH = "selfish"  # a word of the sample's third segment (7.4 s - 13.8 s with tiny.en)


@pytest.fixture
def viewer(browser: Browser, stack: ServingStack) -> Iterator[Visit]:
    with visit(browser, stack.url) as current:
        yield current
        current.assert_offline_clean()
        assert current.console_errors == []


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/ui/")
    page.get_by_label("Registry token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Transcripts")).to_be_visible()


def audio_time(page: Page) -> float:
    return float(page.evaluate("document.querySelector('audio').currentTime"))


def wait_for_audio(page: Page) -> None:
    page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a && !a.hidden && a.duration > 0 }"
    )


def sample_transcript(admin: httpx.Client) -> dict:
    found = admin.get("/v1/search", params={"q": SELFISH, "mode": "fulltext"}).raise_for_status().json()["items"]
    assert found, "the sample's transcript is not searchable"
    return admin.get(f"/v1/transcripts/{found[0]['transcript_id']}").raise_for_status().json()


def test_sign_in_search_open_seek_and_download_srt(
    viewer: Visit, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    page = viewer.page
    page.goto(f"{stack.url}/ui/")
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    viewer.screenshot("viewer-sign-in")
    page.get_by_label("Registry token").fill("dhg_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("does not know this token")
    viewer.console_errors.clear()  # the browser logs the 401 it was answered

    page.get_by_label("Registry token").fill(viewer_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=SAMPLE_NAME)).to_be_visible()
    viewer.screenshot("viewer-transcripts")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.get_by_label("Search for").fill("rather selfish")
    page.get_by_label("Kind of search").select_option("fulltext")
    page.get_by_role("button", name="Apply").click()
    hit = page.locator("ol.hits a").filter(has_text=SELFISH).first
    expect(hit).to_be_visible()
    viewer.screenshot("viewer-search")
    hit.click()

    transcript = sample_transcript(admin)
    selfish = next(s for s in transcript["segments"] if SELFISH in s["text"])
    expect(page.get_by_role("heading", level=1, name=SAMPLE_NAME)).to_be_visible()
    wait_for_audio(page)
    assert audio_time(page) == pytest.approx(selfish["start"], abs=0.05)  # the hit's moment
    expect(page.locator("button.segment[aria-current='true']")).to_contain_text(SELFISH)

    first = transcript["segments"][0]
    second = transcript["segments"][1]
    page.locator("button.segment").nth(1).click()
    page.wait_for_function(f"() => document.querySelector('audio').currentTime >= {second['start'] - 0.01}")
    assert second["start"] - 0.01 <= audio_time(page) < second["end"]
    expect(page.locator("button.segment[aria-current='true']")).to_contain_text(second["text"].strip()[:20])
    page.locator("button.segment").first.focus()
    page.keyboard.press("Enter")  # the keyboard seeks as the pointer does
    page.wait_for_function(f"() => document.querySelector('audio').currentTime < {first['end']}")
    viewer.screenshot("viewer-transcript")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download SRT").click()
    assert download.value.suggested_filename == SAMPLE_NAME.rsplit(".", 1)[0] + ".srt"
    path = download.value.path()
    expected = admin.get(f"/v1/transcripts/{transcript['id']}", params={"format": "srt"}).raise_for_status().text
    assert path.read_text() == expected
    assert "-->" in expected and SELFISH in expected


def test_semantic_search_links_to_the_moment(
    viewer: Visit, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    deadline = time.monotonic() + 120
    while admin.get("/v1/search", params={"q": "x", "mode": "semantic"}).status_code == 503:  # the model loads
        assert time.monotonic() < deadline, "the embedding model did not load"
        time.sleep(1)
    page = viewer.page
    sign_in(page, stack.url, viewer_token)
    page.goto(f"{stack.url}/ui/#/search?q=a+young+man+who+is+not+generous&mode=semantic")
    expect(page.get_by_role("heading", level=2)).to_contain_text("by meaning")
    meant = page.locator("ol.hits a", has_text=SELFISH).first  # among the closest (near-ties may swap)
    expect(meant).to_be_visible()
    assert page.locator("ol.hits a").all_inner_texts().index(meant.inner_text()) < 2
    meant.click()
    wait_for_audio(page)
    expect(page.locator("button.segment[aria-current='true']")).to_contain_text(SELFISH)


def test_jobs_show_their_phase_and_device(viewer: Visit, stack: ServingStack, viewer_token: str) -> None:
    page = viewer.page
    sign_in(page, stack.url, viewer_token)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("cpu")
    viewer.screenshot("viewer-jobs")
    page.get_by_label("Phase").select_option("Failed")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No jobs match.")).to_be_visible()
    page.get_by_label("Phase").select_option("Succeeded")
    page.get_by_role("button", name="Apply").click()
    row.get_by_role("link").first.click()
    expect(page.locator("dl.facts")).to_contain_text("Succeeded")
    page.get_by_role("link", name="Open the transcript").click()
    expect(page.get_by_role("heading", level=1, name=SAMPLE_NAME)).to_be_visible()


def test_the_token_stays_in_its_tab_and_a_link_token_leaves_the_address_bar(
    browser: Browser, stack: ServingStack, viewer_token: str
) -> None:
    link = f"{stack.url}/ui/#token={viewer_token}"
    assert link in stack.output()  # `dhg up` prints the viewer's link, signed in with its read-only token
    refused = httpx.delete(f"{stack.url}/v1/tokens/{uuid.uuid4()}", headers={"Authorization": f"Bearer {viewer_token}"})
    assert refused.status_code == 403  # read only
    with visit(browser, stack.url) as first:
        first.page.goto(link)
        expect(first.page.get_by_role("link", name=SAMPLE_NAME)).to_be_visible()
        assert "token" not in first.page.url and first.page.url.endswith("#/transcripts")
        assert first.page.evaluate("window.localStorage.length") == 0
        assert first.page.evaluate("document.cookie") == ""
        other = first.page.context.new_page()  # another tab: sessionStorage is per tab
        other.goto(f"{stack.url}/ui/")
        expect(other.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
        first.page.get_by_role("button", name="Sign out").click()
        expect(first.page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
        assert first.page.evaluate("window.sessionStorage.length") == 0
        first.assert_offline_clean()


def test_a_revoked_token_is_signed_out_with_a_reason(viewer: Visit, stack: ServingStack, admin: httpx.Client) -> None:
    created = admin.post("/v1/tokens", json={"name": "viewer-revoked", "scopes": ["read"]}).raise_for_status().json()
    page = viewer.page
    sign_in(page, stack.url, created["token"])
    admin.delete(f"/v1/tokens/{created['id']}").raise_for_status()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("refused this token")
    # A 401 is what the page answers; the browser logs each refused request as an error of its own.
    viewer.console_errors.clear()


def test_a_token_without_the_read_scope_is_refused_at_sign_in(
    viewer: Visit, stack: ServingStack, admin: httpx.Client
) -> None:
    created = admin.post("/v1/tokens", json={"name": "ingest-only", "scopes": ["ingest"]}).raise_for_status().json()
    page = viewer.page
    page.goto(f"{stack.url}/ui/")
    page.get_by_label("Registry token").fill(created["token"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("needs the read scope")
    viewer.console_errors.clear()


def test_what_a_transcript_says_is_shown_never_run(
    viewer: Visit, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    markup = '<img src=x onerror="window.__ran=1"><script>window.__ran=2</script>'
    pushed = (
        admin.post(
            "/v1/transcripts",
            json={
                "job_id": str(uuid.uuid4()),
                "language": "en",
                "segments": [{"start": 0.0, "end": 1.0, "text": markup}],
            },
        )
        .raise_for_status()
        .json()
    )
    page = viewer.page
    sign_in(page, stack.url, viewer_token)
    page.goto(f"{stack.url}/ui/#/transcripts/{pushed['id']}")
    expect(page.locator("button.segment .text")).to_have_text(markup)
    assert page.evaluate("window.__ran") is None
    assert page.locator("main img").count() == 0
    expect(page.get_by_text("No audio is stored with this transcript.")).to_be_visible()


def test_a_transcript_shows_its_model_and_the_language_it_detected(
    viewer: Visit, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    segments = [{"start": 0.0, "end": 2.0, "text": "Guten Morgen."}]
    detected = {"job_id": str(uuid.uuid4()), "language": "de", "language_probability": 0.734, "model": "base"}
    given = {"job_id": str(uuid.uuid4()), "language": "en", "model": "tiny.en"}
    pushed = [
        admin.post("/v1/transcripts", json={**body, "segments": segments}).raise_for_status().json()
        for body in (detected, given)
    ]
    assert pushed[0]["language_probability"] == 0.734 and pushed[1]["language_probability"] is None
    page = viewer.page
    sign_in(page, stack.url, viewer_token)
    for transcript, language, model in zip(pushed, ("de (detected, 73% sure)", "en"), ("base", "tiny.en"), strict=True):
        page.goto(f"{stack.url}/ui/#/transcripts/{transcript['id']}")
        facts = page.locator("dl.facts")
        expect(facts.locator("dt:text-is('Language') + dd")).to_have_text(language)
        expect(facts.locator("dt:text-is('Model') + dd")).to_have_text(model)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_view_has_no_serious_accessibility_violation(
    browser: Browser, stack: ServingStack, viewer_token: str, admin: httpx.Client, viewport: dict[str, int]
) -> None:
    transcript = sample_transcript(admin)
    width = "phone" if viewport == PHONE else "desktop"
    with visit(browser, stack.url, viewport=viewport) as current:
        page = current.page
        page.goto(f"{stack.url}/ui/")
        expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
        views = {"sign-in": None}
        sign_in(page, stack.url, viewer_token)
        views |= {
            "transcripts": "#/transcripts",
            "search": "#/search?q=selfish&mode=fulltext",
            "transcript": f"#/transcripts/{transcript['id']}?t=8",
            "jobs": "#/jobs",
            "job": f"#/jobs/{transcript['job_id']}",
        }
        for name, fragment in views.items():
            if fragment:
                page.goto(f"{stack.url}/ui/{fragment}")
                page.wait_for_function("() => !document.querySelector('main').textContent.includes('Loading…')")
            if name == "transcript":
                wait_for_audio(page)
            assert current.accessibility_violations() == [], name
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} scrolls sideways at {viewport['width']} px"
            if viewport == PHONE:
                current.screenshot(f"viewer-{name}-{width}")
        current.assert_offline_clean()


def test_speakers_are_shown_with_their_talk_time(
    viewer: Visit, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    segments = [
        {"start": 0.0, "end": 4.0, "text": "Shall we start with the budget?", "speaker": "Alice"},
        {"start": 4.5, "end": 6.0, "text": "Yes, the budget first.", "speaker": "B"},
    ]
    body = {"job_id": str(uuid.uuid4()), "language": "en", "segments": segments}
    pushed = admin.post("/v1/transcripts", json=body).raise_for_status().json()
    page = viewer.page
    sign_in(page, stack.url, viewer_token)
    page.goto(f"{stack.url}/ui/#/transcripts/{pushed['id']}")
    expect(page.locator("dl.facts")).to_contain_text("Alice 0:04, B 0:01")
    expect(page.locator("button.segment .speaker")).to_have_text(["Alice", "B"])
    page.goto(f"{stack.url}/ui/#/search?q=budget&mode=fulltext&speaker=B")
    expect(page.locator("ol.hits li")).to_have_count(1)
    expect(page.locator("ol.hits .hit-meta")).to_contain_text("B")


LONG_SECONDS = 20 * 60
SEEK_TO = 1150.0


def test_a_long_recording_streams_only_the_ranges_it_plays(
    browser: Browser, stack: ServingStack, viewer_token: str, admin: httpx.Client
) -> None:
    """20 minutes of WAV (38 MB): the player starts at once and, sent to a segment near the end, fetches that part of
    the file with a Range request, not the whole file first; the link it streams from carries no token."""
    import numpy as np

    from asr.diarization.evaluation import wav
    from tests.browser.support import CountingProxy

    rate = 16_000
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(rate * LONG_SECONDS) / rate)).astype(np.float32)
    audio = wav(tone, rate)
    asset = admin.post("/v1/assets", files={"file": ("long-meeting.wav", audio, "audio/wav")}).raise_for_status().json()
    segments = [{"start": s, "end": s + 5, "text": f"said at {s:g} seconds"} for s in (0.0, 600.0, SEEK_TO)]
    body = {"job_id": str(uuid.uuid4()), "asset_id": asset["id"], "segments": segments}
    transcript = admin.post("/v1/transcripts", json=body).raise_for_status().json()
    proxy = CountingProxy(stack.port)
    try:
        with visit(browser, proxy.origin) as current:
            page = current.page
            sign_in(page, proxy.origin, viewer_token)
            page.goto(f"{proxy.origin}/ui/#/transcripts/{transcript['id']}")
            wait_for_audio(page)
            assert page.evaluate("document.querySelector('audio').duration") == pytest.approx(LONG_SECONDS, abs=1)
            page.locator("button.segment").nth(2).click()
            page.wait_for_function(
                f"() => {{ const a = document.querySelector('audio'); return Math.abs(a.currentTime - {SEEK_TO}) < 2 "
                "&& a.readyState >= 3 }"
            )
            current.assert_offline_clean()
            assert current.console_errors == []
    finally:
        proxy.close()
    media = [(line, ranged) for line, ranged in proxy.requests if "/content?" in line]
    assert media and all("token" not in line.lower() for line, _ in media), media
    seek_offset = 44 + int(SEEK_TO * rate) * 2  # the WAV header, then 2 bytes a sample
    starts = [int(ranged.split("=")[1].split("-")[0]) for _, ranged in media if ranged and ranged.startswith("bytes=")]
    assert any(abs(start - seek_offset) < 2_000_000 for start in starts), (media, seek_offset)
    # what Chromium and the sockets buffer ahead of two ranges (about 10 MB here), not the 38 MB a download would be
    assert proxy.content_bytes < len(audio) / 2, f"fetched {proxy.content_bytes} of {len(audio)} bytes: {media}"
    for line, _ in media:  # a link is good for its asset only, and never without its signature
        path = line.split()[1]
        other = path.replace(asset["id"], transcript["id"])
        assert httpx.get(f"{stack.url}{other}").status_code == 401
        assert httpx.get(f"{stack.url}{path.split('&signature=')[0]}").status_code == 401  # no link, no token
