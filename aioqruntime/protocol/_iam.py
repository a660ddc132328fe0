"""The IAM token exchange response (protocol.md §1.5); the request is ``iam_token_request``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Self

from aioqruntime.protocol._fields import FieldReader, raw_field
from aioqruntime.protocol._jwt import TokenTimes, token_times

__all__ = ["TokenResponse"]


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """``POST /identity/token`` answer. Token values stay out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_in: int | None = None
    #: POSIX time the token expires, as IAM states it.
    expiration: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("TokenResponse", data)
        return cls(
            access_token=read.required_text("access_token"),
            token_type=read.text("token_type") or "Bearer",
            expires_in=read.integer("expires_in"),
            expiration=read.integer("expiration"),
            refresh_token=read.text("refresh_token"),
            scope=read.text("scope"),
            raw=read.data,
        )

    def times(self) -> TokenTimes:
        """``iat``/``exp`` read from the access token (it must be a JWT, as IAM's are)."""
        return token_times(self.access_token)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type}
        optional = {
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "expiration": self.expiration,
            "scope": self.scope,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body
