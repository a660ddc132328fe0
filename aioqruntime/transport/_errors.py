"""The one place where aiohttp's exceptions become ours (style rule A3)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from aioqruntime._exceptions import APIConnectionError, APITimeoutError

__all__ = ["TransportFailure", "map_transport_errors"]


class TransportFailure(Exception):
    """Internal: a failed exchange, classified for the retry loop.

    ``error`` is the public exception to raise (cause chained); ``sent`` says whether the request
    may have reached the server, which decides whether a non-idempotent request may be repeated;
    ``retryable`` is false for failures that another attempt cannot fix (a rejected certificate).
    """

    def __init__(self, error: APIConnectionError, *, sent: bool, retryable: bool = True) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent
        self.retryable = retryable


@contextmanager
def map_transport_errors(method: str, url: str) -> Iterator[None]:
    """Translate aiohttp/OS failures into :class:`TransportFailure` (most specific class first).

    ``url`` must not carry credentials (ours never do: the key travels in a form body or header).
    """
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        # Timed out while connecting: nothing was sent.
        raise _failure(
            APITimeoutError, "timed out connecting", exc, method, url, sent=False
        ) from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise _failure(
            APIConnectionError,
            "TLS certificate rejected",
            exc,
            method,
            url,
            sent=False,
            retryable=False,
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        # Refused, unreachable, DNS: the connection never opened, so the request was not sent.
        raise _failure(
            APIConnectionError, "could not connect", exc, method, url, sent=False
        ) from exc
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
        raise _failure(
            APITimeoutError, "timed out waiting for the response", exc, method, url, sent=True
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        # Reset, server disconnected, broken payload: the request may have arrived.
        raise _failure(
            APIConnectionError, "connection failed", exc, method, url, sent=True
        ) from exc


def _failure(
    kind: type[APIConnectionError],
    what: str,
    exc: BaseException,
    method: str,
    url: str,
    *,
    sent: bool,
    retryable: bool = True,
) -> TransportFailure:
    detail = str(exc) or type(exc).__name__
    error = kind(f"{method} {url}: {what} ({detail})", method=method, url=url)
    error.__cause__ = exc
    return TransportFailure(error, sent=sent, retryable=retryable)
