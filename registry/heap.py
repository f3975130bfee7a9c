"""Keep the garbage collector's full passes short on a long-running server.

A full (generation 2) collection walks every tracked object. Right after start-up the heap holds hundreds of
thousands of long-lived objects (FastAPI, pydantic, SQLAlchemy, psycopg, and torch once the embedding model is
loaded): walking them stalls every request in flight, long enough to break the p99 target on its own
(bench/README.md). Objects that live for the life of the process are moved out of the collector's
sight with `gc.freeze()`; what requests allocate is still collected as before.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left behind, then freeze the survivors (call again after loading a big model)."""
    gc.collect()
    gc.freeze()
