"""A lean HTTP/1.1 keep-alive client for the load generator.

httpx spends ~0.5 ms of CPU per request; on a 2-core machine that the server and Postgres share with the
client, that CPU would be taken from the system under test. This client only frames requests and reads
Content-Length or chunked responses over one persistent loopback connection per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
HEADER_END = b"\r\n\r\n"


class HttpError(RuntimeError):
    """The server closed the connection or sent something this client does not understand."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class Connection:
    """One keep-alive connection to 127.0.0.1:`port`, used by one task at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self._prefix = f"Host: {LOOPBACK}:{port}\r\nAuthorization: Bearer {token}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(LOOPBACK, self.port)
        return self._reader, self._writer

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and read its whole response; reconnects if the server closed the socket."""
        reader, writer = await self._open()
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._prefix
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        writer.write(head + b"\r\n" + (body or b""))
        try:
            return await self._read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            await self.close()
            raise HttpError(f"{method} {path}: connection lost ({error!r})") from error

    async def _read_response(self, reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(HEADER_END)
        status_line, _, header_block = head.partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        chunked = False
        keep_alive = True
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
        if chunked:
            body = await self._read_chunked(reader)
        elif length >= 0:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            keep_alive = False
        if not keep_alive:
            await self.close()
        return Response(status, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our server: just the final CRLF
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
