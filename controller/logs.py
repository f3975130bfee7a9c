"""The operator's JSON logs: Kopf's per-object records carry the object's reference and the whole operator
settings as extras; keep the object, as `job` (namespace/name, what Loki filters on) for a TranscriptionJob and
as `object` ("Kind namespace/name") for anything else, and drop the rest."""

from __future__ import annotations

import logging

from dhg_core.logs import configure_logging

KOPF_EXTRAS = ("settings", "k8s_skip", "k8s_ref")


class KopfRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        reference = getattr(record, "k8s_ref", None)
        if isinstance(reference, dict):
            namespace, name = reference.get("namespace"), reference.get("name")
            where = f"{namespace}/{name}" if namespace else str(name)
            if reference.get("kind") == "TranscriptionJob":
                record.__dict__.setdefault("job", where)
            else:
                record.__dict__.setdefault("object", f"{reference.get('kind')} {where}")
        for key in KOPF_EXTRAS:
            record.__dict__.pop(key, None)
        return True


def configure(level: str) -> None:
    configure_logging("controller", level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(KopfRecords())
