"""The IAM stand-in: API key -> HS256 JWT exchange, and checking ``Authorization`` headers.

Tokens are signed with a per-server random secret (a restarted server invalidates old tokens;
clients simply exchange their API key again). ``Authorization: apikey <key>`` is accepted too,
like IBM's fallback. Nothing here logs or echoes a key or a token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from aioqruntime.protocol._jwt import InvalidTokenError, encode_jwt, verify_jwt
from aioqruntime.protocol._secrets import Secret

__all__ = ["AuthError", "Authenticator"]

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


class AuthError(Exception):
    """Credentials are missing, wrong or expired (the message is safe to send back)."""


class Authenticator:
    def __init__(
        self, api_key: str, *, token_ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._api_key = Secret(api_key)
        self._secret = secrets.token_bytes(32)
        self.token_ttl = token_ttl
        self._clock = clock

    def api_key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._api_key.get().encode())

    def issue(self, *, lifetime: float | None = None) -> dict[str, Any]:
        """The IAM token response for a successful API-key exchange."""
        now = int(self._clock())
        expires = now + int(self.token_ttl if lifetime is None else lifetime)
        claims = {
            "iam_id": "iam-local",
            "sub": "local-user",
            "iss": "aioqruntime-local-iam",
            "grant_type": APIKEY_GRANT,
            "scope": "ibm openid",
            "iat": now,
            "exp": expires,
        }
        return {
            "access_token": encode_jwt(claims, self._secret),
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": expires - now,
            "expiration": expires,
            "scope": "ibm openid",
        }

    def check(self, header: str | None) -> None:
        """Accept ``Bearer <our JWT>`` or ``apikey <key>``; raise :class:`AuthError` otherwise."""
        if not header:
            raise AuthError("Missing Authorization header")
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            try:
                verify_jwt(credential, self._secret, self._clock())
            except InvalidTokenError as exc:
                raise AuthError(f"Invalid bearer token: {exc}") from exc
            return
        if scheme.lower() == "apikey" and credential:
            if not self.api_key_matches(credential):
                raise AuthError("Invalid API key")
            return
        raise AuthError("Unsupported Authorization scheme; use 'Bearer <token>'")
