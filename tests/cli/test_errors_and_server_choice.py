"""Errors as one line with an exit status; which server a command talks to."""

from __future__ import annotations

import subprocess

import anyio
import pytest

from aioqruntime.cli._main import build_parser
from aioqruntime.cli._service import open_service
from tests.cli._helpers import clean_env, cli_process, run_cli, server_and_service, server_args


async def test_errors_are_one_line_and_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, _service):
            args = server_args(server)
            code, _, err = await run_cli(capsys, "job", "no-such-job", *args)
            assert code == 1
            assert err == "aioqruntime job: no job 'no-such-job' on this server/instance\n"
            code, _, err = await run_cli(capsys, "cancel", "no-such-job", *args)
            assert code == 1
            assert "no job 'no-such-job'" in err
            code, _, err = await run_cli(
                capsys, "jobs", "--url", server.url, "--token", "wrong-key"
            )
            assert code == 1
            assert "authentication failed" in err
            assert "wrong-key" not in err
            code, _, err = await run_cli(capsys, "jobs", "--url", server.url)
            assert code == 1
            assert "authentication failed" in err

    code, _, err = await run_cli(capsys, "jobs")
    assert code == 2
    assert "no server given" in err
    assert "aioqruntime serve" in err
    assert "--url" in err
    code, _, err = await run_cli(capsys, "jobs", "--limit", "0", "--url", "http://x")
    assert code == 2
    assert "--limit" in err
    code, _, err = await run_cli(capsys, "jobs", "--pending", "--done", "--url", "http://x")
    assert code == 2
    assert "not allowed with" in err
    code, _, err = await run_cli(capsys, "job")
    assert code == 2
    assert "ID" in err
    code, _, err = await run_cli(capsys, "cancel", "x", "--frobnicate")
    assert code == 2
    assert "unrecognized arguments" in err
    code, _, err = await run_cli(capsys, "jobs", "--url", "ftp://nowhere", "--token", "k")
    assert code == 2
    assert "url" in err
    # A server that is not there: a clear message after a few quick retries.
    code, _, err = await run_cli(capsys, "backends", "--url", "http://127.0.0.1:1", "--token", "k")
    assert code == 1
    assert "cannot reach the server" in err
    assert "Traceback" not in err


def test_environment_variables_are_the_default_server() -> None:
    completed = subprocess.run(
        cli_process("jobs"),
        env={**clean_env(), "QISKIT_IBM_URL": "http://127.0.0.1:1", "QISKIT_IBM_TOKEN": "k"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "127.0.0.1:1" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/api/v1", "http://127.0.0.1:8765/api/v1"),
        ("https://quantum.cloud.ibm.com/api/v1", "https://quantum.cloud.ibm.com/api/v1"),
        ("https://cloud.ibm.com", "https://quantum.cloud.ibm.com/api/v1"),
    ],
)
def test_url_without_path_means_api_v1(given: str, expected: str) -> None:
    # The CLI passes --url as given; the service resolves it (as 'serve' prints it, no path).
    args = build_parser().parse_args(["jobs", "--url", given, "--token", "k"])
    assert open_service(args).url == expected


async def test_no_server_is_refused_without_the_services_fallback_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The service would fall back to an (empty) embedded server and warn so; the CLI refuses.
    code, out, err = await run_cli(capsys, "backends")
    assert (code, out) == (2, "")
    assert err.startswith("aioqruntime backends: no server given.")
    assert "embedded local server" not in err


async def test_the_service_reads_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, _service):
            monkeypatch.setenv("QISKIT_IBM_URL", server.url)
            monkeypatch.setenv("QISKIT_IBM_TOKEN", server.token)
            code, out, err = await run_cli(capsys, "jobs")
            assert (code, out) == (0, "no jobs\n"), err
            # An option wins over its variable.
            code, _, err = await run_cli(capsys, "jobs", "--token", "wrong-key")
            assert code == 1
            assert "authentication failed" in err


async def test_a_saved_account_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    from aioqruntime import AsyncRuntimeService

    with anyio.fail_after(120):
        async with server_and_service() as (server, _service):
            # In the test's own HOME (tests/cli/conftest.py), as the official client saves it.
            AsyncRuntimeService.save_account(
                token=server.token, url=server.url, instance=server.instance
            )
            code, out, err = await run_cli(capsys, "jobs")
            assert (code, out) == (0, "no jobs\n"), err


def test_a_generated_api_key_is_always_a_valid_option_value() -> None:
    # url-safe base64 keys began with '-' one time in 64, and '--token -x...' is a usage error.
    from aioqruntime.server import LocalRuntimeServer

    for _ in range(500):
        token = LocalRuntimeServer().token
        assert token[0].isalnum() and token.isalnum(), token
