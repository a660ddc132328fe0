"""Where the account comes from: arguments first, then ``QISKIT_IBM_*`` (read only here)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
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


# --- channel and saved accounts (the official constructor's parameters) ------------------------

#: Channels the official client knows, plus ``local`` (the embedded local server).
CHANNELS: Final = ("ibm_cloud", "ibm_quantum_platform", "local")
LOCAL_CHANNEL: Final = "local"
#: Where the official client saves accounts (``QiskitRuntimeService.save_account``); ``~`` is
#: expanded when read.
SAVED_ACCOUNTS_FILE: Final = os.path.join("~", ".qiskit", "qiskit-ibm.json")
_DEFAULT_NAMES: Final = {
    "ibm_quantum_platform": "default-ibm-quantum-platform",
    "ibm_cloud": "default-ibm-cloud",
}
_ENV_NAMES: Final = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE")


@dataclass(frozen=True, slots=True)
class AccountChoice:
    """What the constructor's arguments select: the local server, or an account's fields."""

    channel: str
    local: bool
    token: str | Secret | None = None
    url: str | None = None
    instance: str | None = None
    verify: bool | None = None
    private_endpoint: bool = False

    def __repr__(self) -> str:
        return f"AccountChoice(channel={self.channel!r}, local={self.local}, url={self.url!r})"


def check_channel(channel: str | None) -> None:
    if channel is not None and channel not in CHANNELS:
        raise InvalidInputError(
            f"channel must be one of {', '.join(map(repr, CHANNELS))}, got {channel!r} (the "
            "'ibm_quantum' channel was retired by IBM: use 'ibm_quantum_platform')"
        )


def choose_account(
    *,
    channel: str | None,
    token: str | Secret | None,
    url: str | None,
    instance: str | None,
    filename: str | None,
    name: str | None,
    environ: Mapping[str, str] | None = None,
) -> AccountChoice:
    """The official order: ``name=`` -> arguments -> ``QISKIT_IBM_*`` -> the saved default.

    With nothing configured anywhere (and no ``channel``), or ``channel="local"``, the choice is
    the embedded local server.
    """
    check_channel(channel)
    env = os.environ if environ is None else environ
    if channel == LOCAL_CHANNEL:
        return AccountChoice(channel=LOCAL_CHANNEL, local=True)
    if name is not None:
        saved = _saved_account(filename, name=name, channel=channel)
        if saved is None:
            raise InvalidInputError(f"no saved account named {name!r} in {_file(filename)}")
        return _from_saved(saved, channel)
    if token or url or instance or any(env.get(k) for k in _ENV_NAMES):
        return AccountChoice(
            channel=channel or env.get("QISKIT_IBM_CHANNEL") or "ibm_quantum_platform",
            local=False,
            token=token,
            url=url,
            instance=instance,
        )
    saved = _saved_account(filename, name=None, channel=channel)
    if saved is not None:
        return _from_saved(saved, channel)
    if filename is not None:
        raise InvalidInputError(f"no saved account in {filename!r}")
    if channel is not None:  # asked for IBM explicitly: its defaults (no token, errors later)
        return AccountChoice(channel=channel, local=False)
    return AccountChoice(channel=LOCAL_CHANNEL, local=True)


def _file(filename: str | None) -> str:
    return os.path.expanduser(filename or SAVED_ACCOUNTS_FILE)


def _saved_account(
    filename: str | None, *, name: str | None, channel: str | None
) -> dict[str, Any] | None:
    accounts = _read_all(_file(filename))
    if name is not None:
        found = accounts.get(name)
        return dict(found) if isinstance(found, dict) else None
    usable = {
        key: value
        for key, value in accounts.items()
        if isinstance(value, dict) and (channel is None or value.get("channel") == channel)
    }
    for value in usable.values():
        if value.get("is_default_account"):
            return dict(value)
    for channel_name, default_name in _DEFAULT_NAMES.items():
        if (channel is None or channel == channel_name) and default_name in usable:
            return dict(usable[default_name])
    return dict(next(iter(usable.values()))) if usable else None


def _from_saved(saved: Mapping[str, Any], channel: str | None) -> AccountChoice:
    texts: dict[str, str | None] = {}
    for key in ("channel", "token", "url", "instance"):
        value = saved.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"the saved account's {key!r} is not text")
        texts[key] = value or None
    verify = saved.get("verify")
    if verify is not None and not isinstance(verify, bool):
        raise InvalidInputError("the saved account's 'verify' is not true or false")
    saved_channel = texts["channel"] or channel or "ibm_quantum_platform"
    check_channel(saved_channel)
    return AccountChoice(
        channel=saved_channel,
        local=False,
        token=texts["token"],
        url=texts["url"],
        instance=texts["instance"],
        verify=verify,
        private_endpoint=saved.get("private_endpoint") is True,
    )


def private_endpoint_url(url: str | None, instance: str | None) -> str:
    """IBM's private endpoint of the instance's region (``private.{region}.quantum...``)."""
    fields = instance.split(":") if instance and instance.startswith("crn:") else []
    if len(fields) <= 5 or not fields[5]:
        raise InvalidInputError("private_endpoint=True needs instance= as a CRN (its region)")
    host = urlsplit(url or "https://cloud.ibm.com").hostname or "cloud.ibm.com"
    return f"https://private.{fields[5]}.quantum.{host}/api/v1"


def _default_name(channel: str | None) -> str:
    return _DEFAULT_NAMES.get(channel or "ibm_quantum_platform", "default-ibm-quantum-platform")


def _read_all(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the saved accounts in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"the saved accounts in {path} are not a JSON object")
    return data


def _write_all(path: str, accounts: Mapping[str, Any]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # Owner-only: the file holds API keys, as the official client's does.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(accounts, handle, sort_keys=True, indent=4)


def save_account(
    *,
    fields: Mapping[str, Any],
    filename: str | None,
    name: str | None,
    overwrite: bool,
    set_as_default: bool | None,
) -> None:
    """Write one account the way the official ``save_account`` does (same file, same names)."""
    channel = fields.get("channel") or os.environ.get("QISKIT_IBM_CHANNEL") or None
    check_channel(channel)
    if channel == LOCAL_CHANNEL:
        raise InvalidInputError("the local channel needs no saved account")
    path = _file(filename)
    accounts = _read_all(path)
    key = name or _default_name(channel)
    if key in accounts and not overwrite:
        raise InvalidInputError(
            f"Named account ({key}) already exists. Set overwrite=True to overwrite."
        )
    entry = {k: v for k, v in fields.items() if v is not None}
    entry["channel"] = channel or "ibm_quantum_platform"
    if set_as_default:
        for other_name, other in accounts.items():
            if other_name != key and isinstance(other, dict) and other.get("is_default_account"):
                if not overwrite:
                    raise InvalidInputError(
                        f"default_account ({key}) already exists. Set overwrite=True to overwrite."
                    )
                other.pop("is_default_account")
        entry["is_default_account"] = True
    accounts[key] = entry
    _write_all(path, accounts)


def saved_accounts(
    *, default: bool | None, channel: str | None, filename: str | None, name: str | None
) -> dict[str, dict[str, Any]]:
    """The saved accounts by name, filtered as the official ``saved_accounts``; tokens as
    :class:`Secret` (printing the result shows none)."""
    defaults = {"default", *_DEFAULT_NAMES.values()}
    found: dict[str, dict[str, Any]] = {}
    for key, value in _read_all(_file(filename)).items():
        if not isinstance(value, dict) or value.get("channel") == "ibm_quantum":
            continue
        if channel is not None and value.get("channel") != channel:
            continue
        if name is not None and key != name:
            continue
        if default is not None and (key in defaults) != default:
            continue
        entry = dict(value)
        if entry.get("token"):
            entry["token"] = Secret(str(entry["token"]))
        found[key] = entry
    return found


def delete_account(*, filename: str | None, name: str | None, channel: str | None) -> bool:
    """Remove one saved account (by default the channel's default one); whether it existed."""
    path = _file(filename)
    accounts = _read_all(path)
    key = name or _default_name(channel)
    if key not in accounts:
        return False
    del accounts[key]
    _write_all(path, accounts)
    return True
