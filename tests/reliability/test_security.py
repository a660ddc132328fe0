"""TLS verification on by default, an explicit and loud opt-out; secrets never leak."""

from __future__ import annotations

import datetime
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aioqruntime import APIConnectionError, AsyncSampler, AsyncSession
from aioqruntime._exceptions import InsecureTransportWarning
from aioqruntime.protocol import list_backends
from aioqruntime.runtime import AsyncRuntimeService
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig
from aioqruntime.transport import Transport, TransportConfig
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, x_pattern


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@asynccontextmanager
async def _https_server(directory: Path) -> AsyncIterator[str]:
    async def backends(_request: web.Request) -> web.Response:
        return web.json_response({"devices": []})

    app = web.Application()
    app.router.add_get("/api/v1/backends", backends)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_self_signed(directory))
    await site.start()
    try:
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        yield f"https://127.0.0.1:{port}/api/v1"
    finally:
        await runner.cleanup()


async def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    async with (
        _https_server(tmp_path) as url,
        Transport(
            api_url=url, iam_url=None, api_key=None, instance=None, retry=FAST_RETRY
        ) as transport,
    ):
        assert transport.verifies_tls
        with pytest.raises(APIConnectionError) as caught:
            await transport.send(list_backends())
        assert "certificate" in str(caught.value).lower()
        assert transport.requests_sent == 1  # a rejected certificate is not retried


async def test_turning_verification_off_is_explicit_warns_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _https_server(tmp_path) as url:
        with (
            caplog.at_level(logging.WARNING, logger="aioqruntime.transport"),
            pytest.warns(InsecureTransportWarning, match="verify=False"),
        ):
            transport = Transport(
                api_url=url,
                iam_url=None,
                api_key=None,
                instance=None,
                config=TransportConfig(verify=False),
            )
        assert any("verification is turned off" in r.getMessage() for r in caplog.records)
        async with transport:
            assert not transport.verifies_tls
            response = await transport.send(list_backends())
            assert response.json() == {"devices": []}
        with pytest.warns(InsecureTransportWarning):
            service = AsyncRuntimeService(url=url, verify=False)
        assert "verify" not in repr(service)


async def test_secrets_never_reach_logs_reprs_errors_or_the_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = "SECRET-api-key-do-not-print-7f3a"
    journal = tmp_path / "journal.sqlite"
    faults = (
        FaultRule(path="/jobs", method="POST", statuses=((500, 0.5),), drop=0.2),
        # Often enough that some GET is retried whatever the (few) requests the watcher sends.
        FaultRule(path="/jobs*", method="GET", statuses=((503, 0.5),)),
    )
    texts: list[str] = []
    caplog.set_level(logging.DEBUG, logger="aioqruntime")
    async with LocalRuntimeServer(token=key, config=ServerConfig(workers=0, faults=faults)) as srv:
        tokens = [srv.issue_token()]
        async with AsyncRuntimeService(
            token=key,
            instance=srv.instance,
            url=srv.api_url,
            journal=journal,
            retry=FAST_RETRY,
            transport_config=FAST_CONFIG,
            submissions_per_minute=None,
        ) as service:
            backend = await service.backend("ibm_local5")
            async with AsyncSession(backend) as session:
                for _ in range(6):
                    try:
                        job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1)
                        texts.append(repr(job))
                        await job
                    except Exception as exc:  # every error text is checked below
                        texts += [str(exc), repr(exc), str(exc.__cause__)]
                texts.append(repr(session))
            auth = service.transport.auth
            assert auth is not None and auth._token is not None
            tokens.append(auth._token.value.get())
            texts += [repr(service), repr(service.transport), repr(auth), repr(auth._token)]
            texts.append(str(service.statistics()))
            texts += [repr(e) for e in await service.journal_entries()]
        texts.append(repr(AsyncRuntimeService(token=key, url=srv.api_url)))
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    blob = "\n".join(texts)
    # The database and any WAL/SHM side files left behind.
    data = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))  # noqa: ASYNC240
    assert data
    for secret in (key, *tokens):
        assert secret not in blob
        assert secret.encode() not in data
    assert "retrying" in blob  # the logs did cover the faulty exchanges
