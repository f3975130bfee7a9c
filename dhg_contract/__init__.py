"""The Registry's wire contract, on its own: the API's models (`schemas`) and the typed Python client (`client`),
imported by the Registry itself, the ASR service, the worker, the controller and the command line alike, without
the Registry's server code (no database, no web framework: pydantic and httpx)."""
