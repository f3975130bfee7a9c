"""`python -m controller`: run the operator (the chart's Deployment runs this)."""

from __future__ import annotations

import kopf

from controller import logs, operator  # noqa: F401 (operator: registers the handlers)
from controller.settings import get_settings


def main() -> None:
    settings = get_settings()
    logs.configure(settings.log_level)
    kopf.run(
        standalone=settings.standalone,
        # A peering name makes peering mandatory: replicas wait for the peering object rather than all acting.
        peering_name=None if settings.standalone else settings.peering_name,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
