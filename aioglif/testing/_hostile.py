"""Hostile answers: what a broken proxy, a compromised server or a bad day can send.

Each is a :class:`~aioglif.testing.Fault` (``Fault.huge_body(...)``, ``Fault.gzip_bomb(...)``,
...) injected like any other. Here an answer is planned as pure data (:class:`Answer`: status,
headers, a lazy stream of chunks, a pause between chunks), so that the socket server and the
in-memory wire serve exactly the same bytes, and a 300 MB answer is never held in memory.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from ._faults import Fault

__all__ = ["AFTER", "BEFORE", "Answer", "alter", "replace"]

# Faults that replace the answer, and faults that spoil the normal answer.
BEFORE: Final = frozenset({"huge_body", "gzip_bomb", "deep_nesting", "echo"})
AFTER: Final = frozenset({"drip", "bad_utf8", "header"})
_CHUNK: Final = 1 << 20


@dataclass
class Answer:
    """An answer to stream: ``chunks`` are produced lazily, ``interval`` seconds apart."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]
    interval: float = 0.0
    length: int | None = None  # Content-Length to announce, if any


def _json_headers(**more: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **more}


def _spaces(size: int) -> Iterator[bytes]:
    """``size`` bytes of a JSON array padded with blanks: valid, and as long as asked."""
    yield b"["
    left = size - 2
    block = b" " * _CHUNK
    while left > 0:
        n = min(left, _CHUNK)
        yield block if n == _CHUNK else block[:n]
        left -= n
    yield b"]"


@functools.lru_cache(maxsize=4)
def bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes (whole MiB), about a thousandth of that on the wire.

    Made without compressing ``size`` bytes: after a full flush the deflate state starts over,
    so every MiB of zeros compresses to the same piece, which is repeated.
    """
    mib = max(1, size // _CHUNK)
    block = b"\0" * _CHUNK
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + piece * mib + end + struct.pack("<II", crc, (mib * _CHUNK) & 0xFFFFFFFF)


def replace(fault: Fault, authorization: str | None) -> Answer:
    """The answer for a fault that answers instead of the server."""
    if fault.kind == "huge_body":
        # Chunked, no Content-Length: the client learns the size only by reading.
        return Answer(200, _json_headers(), _spaces(fault.size))
    if fault.kind == "gzip_bomb":
        body = bomb(fault.size)
        return Answer(200, _json_headers(**{"Content-Encoding": "gzip"}), iter([body]), length=len(body))
    if fault.kind == "deep_nesting":
        # Inside a record, in a field no model knows: a decoder must still get past it.
        body = b'[{"id": "deep", "nested": ' + b"[" * fault.size + b"]" * fault.size + b"}]"
        return Answer(200, _json_headers(), iter([body]), length=len(body))
    if fault.kind == "echo":
        # A server that quotes the request back, credentials and all: in an error message, or
        # (answered 200 on the Simple API) in a run's "error".
        text = f"rejected request with headers: Authorization: {authorization}"
        body = json.dumps({"error": text, "message": text}).encode()
        return Answer(fault.status, _json_headers(), iter([body]), length=len(body))
    raise ValueError(f"not a fault that answers instead of the server: {fault.kind}")


def alter(fault: Fault, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    """The normal answer, spoiled as the fault says."""
    out = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "content-encoding")}
    if fault.kind == "drip":
        chunks = (body[i : i + 1] for i in range(len(body)))
        return Answer(status, out, chunks, interval=fault.seconds, length=len(body))
    if fault.kind == "bad_utf8":
        # Inside the first string value of the body: the JSON stays well-formed, the text not.
        at = body.find(b'":"')
        spoiled = body if at < 0 else body[: at + 3] + b"\xff\xfe" + body[at + 3 :]
        return Answer(status, out, iter([spoiled]), length=len(spoiled))
    if fault.kind == "header":
        out.update(dict(fault.headers))
        return Answer(status, out, iter([body]), length=len(body))
    raise ValueError(f"not a fault that spoils an answer: {fault.kind}")
