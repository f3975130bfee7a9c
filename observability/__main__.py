"""`python -m observability [CHART_FILES_DIR]`: write the rule files and dashboards the chart ships (the drift
tests fail until they are written again after a change here or in a metrics module)."""

from __future__ import annotations

import sys
from pathlib import Path

from observability import dashboards, rules

CHART_FILES = Path(__file__).resolve().parents[1] / "charts" / "dhg-factory" / "files"


def main(argv: list[str]) -> None:
    directory = Path(argv[0]) if argv else CHART_FILES
    rules.write(directory)
    dashboards.write(directory)
    print(f"wrote the rules and dashboards under {directory}")


if __name__ == "__main__":
    main(sys.argv[1:])
