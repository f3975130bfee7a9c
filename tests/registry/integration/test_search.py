"""Search: the real embedding model, pgvector HNSW, and full-text, on real sentences."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

SENTENCES = [
    "The surgeon washed her hands before the operation began.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "Our cat sleeps on the windowsill every afternoon in the sun.",
    "The rocket lifted off from the launch pad and reached orbit.",
    "Add two cups of flour and a pinch of salt to the mixing bowl.",
    "The striker scored a goal in the final minute of the match.",
]
QUERIES = [
    ("a doctor preparing for surgery", 0),
    ("the economy and monetary policy", 1),
    ("a pet resting by the window", 2),
    ("space flight to orbit", 3),
    ("a baking recipe", 4),
    ("football game", 5),
]


@pytest.fixture(scope="module")
def indexed(registry):
    """One transcript of the six sentences, embedded by the Registry's own background worker."""
    with registry.client(registry.admin_token) as admin:
        segments = [{"start": 3.0 * i, "end": 3.0 * i + 2.5, "text": s} for i, s in enumerate(SENTENCES)]
        created = admin.post(
            "/v1/transcripts", json={"job_id": str(uuid.uuid4()), "language": "en", "segments": segments}
        ).json()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            hits = admin.get(
                "/v1/search", params={"q": "anything", "mode": "semantic", "limit": 10, "transcript_id": created["id"]}
            ).json()
            if hits.get("mode") == "semantic" and len(hits["items"]) == len(SENTENCES):
                return created
            time.sleep(0.2)
        raise AssertionError(f"segments were not embedded in time: {hits}")


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_semantic_search_puts_the_closest_sentence_first(reader, indexed, query, expected):
    result = reader.get("/v1/search", params={"q": query, "mode": "semantic", "transcript_id": indexed["id"]}).json()
    assert result["mode"] == "semantic"
    top = result["items"][0]
    assert top["text"] == SENTENCES[expected], [(h["text"], h["score"]) for h in result["items"]]
    assert top["position"] == expected and top["start"] == 3.0 * expected
    scores = [h["score"] for h in result["items"]]
    assert scores == sorted(scores, reverse=True) and -1 <= scores[-1] <= scores[0] <= 1
    assert scores[0] - scores[1] > 0.05


def test_auto_mode_is_hybrid_when_the_model_is_loaded(reader, indexed):
    result = reader.get("/v1/search", params={"q": "football game", "transcript_id": indexed["id"]}).json()
    assert result["mode"] == "hybrid" and result["items"][0]["position"] == 5  # no shared word: found by meaning


def test_hybrid_search_finds_what_either_side_finds(reader, indexed):
    """Two sentences named by their words in one query come first, fused from both rankings (whatever the model
    makes of the mixture: a hit that only the model ranks scores at most 1/61, one in both at least 1/62 + 1/66)."""
    params = {"q": "a pinch of salt for the surgeon", "mode": "hybrid", "transcript_id": indexed["id"]}
    result = reader.get("/v1/search", params=params).json()
    assert result["mode"] == "hybrid"
    assert {hit["position"] for hit in result["items"][:2]} == {0, 4}, result
    scores = [hit["score"] for hit in result["items"]]
    assert scores == sorted(scores, reverse=True) and scores[1] > 1 / 62 + 1 / 66 - 1e-9 > 1 / 61 >= scores[2]
    assert reader.get("/v1/search", params=params).json() == result  # the same answer every time


def test_fulltext_search_matches_word_stems(reader, indexed):
    result = reader.get(
        "/v1/search", params={"q": "scoring goals", "mode": "fulltext", "transcript_id": indexed["id"]}
    ).json()
    assert result["mode"] == "fulltext"
    assert [h["position"] for h in result["items"]] == [5]
    assert result["items"][0]["score"] > 0


SPOKEN = [
    "He was not an ill-disposed young man,",
    "unless to be rather cold-hearted and rather selfish",
    "is to be ill-disposed.",
    "a selfish young man stood by the door",
    "He was not an ill-disposed young man,",  # said twice: a tie, broken the same way every time
]


def test_fulltext_search_finds_any_of_the_words_most_of_them_first(reader, writer):
    """A query's words need not all be in one segment (a sentence split across segments is still found): segments
    with more of them come first, ties in a fixed order."""
    segments = [{"start": 2.0 * i, "end": 2.0 * i + 1.5, "text": text} for i, text in enumerate(SPOKEN)]
    created = writer.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": segments}).json()
    params = {"q": "a selfish young man", "mode": "fulltext", "transcript_id": created["id"]}
    first = reader.get("/v1/search", params=params).json()
    positions = [hit["position"] for hit in first["items"]]
    assert positions[0] == 3, first  # all three words
    assert sorted(positions[1:3]) == [0, 4] and positions[3] == 1, first  # two words ("young man"), then one
    assert 2 not in positions  # none of the words
    assert [hit["position"] for hit in reader.get("/v1/search", params=params).json()["items"]] == positions
    assert reader.get("/v1/search", params={**params, "q": "the of and"}).json()["items"] == []  # stop words only


def test_filters_and_min_score_narrow_the_hits(reader, indexed):
    other = reader.get("/v1/search", params={"q": "a baking recipe", "mode": "semantic", "language": "zz"}).json()
    assert other["items"] == []
    strict = reader.get(
        "/v1/search",
        params={"q": "a baking recipe", "mode": "semantic", "min_score": 0.3, "transcript_id": indexed["id"]},
    ).json()
    assert [h["position"] for h in strict["items"]] == [4]


