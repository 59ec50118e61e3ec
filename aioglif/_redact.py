"""Redaction: the token out of everything the server says, before anything reads it.

Its own module because it is one rule applied at every door (bodies in the sender, messages,
headers, the CLI's last line) and it must stay small enough to check by eye.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Final, NamedTuple

# A token shorter than this may well occur in ordinary text ("abc" in a glif's name): replacing
# every occurrence would garble answers and show where it hides. It is masked only where it
# stands as the whole header value we sent, "Bearer <token>".
MIN_REDACTABLE: Final = 8
_TOKEN_CHARS: Final = r"[A-Za-z0-9._~+/=-]"


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text from the server, before it is cut short, stored or shown."""
    if not secret:
        return text
    if len(secret) >= MIN_REDACTABLE:
        text = text.replace(secret, "***")
        escaped = _escaped(secret)
        if escaped is not None and ("%" in text or "\\" in text) and escaped.hint_text.search(text):
            text = escaped.whole_text.sub("***", text)
        return text
    return re.sub(rf"Bearer {re.escape(secret)}(?!{_TOKEN_CHARS})", "Bearer ***", text)


def redact_body(body: bytes, secret: str | None) -> bytes:
    """:func:`redact` for a body as received: every answer passes here before it is decoded."""
    if not secret:
        return body
    if len(secret) >= MIN_REDACTABLE:
        needle = secret.encode()
        if needle in body:
            body = body.replace(needle, b"***")
        escaped = _escaped(secret)
        if escaped is not None and _may_hold_escape(body, escaped):
            body = escaped.whole.sub(b"***", body)
        return body
    short = rf"Bearer {re.escape(secret)}(?!{_TOKEN_CHARS})".encode()
    return re.sub(short, b"Bearer ***", body)


class _Escaped(NamedTuple):
    whole: re.Pattern[bytes]  # the secret, each character as itself or escaped
    codes: frozenset[bytes]  # its characters' codes as two lowercase hex digits
    solidus: bool  # it holds "/", which JSON may write "\\/"
    whole_text: re.Pattern[str]
    hint_text: re.Pattern[str]


def _may_hold_escape(body: bytes, escaped: _Escaped) -> bool:
    """Whether the body holds an escape of one of the secret's characters: the full pattern runs
    only then. Every answer passes here, so the common case costs two substring searches."""
    if escaped.solidus and b"\\/" in body:
        return True
    for mark, skip in ((b"%", 1), (b"\\u00", 4)):
        at = body.find(mark)
        while at >= 0:
            if body[at + skip : at + skip + 2].lower() in escaped.codes:
                return True
            at = body.find(mark, at + 1)
    return False


@functools.lru_cache(maxsize=16)
def _escaped(secret: str) -> _Escaped | None:
    """Patterns for the secret as a server may write it back: a JSON string may spell any
    character ``\\u00XX`` (and ``/`` as ``\\/``), a URL or a form any character ``%XX``. Decoding
    would turn these back into the token, so they are redacted in the bytes, before decoding."""
    if not secret.isascii():
        return None

    def hexes(ch: str) -> str:
        return f"(?i:{ord(ch):02x})"  # either case of the hex digits, the character itself as is

    def forms(ch: str) -> str:
        alternatives = [re.escape(ch), "%" + hexes(ch), r"\\u00" + hexes(ch)]
        if ch == "/":
            alternatives.append(r"\\/")
        return "(?:" + "|".join(alternatives) + ")"

    whole = "".join(forms(ch) for ch in secret)
    codes = frozenset(f"{ord(ch):02x}" for ch in secret)
    hint = rf"(?:%|\\u00)(?i:{'|'.join(sorted(codes))})" + (r"|\\/" if "/" in secret else "")
    return _Escaped(
        re.compile(whole.encode()),
        frozenset(code.encode() for code in codes),
        "/" in secret,
        re.compile(whole),
        re.compile(hint),
    )


def redacted_headers(headers: Mapping[str, str] | None, secret: str | None) -> Mapping[str, str]:
    if not headers:
        return {}
    from multidict import CIMultiDict  # aiohttp's own dependency: case-insensitive lookups

    return CIMultiDict((k, redact(v, secret)) for k, v in headers.items())
