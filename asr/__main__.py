"""`python -m asr`: serve the ASR API with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from asr.app import create_app
from asr.settings import get_settings
from dhg_core.logs import configure_logging


def main(host: str = "127.0.0.1", port: int = 8001) -> None:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    typer.run(main)
