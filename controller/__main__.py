"""`python -m controller`: run the operator (the chart's Deployment runs this)."""

from __future__ import annotations

import kopf

from controller import operator  # noqa: F401 (registers the handlers)
from controller.settings import get_settings
from registry.logs import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging("controller", settings.log_level)
    kopf.run(
        standalone=settings.standalone,
        peering_name=settings.peering_name,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
