"""Minimal HS256 JWTs and IAM token lifetimes (protocol.md §1.5), with the standard library only.

The client never verifies the IAM token's signature (it cannot: IAM signs with its own keys); it
only reads ``iat``/``exp`` to know when to refresh, as the official SDK does. The local server
issues and verifies its own HS256 tokens with :func:`encode_jwt` / :func:`verify_jwt`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aioqruntime._exceptions import ProtocolError

__all__ = [
    "EXPIRY_MARGIN_SECONDS",
    "REFRESH_FRACTION",
    "InvalidTokenError",
    "TokenTimes",
    "decode_jwt_unverified",
    "encode_jwt",
    "token_refresh_at",
    "token_times",
    "verify_jwt",
]

#: A token counts as expired this long before its ``exp`` (clock skew and time in flight).
EXPIRY_MARGIN_SECONDS: Final = 10.0
#: Refresh once this fraction of the lifetime has passed (80 %: after 48 min of a 1 h token).
REFRESH_FRACTION: Final = 0.8

_HEADER: Final = {"alg": "HS256", "typ": "JWT"}


class InvalidTokenError(ProtocolError):
    """A token is malformed, wrongly signed or expired (the server answers 401 for it)."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("non-ASCII base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: bytes, key: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def encode_jwt(claims: Mapping[str, Any], key: bytes) -> str:
    """An HS256-signed compact JWT with these claims."""
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64encode(_sign(signing_input, key))}"


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature); :class:`InvalidTokenError` on garbage."""
    if not isinstance(token, str):
        raise InvalidTokenError(f"a JWT is a string, not {type(token).__name__}")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError(f"a JWT has 3 dot-separated parts, this one has {len(parts)}")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidTokenError("the JWT is not base64url-encoded JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidTokenError("the JWT header and payload must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def decode_jwt_unverified(token: str) -> dict[str, Any]:
    """The claims of a JWT, without checking its signature (for reading ``exp``/``iat``)."""
    return _split(token)[1]


def verify_jwt(token: str, key: bytes, now: float, *, leeway: float = 0.0) -> dict[str, Any]:
    """The claims of an HS256 JWT signed with ``key`` that has not expired at ``now`` (POSIX).

    Refuses any other ``alg`` (notably ``none``), a bad signature, a missing or non-numeric
    ``exp``, an ``exp`` in the past and an ``nbf`` in the future (both give or take ``leeway``).
    """
    header, claims, signing_input, signature = _split(token)
    if header.get("alg") != "HS256":
        raise InvalidTokenError(f"unsupported JWT algorithm {header.get('alg')!r}")
    if not hmac.compare_digest(signature, _sign(signing_input, key)):
        raise InvalidTokenError("the JWT signature does not match")
    expires = _numeric_claim(claims, "exp")
    if expires is None:
        raise InvalidTokenError("the JWT has no 'exp' claim")
    if now >= expires + leeway:
        raise InvalidTokenError("the JWT has expired")
    not_before = _numeric_claim(claims, "nbf")
    if not_before is not None and now + leeway < not_before:
        raise InvalidTokenError("the JWT is not valid yet")
    return claims


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidTokenError(f"the JWT claim {name!r} is not a number")
    return float(value)


def token_refresh_at(iat: float, exp: float) -> float:
    """When to refresh a token issued at ``iat`` expiring at ``exp``: after 80 % of its life."""
    return exp - (1.0 - REFRESH_FRACTION) * (exp - iat)


@dataclass(frozen=True, slots=True)
class TokenTimes:
    """Lifetime of an access token, in POSIX seconds."""

    issued_at: float
    expires_at: float

    @property
    def refresh_at(self) -> float:
        return token_refresh_at(self.issued_at, self.expires_at)

    @property
    def expired_at(self) -> float:
        """The moment from which the token must no longer be sent."""
        return self.expires_at - EXPIRY_MARGIN_SECONDS

    def needs_refresh(self, now: float) -> bool:
        return now > self.refresh_at

    def is_expired(self, now: float) -> bool:
        return now >= self.expired_at


def token_times(access_token: str) -> TokenTimes:
    """``iat``/``exp`` of a JWT access token (unverified); :class:`InvalidTokenError` if absent."""
    claims = decode_jwt_unverified(access_token)
    issued = _numeric_claim(claims, "iat")
    expires = _numeric_claim(claims, "exp")
    if issued is None or expires is None:
        raise InvalidTokenError("the access token carries no numeric 'iat' and 'exp' claims")
    return TokenTimes(issued_at=issued, expires_at=expires)
