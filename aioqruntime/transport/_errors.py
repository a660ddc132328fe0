"""The one place where aiohttp's exceptions become ours (style rule A3)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from aioqruntime._exceptions import APIConnectionError, APITimeoutError

__all__ = ["map_transport_errors"]


@contextmanager
def map_transport_errors(method: str, url: str) -> Iterator[None]:
    """Translate aiohttp/OS failures into :class:`APIConnectionError` (most specific first).

    Each error says whether the request may have been sent (``request_sent``), which decides
    whether a request with an effect may be repeated. ``url`` must not carry credentials (ours
    never do: the key travels in a form body or header).
    """
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        # Timed out while connecting: nothing was sent.
        raise _error(APITimeoutError, "timed out connecting", exc, method, url, sent=False) from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise _error(
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
        raise _error(APIConnectionError, "could not connect", exc, method, url, sent=False) from exc
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
        raise _error(
            APITimeoutError, "timed out waiting for the response", exc, method, url, sent=True
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        # Reset, server disconnected, broken payload: the request may have arrived.
        raise _error(APIConnectionError, "connection failed", exc, method, url, sent=True) from exc


def _error(
    kind: type[APIConnectionError],
    what: str,
    exc: BaseException,
    method: str,
    url: str,
    *,
    sent: bool,
    retryable: bool = True,
) -> APIConnectionError:
    detail = str(exc) or type(exc).__name__
    return kind(
        f"{method} {url}: {what} ({detail})",
        method=method,
        url=url,
        request_sent=sent,
        retryable=retryable,
    )
