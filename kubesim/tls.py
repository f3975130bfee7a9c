"""A self-signed certificate for 127.0.0.1, made once per process with the openssl command.

TLS is needed because clients only send credentials over it: kubectl (client-go's clientcmd) drops a
kubeconfig's token for an http:// server, so the port where tokens decide who is asking is HTTPS.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

OPENSSL_ARGS = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "3650",
    "-subj",
    "/CN=test-kube-api",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,digitalSignature,keyCertSign",
    "-addext",
    "extendedKeyUsage=serverAuth",
]
_folder = tempfile.TemporaryDirectory(prefix="kube-api-tls-")
atexit.register(_folder.cleanup)


@functools.cache
def certificate() -> tuple[Path, Path]:
    """(certificate, key) PEM files; the certificate is also the CA clients trust."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the test Kubernetes API needs the openssl command for its HTTPS port")
    cert, key = Path(_folder.name) / "server.crt", Path(_folder.name) / "server.key"
    subprocess.run(
        [openssl, *OPENSSL_ARGS, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30
    )
    return cert, key


def server_context() -> ssl.SSLContext:
    cert, key = certificate()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def client_context() -> ssl.SSLContext:
    """What an httpx client passes as `verify=` to trust the server."""
    return ssl.create_default_context(cafile=str(certificate()[0]))
