"""`python -m controller`: run the operator (the chart's Deployment runs this)."""

from __future__ import annotations

import sys

import kopf

from controller import logs, operator  # noqa: F401 (operator: registers the handlers)
from controller.settings import get_settings

USAGE = """usage: python -m controller [--help]

Run the TranscriptionJob operator. It takes no arguments: its settings come from DHG_CONTROLLER_* environment
variables (and KUBECONFIG outside a pod). --help prints this and the settings in effect (secrets masked)."""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    settings = get_settings()
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        print(settings.model_dump_json(indent=2))
        return
    if args:
        sys.exit(f"python -m controller takes no arguments (got {' '.join(args)}); see --help")
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
