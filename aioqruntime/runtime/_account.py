"""Where the account comes from: arguments first, then ``QISKIT_IBM_*`` (read only here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.protocol import Secret

__all__ = [
    "API_PATH",
    "DEFAULT_IAM_URL",
    "DEFAULT_URL",
    "Account",
    "is_ibm_host",
    "resolve_account",
]

DEFAULT_URL: Final = "https://quantum.cloud.ibm.com/api/v1"
DEFAULT_IAM_URL: Final = "https://iam.cloud.ibm.com"
_IBM_SUFFIX: Final = ".cloud.ibm.com"
#: IBM's Quantum service domains, each with its subdomains: IBM Cloud (``quantum.cloud.ibm.com``,
#: regional ``eu-de.quantum.cloud.ibm.com``, ``private.<region>.quantum.cloud.ibm.com``, staging
#: ``*.test.cloud.ibm.com``; protocol.md §1.2) and the former IBM Quantum platform hosts
#: (``*.quantum.ibm.com``, ``*.quantum-computing.ibm.com``).
_IBM_SERVICE_DOMAINS: Final = ("cloud.ibm.com", "quantum.ibm.com", "quantum-computing.ibm.com")
#: Where the runtime API lives on a host given without a path (IBM's and the local server's).
API_PATH: Final = "/api/v1"


@dataclass(frozen=True, slots=True)
class Account:
    """A resolved account; ``token`` is the API key (exchanged at ``iam_url``), never printed."""

    url: str
    iam_url: str
    token: Secret | None
    instance: str | None

    def __repr__(self) -> str:
        return f"Account(url={self.url!r}, iam_url={self.iam_url!r}, instance={self.instance!r})"


def resolve_account(
    *,
    token: str | Secret | None,
    instance: str | None,
    url: str | None,
    iam_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> Account:
    """Arguments win; missing ones come from ``QISKIT_IBM_TOKEN/INSTANCE/URL``.

    ``url`` is the runtime API base (default IBM's). A URL with a path is used as is; one without
    (``http://127.0.0.1:8765``, as ``aioqruntime serve`` prints it) means its ``/api/v1``, and
    ``https://cloud.ibm.com`` the regional IBM API of the instance's CRN. ``iam_url`` defaults to
    IBM's IAM for IBM hosts and to the API's own scheme://host:port otherwise (how the local
    server is reached).
    """
    env = os.environ if environ is None else environ
    if token is None:
        token = env.get("QISKIT_IBM_TOKEN") or None
    if instance is None:
        instance = env.get("QISKIT_IBM_INSTANCE") or None
    if url is None:
        url = env.get("QISKIT_IBM_URL") or DEFAULT_URL
    url = _runtime_base(url, instance)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"url must be an http(s) URL, got {url!r}")
    if iam_url is None:
        host = parts.hostname or ""
        if host == "cloud.ibm.com" or host.endswith(_IBM_SUFFIX):
            iam_url = DEFAULT_IAM_URL
        else:
            iam_url = f"{parts.scheme}://{parts.netloc}"
    secret = token if isinstance(token, Secret) else (Secret(token) if token else None)
    return Account(
        url=url.rstrip("/"), iam_url=iam_url.rstrip("/"), token=secret, instance=instance
    )


def is_ibm_host(url: str) -> bool:
    """Whether ``url`` points at IBM's own service (where its documented limits apply).

    Matched on whole domain labels: ``quantum.cloud.ibm.com.example`` or ``notcloud.ibm.com``
    are not IBM's service.
    """
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    return any(host == domain or host.endswith(f".{domain}") for domain in _IBM_SERVICE_DOMAINS)


def _runtime_base(url: str, instance: str | None) -> str:
    """The API base a URL stands for: as is with a path, else the host's ``/api/v1``.

    The official client's account URL ``https://cloud.ibm.com`` means the regional API base, as
    in its URL resolver (protocol.md §1.2): the region is the CRN's 6th field.
    """
    parts = urlsplit(url)
    if parts.path.strip("/"):
        return url
    if parts.hostname != "cloud.ibm.com":
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return url  # refused by the caller
        return f"{parts.scheme}://{parts.netloc}{API_PATH}"
    fields = instance.split(":") if instance and instance.startswith("crn:") else []
    region = fields[5] if len(fields) > 5 else ""
    prefix = "" if region in ("", "us-east") else f"{region}."
    return f"{parts.scheme}://{prefix}quantum.cloud.ibm.com/api/v1"
