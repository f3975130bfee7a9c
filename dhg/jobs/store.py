"""TranscriptionJob objects of local mode, kept in the local PostgreSQL (database `dhg_jobs`), as the API server
keeps them on a cluster: a uid, a generation, the spec (immutable), the status, Events, and a deletion request.

`dhg apply` writes here; the local runner inside `dhg up` reads the objects and writes their status. The tables
are created by the first connection (`CREATE ... IF NOT EXISTS`): nothing else uses this database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from controller.model import API_VERSION, KIND
from dhg.jobs.manifests import IMMUTABLE_MESSAGE, Manifest, ManifestError, spec_of

DATABASE = "dhg_jobs"
SCHEMA = """
CREATE TABLE IF NOT EXISTS transcription_jobs (
    uid uuid PRIMARY KEY,
    namespace text NOT NULL,
    name text NOT NULL,
    generation integer NOT NULL DEFAULT 1,
    labels jsonb NOT NULL DEFAULT '{}',
    annotations jsonb NOT NULL DEFAULT '{}',
    spec jsonb NOT NULL,
    status jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    deletion_requested_at timestamptz,
    UNIQUE (namespace, name)
);
CREATE TABLE IF NOT EXISTS transcription_job_events (
    id bigserial PRIMARY KEY,
    job_uid uuid NOT NULL REFERENCES transcription_jobs (uid) ON DELETE CASCADE,
    type text NOT NULL,
    reason text NOT NULL,
    message text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS transcription_job_events_job ON transcription_job_events (job_uid, id);
"""
Outcome = Literal["created", "configured", "unchanged"]


def connection_url(port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres@{host}:{port}/{DATABASE}"


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True)
class Applied:
    origin: str
    namespace: str
    name: str
    outcome: Outcome


CHANGED = "dhg_jobs"  # the channel a NOTIFY wakes the runner on: an object created or marked for deletion


class JobStore:
    """One connection (autocommit; transactions where several writes go together), opened on first use and
    again after it broke; use one store per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.Connection[dict[str, Any]] | None = None
        with self._connect() as connection:
            connection.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = psycopg.connect(self.url, row_factory=dict_row, connect_timeout=10, autocommit=True)
        yield self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def listen(self) -> psycopg.Connection[Any]:
        """A connection of its own that NOTIFYs of new work reach (`notifies(timeout=...)`)."""
        connection = psycopg.connect(self.url, connect_timeout=10, autocommit=True)
        connection.execute(f"LISTEN {CHANGED}")
        return connection

    def apply(self, manifests: Sequence[Manifest], *, continue_on_error: bool = False) -> list[Applied | ManifestError]:
        """Create each object, or leave it when its spec is unchanged (labels and annotations may change); a
        changed spec is refused with the CRD's immutability message. One transaction: with a refusal, nothing is
        applied unless `continue_on_error`, when the others are (and the refusal is in the list)."""
        results: list[Applied | ManifestError] = []
        with self._connect() as connection, connection.transaction():
            for manifest in manifests:
                try:
                    with connection.transaction():  # a savepoint: a refusal undoes this one only
                        results.append(self._apply_one(connection, manifest))
                except ManifestError as error:
                    if not continue_on_error:
                        raise
                    results.append(error)
            connection.execute(f"NOTIFY {CHANGED}")  # delivered at commit
        return results

    def _apply_one(self, connection: psycopg.Connection[dict[str, Any]], manifest: Manifest) -> Applied:
        (namespace, name), job = manifest.key, manifest.job
        spec = spec_of(job)
        labels = dict(job.metadata.model_extra.get("labels") or {}) if job.metadata.model_extra else {}
        annotations = dict(job.metadata.model_extra.get("annotations") or {}) if job.metadata.model_extra else {}
        row = connection.execute(
            "SELECT uid, spec, labels, annotations, deletion_requested_at FROM transcription_jobs "
            "WHERE namespace = %s AND name = %s FOR UPDATE",
            (namespace, name),
        ).fetchone()
        if row is None:
            connection.execute(
                "INSERT INTO transcription_jobs (uid, namespace, name, labels, annotations, spec) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (uuid.uuid4(), namespace, name, Jsonb(labels), Jsonb(annotations), Jsonb(spec)),
            )
            return Applied(manifest.origin, namespace, name, "created")
        if row["deletion_requested_at"] is not None:
            raise ManifestError(
                f'{manifest.origin}: Operation cannot be fulfilled on {KIND} "{name}": the object is being deleted'
            )
        if row["spec"] != spec:
            raise ManifestError(
                f'{manifest.origin}: The {KIND} "{name}" is invalid: spec: Invalid value: "object": {IMMUTABLE_MESSAGE}'
            )
        if (row["labels"], row["annotations"]) == (labels, annotations):
            return Applied(manifest.origin, namespace, name, "unchanged")
        connection.execute(
            "UPDATE transcription_jobs SET labels = %s, annotations = %s WHERE uid = %s",
            (Jsonb(labels), Jsonb(annotations), row["uid"]),
        )
        return Applied(manifest.origin, namespace, name, "configured")

    @staticmethod
    def _object(row: dict[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": row["name"],
            "namespace": row["namespace"],
            "uid": str(row["uid"]),
            "generation": row["generation"],
            "creationTimestamp": _rfc3339(row["created_at"]),
        }
        if row["labels"]:
            metadata["labels"] = row["labels"]
        if row["annotations"]:
            metadata["annotations"] = row["annotations"]
        if row["deletion_requested_at"] is not None:
            metadata["deletionTimestamp"] = _rfc3339(row["deletion_requested_at"])
        document = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": row["spec"]}
        if row["status"]:
            document["status"] = row["status"]
        return document

    def objects(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object (of one namespace), oldest first; as the API server returns them."""
        query = "SELECT * FROM transcription_jobs"
        where, arguments = ("", ()) if namespace is None else (" WHERE namespace = %s", (namespace,))
        with self._connect() as connection:
            rows = connection.execute(query + where + " ORDER BY created_at, name", arguments).fetchall()
        return [self._object(row) for row in rows]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT * FROM transcription_jobs WHERE namespace = %s AND name = %s", (namespace, name)
            ).fetchone()
        return self._object(row) if row else None

    def events(self, uid: str) -> list[dict[str, Any]]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT type, reason, message, at FROM transcription_job_events WHERE job_uid = %s ORDER BY id",
                (uid,),
            ).fetchall()
        return [{**row, "at": _rfc3339(row["at"])} for row in rows]

    def write_status(self, uid: str, status: dict[str, Any], events: Sequence[tuple[str, str, str]] = ()) -> None:
        """The runner's write: the whole status and the pass's Events, together."""
        with self._connect() as connection, connection.transaction():
            connection.execute("UPDATE transcription_jobs SET status = %s WHERE uid = %s", (Jsonb(status), uid))
            for kind, reason, message in events:
                connection.execute(
                    "INSERT INTO transcription_job_events (job_uid, type, reason, message) VALUES (%s, %s, %s, %s)",
                    (uid, kind, reason, message),
                )

    def request_deletion(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Mark the object for deletion (the runner stops its worker, then removes it); None when absent."""
        with self._connect() as connection, connection.transaction():
            row = connection.execute(
                "UPDATE transcription_jobs SET deletion_requested_at = coalesce(deletion_requested_at, now()) "
                "WHERE namespace = %s AND name = %s RETURNING *",
                (namespace, name),
            ).fetchone()
            connection.execute(f"NOTIFY {CHANGED}")
        return self._object(row) if row else None

    def remove(self, uid: str) -> None:
        with self._connect() as connection:
            connection.execute("DELETE FROM transcription_jobs WHERE uid = %s", (uid,))
