"""create_app's wiring that needs no database."""

import pytest

from registry.app import create_app
from registry.settings import Settings


@pytest.mark.parametrize("enabled", [False, True])
def test_fastapi_opentelemetry_follows_the_setting(enabled: bool) -> None:
    """Off by default: FastAPI's native telemetry looks up the global providers on every request otherwise."""
    app = create_app(Settings(database_url="postgresql+psycopg://x@127.0.0.1:1/x", opentelemetry=enabled))
    config = app._native_telemetry.config  # FastAPI keeps the config it was given here
    assert (config["tracing"], config["metrics"], config["logs"]) == (enabled, enabled, enabled)
