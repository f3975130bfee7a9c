"""`registry.worker` embeds segments that the API stored with its own embedding loop switched off."""

import asyncio
import time
import uuid

from registry import worker
from registry.settings import Settings
from tests.conftest import start_registry


def test_the_standalone_worker_embeds_the_backlog(postgres, tmp_path):
    database_url = postgres.create_database(f"worker_{uuid.uuid4().hex[:8]}")
    server = start_registry(database_url, tmp_path, embeddings="on", embeddings_worker=False)
    try:
        with server.client(server.admin_token) as admin:
            admin.post(
                "/v1/transcripts",
                json={
                    "job_id": str(uuid.uuid4()),
                    "segments": [
                        {"start": 0, "end": 2, "text": "The rocket reached orbit."},
                        {"start": 2, "end": 4, "text": "Flour, sugar and eggs make a cake."},
                    ],
                },
            )
            for _ in range(600):  # the API loads its model (for queries) in the background after start
                response = admin.get("/v1/search", params={"q": "baking", "mode": "semantic"})
                if response.status_code != 503:
                    break
                time.sleep(0.1)
            assert response.json()["items"] == []  # nothing embedded: the API's own loop is off

            settings = Settings(
                database_url=database_url, embeddings="on", webhooks_enabled=False, embedding_poll_seconds=0.1
            )

            async def run_until_embedded():
                task = asyncio.create_task(worker.run(settings))
                for _ in range(600):
                    hits = admin.get("/v1/search", params={"q": "baking", "mode": "semantic"}).json()["items"]
                    if len(hits) == 2:
                        break
                    await asyncio.sleep(0.1)
                task.cancel()
                return hits

            hits = asyncio.run(run_until_embedded())
            assert hits[0]["text"] == "Flour, sugar and eggs make a cake."
    finally:
        server.stop()