def test_concurrent_searches_share_one_call_of_the_model_and_each_gets_its_own_hits(registry, reader, indexed):
    """Searches sent at once queue behind the model's call in progress and are embedded together in its next one
    (the batch-size metric shows a batch of more than one query), and each still gets the hits of its own query.
    Rounds of twelve at once go on until a batch has formed (each round almost always forms one)."""
    from registry import metrics

    def batches() -> tuple[float, float]:
        samples = {
            s.name: s.value for s in metrics.SEARCH_QUERY_BATCH_SIZE.collect()[0].samples if "le" not in s.labels
        }
        return samples["dhg_registry_search_query_batch_size_count"], samples[
            "dhg_registry_search_query_batch_size_sum"
        ]

    asked = QUERIES * 2
    gate = threading.Barrier(len(asked))

    def search(query: str) -> dict:
        with registry.client(reader.headers["Authorization"].removeprefix("Bearer ")) as client:
            gate.wait(30)
            params = {"q": query, "mode": "semantic", "transcript_id": indexed["id"]}
            return client.get("/v1/search", params=params).json()

    count, total = batches()
    for _ in range(20):
        with ThreadPoolExecutor(len(asked)) as pool:
            answers = list(pool.map(search, [query for query, _ in asked]))
        for (query, expected), answer in zip(asked, answers, strict=True):
            assert answer["mode"] == "semantic" and answer["items"][0]["text"] == SENTENCES[expected], (query, answer)
        now_count, now_total = batches()
        assert now_total - total >= len(asked)  # every query was embedded through the encoder
        if now_total - total > now_count - count:  # some call of the model held more than one query
            return
        count, total = now_count, now_total
    raise AssertionError("twenty rounds of twelve concurrent searches never shared a call of the model")


def test_search_refuses_an_empty_query(reader):
    response = reader.get("/v1/search", params={"q": ""})
    assert response.status_code == 422 and response.json()["type"].endswith("/validation")


def test_semantic_mode_without_the_model_is_a_clear_503_and_auto_falls_back(postgres, tmp_path):
    from tests.conftest import start_registry

    server = start_registry(postgres.create_database(f"nomodel_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="off")
    try:
        with server.client(server.admin_token) as admin:
            admin.post(
                "/v1/transcripts",
                json={
                    "job_id": str(uuid.uuid4()),
                    "segments": [{"start": 0, "end": 1, "text": "The striker scored a goal."}],
                },
            )
            response = admin.get("/v1/search", params={"q": "goal", "mode": "semantic"})
            assert response.status_code == 503 and response.json()["type"].endswith("/unavailable")
            assert "retry-after" not in response.headers  # off for good: retrying will not help
            fallback = admin.get("/v1/search", params={"q": "goal"}).json()
            assert fallback["mode"] == "fulltext" and fallback["items"][0]["text"] == "The striker scored a goal."
            asked = admin.get("/v1/search", params={"q": "goal", "mode": "hybrid"}).json()  # its full-text half
            assert asked["mode"] == "fulltext" and asked["items"] == fallback["items"]
    finally:
        server.stop()


def test_semantic_mode_while_the_model_loads_is_a_503_with_retry_after(postgres, tmp_path, monkeypatch):
    from registry import embeddings
    from tests.conftest import start_registry

    loading = threading.Event()
    release = threading.Event()
    real_load = embeddings.load_embedder

    def slow_load(settings):
        loading.set()
        assert release.wait(60)
        return real_load(settings)

    monkeypatch.setattr(embeddings, "load_embedder", slow_load)
    server = start_registry(postgres.create_database(f"loading_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="on")
    try:
        with server.client(server.admin_token) as admin:
            assert loading.wait(30)
            response = admin.get("/v1/search", params={"q": "goal", "mode": "semantic"})
            assert response.status_code == 503 and response.json()["type"].endswith("/unavailable")
            assert int(response.headers["retry-after"]) == response.json()["retry_after"] > 0
            assert admin.get("/v1/search", params={"q": "goal"}).json()["mode"] == "fulltext"
            release.set()
            deadline = time.monotonic() + 60
            while (answer := admin.get("/v1/search", params={"q": "goal", "mode": "semantic"})).status_code == 503:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.1)
            assert answer.status_code == 200 and answer.json()["mode"] == "semantic"
    finally:
        release.set()
        server.stop()


def test_hybrid_search_finds_by_words_the_segments_not_embedded_yet(postgres, tmp_path):
    """The model loaded but nothing embedded (no embedding worker in this process): semantic search finds nothing,
    hybrid finds the segment by its words."""
    from tests.conftest import start_registry

    database = postgres.create_database(f"unembedded_{uuid.uuid4().hex[:8]}")
    server = start_registry(database, tmp_path, embeddings="on", embeddings_worker=False)
    try:
        with server.client(server.admin_token) as admin:
            segments = [{"start": 0, "end": 1, "text": "The striker scored a goal."}]
            admin.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": segments})
            deadline = time.monotonic() + 120
            while (semantic := admin.get("/v1/search", params={"q": "goal", "mode": "semantic"})).status_code == 503:
                assert time.monotonic() < deadline, semantic.text  # the model loads
                time.sleep(0.2)
            assert semantic.json()["items"] == []
            found = admin.get("/v1/search", params={"q": "scoring goals"}).json()
            assert found["mode"] == "hybrid" and [hit["text"] for hit in found["items"]] == [segments[0]["text"]]
    finally:
        server.stop()
