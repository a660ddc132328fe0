"""What a porting user relies on beyond the examples: account selection, lazy sessions, the current
mode, backend filters and objects, mock devices, calibration ids, job members (issue 10)."""

from __future__ import annotations

import gc
import json
import logging
import warnings
from pathlib import Path

import anyio
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import (
    AsyncBatch,
    AsyncEstimator,
    AsyncRuntimeService,
    AsyncSampler,
    AsyncSession,
    IBMInputValueError,
    InvalidInputError,
    JobTimeoutError,
    NotFoundError,
    RuntimeJobTimeoutError,
    ServiceClosedError,
)
from aioqruntime.backends import BackendProperties
from aioqruntime.protocol import JobStatus
from aioqruntime.runtime._context import current_mode
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import api_requests, local_service, x_pattern

# --- account and channel ---------------------------------------------------------------------


async def test_no_account_anywhere_means_the_local_server_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="aioqruntime.runtime"):
        service = AsyncRuntimeService()
    warned = [r for r in caplog.records if "no IBM Quantum account" in r.getMessage()]
    assert len(warned) == 1 and "QISKIT_IBM_TOKEN" in warned[0].getMessage()
    assert service.channel == "local" and service.is_local
    with pytest.raises(ServiceClosedError, match="async with AsyncRuntimeService"):
        service.client  # noqa: B018 (not open yet: its first awaited use opens it)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aioqruntime.runtime"):
        explicit = AsyncRuntimeService(channel="local")
    assert explicit.is_local and not caplog.records  # asked for: nothing to warn about


async def test_a_saved_account_is_used_like_the_official_client(no_account: Path) -> None:
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        accounts = no_account / ".qiskit" / "qiskit-ibm.json"
        accounts.parent.mkdir()
        saved = {"channel": "ibm_quantum_platform", "token": server.token, "url": server.url}
        accounts.write_text(
            json.dumps({"default-ibm-quantum-platform": {**saved, "instance": server.instance}})
        )
        async with AsyncRuntimeService() as service:
            assert not service.is_local and service.channel == "ibm_quantum_platform"
            assert service.active_instance() == server.instance
            assert service.instances() == [
                {
                    "crn": server.instance,
                    "plan": None,
                    "name": None,
                    "tags": [],
                    "pricing_type": None,
                }
            ]
            account = service.active_account()
            assert account is not None and account["url"] == server.api_url
            assert server.token not in repr(account)  # the token stays a Secret
            assert [b.name for b in await service.backends(name="ibm_local5")] == ["ibm_local5"]
        with pytest.raises(InvalidInputError, match="no saved account named 'other'"):
            AsyncRuntimeService(name="other")


async def test_save_account_writes_the_official_clients_file(no_account: Path) -> None:
    from qiskit_ibm_runtime import QiskitRuntimeService as Official

    path = str(no_account / "accounts.json")
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        AsyncRuntimeService.save_account(
            token=server.token, url=server.url, instance=server.instance, filename=path
        )
        assert (await anyio.Path(path).stat()).st_mode & 0o777 == 0o600
        with pytest.raises(InvalidInputError, match="overwrite=True"):
            AsyncRuntimeService.save_account(token="other", filename=path)
        (name,) = AsyncRuntimeService.saved_accounts(filename=path)
        assert name == "default-ibm-quantum-platform"
        assert server.token not in repr(AsyncRuntimeService.saved_accounts(filename=path))
        # The official client reads what we saved, and we read it back.
        official = Official.saved_accounts(filename=path)[name]
        assert (official["token"], official["instance"]) == (server.token, server.instance)
        async with AsyncRuntimeService(filename=path) as service:
            assert service.instance == server.instance
            assert [b.name for b in await service.backends(name="ibm_local5")] == ["ibm_local5"]
    assert AsyncRuntimeService.delete_account(filename=path) is True
    assert AsyncRuntimeService.delete_account(filename=path) is False
    assert AsyncRuntimeService.saved_accounts(filename=path) == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"channel": "ibm_quantum"}, "ibm_quantum_platform"),
        ({"proxies": {"urls": {"https": "http://proxy:8080"}}}, "trust_env=True"),
        ({"plans_preference": ["open"]}, "instance='crn:"),
        ({"region": "eu-de"}, "instance='crn:"),
        ({"token": "k", "private_endpoint": True}, "CRN"),
    ],
)
def test_constructor_parameters_that_cannot_work_are_refused_clearly(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        AsyncRuntimeService(**arguments)  # type: ignore[arg-type]


def test_private_endpoint_and_url_resolver_choose_the_api_url() -> None:
    crn = "crn:v1:bluemix:public:quantum-computing:eu-de:a/x:y::"
    private = AsyncRuntimeService(token="k", instance=crn, private_endpoint=True)
    assert private.url == "https://private.eu-de.quantum.cloud.ibm.com/api/v1"
    seen: list[tuple[str, str, bool | None, str]] = []

    def resolver(url: str, instance: str, private_endpoint: bool | None, channel: str) -> str:
        seen.append((url, instance, private_endpoint, channel))
        return "http://127.0.0.1:9/api/v1"

    resolved = AsyncRuntimeService(token="k", instance=crn, url_resolver=resolver)
    assert resolved.url == "http://127.0.0.1:9/api/v1"
    assert seen == [("https://cloud.ibm.com", crn, False, "ibm_quantum_platform")]


# --- sessions --------------------------------------------------------------------------------


async def test_an_unentered_session_opens_on_its_first_job_and_closes_when_asked() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        session = AsyncSession(backend=backend)
        assert session.session_id is None and api_requests(server, "POST", "/sessions") == []
        first = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2)
        second = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2)
        assert session.session_id is not None
        assert first.session_id == second.session_id == session.session_id
        assert len(api_requests(server, "POST", "/sessions")) == 1
        await first.result()
        await second.result()
        assert server.session(session.session_id).mode == "dedicated"
        await session.close()
        assert (await session.details() or {})["accepting_jobs"] is False


async def test_an_unentered_batch_left_open_warns_when_collected() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        batch = AsyncBatch(backend)
        job = await AsyncSampler(batch).run([x_pattern(1, 1, 5)], shots=1)
        await job.result()
        assert job.session_id == batch.session_id is not None
        with pytest.warns(ResourceWarning, match="never closed"):
            del batch
            gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a closed one says nothing
            closed = AsyncBatch(backend)
            await (await AsyncSampler(closed).run([x_pattern(1, 1, 5)], shots=1)).result()
            await closed.close()
            del closed
            gc.collect()


async def test_the_session_is_the_current_mode_inside_its_block_only() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        assert current_mode() is None
        async with AsyncSession(backend=backend) as session:
            assert current_mode() is session
            async with AsyncBatch(backend) as batch:
                assert current_mode() is batch
            assert current_mode() is session
        assert current_mode() is None
        with pytest.raises(InvalidInputError, match="from_id"):
            AsyncSession(backend, create_new=False)
        again = await AsyncSession.from_id(
            session.session_id or "", service, use_fractional_gates=False, calibration_id=None
        )
        assert again.session_id == session.session_id


# --- backends --------------------------------------------------------------------------------


async def test_backend_filters_as_the_official_client() -> None:
    async with local_service() as (_server, service):
        assert [b.name for b in await service.backends(n_qubits=5)] == ["ibm_local5"]
        simulators = await service.backends(simulator=True, dynamic_circuits=False)
        assert [b.name for b in simulators] == ["ibm_local_simulator"]
        dynamic = {b.name for b in await service.backends(dynamic_circuits=True)}
        assert dynamic == {"ibm_local5", "ibm_local27", "ibm_local127"}
        assert await service.backends(use_fractional_gates=True) == []  # none has rzz/rx
        with pytest.raises(IBMInputValueError, match="fractional"):
            await service.backend("ibm_local5", use_fractional_gates=True)
        with pytest.raises(InvalidInputError, match="no_such_attribute"):
            await service.backends(no_such_attribute=1)
        with pytest.raises(InvalidInputError, match="instance"):
            await service.backends(instance="crn:v1:other::")
        busy = await service.least_busy(operational=True, simulator=False, min_num_qubits=27)
        assert busy.num_qubits >= 27 and not busy.is_mock
        picked = await service.least_busy(filters=lambda b: b.status().pending_jobs == 0)
        assert picked.status().operational


async def test_backend_objects_read_without_io_and_refresh_when_awaited() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        before = len(server.request_log)
        properties = backend.properties()
        assert isinstance(properties, BackendProperties)
        assert backend.configuration().n_qubits == 5 and backend.status().operational
        assert backend.physical_qubits == 5 and backend.calibration_id is None
        assert len(server.request_log) == before  # no I/O
        fresh = await backend.status()
        assert fresh.pending_jobs == 0 and fresh.backend_name == "ibm_local5"
        assert len(api_requests(server, "GET", "/backends/ibm_local5/status")) == 1
        await backend.refresh()
        assert backend.properties() == properties
        target = await backend.target_history(properties.last_update_date)
        assert target.num_qubits == 5
        with pytest.raises(InvalidInputError, match=r"await backend\.refresh\(\)"):
            backend.properties(refresh=True)
        circuit = QuantumCircuit(5)
        circuit.x(4)
        backend.check_faulty(circuit)  # the default devices have no faulty qubits


async def test_calibration_id_known_and_unknown() -> None:
    async with local_service() as (_server, service):
        listed = (await service.backend("ibm_local5")).list_entry["calibration_id"]
        pinned = await service.backend("ibm_local5", calibration_id=listed)
        assert pinned.calibration_id == listed and pinned.properties() is not None
        with pytest.raises(NotFoundError, match="Calibration"):
            await service.backend("ibm_local5", calibration_id="nope")


async def test_mock_devices_run_jobs_and_are_listed_only_when_asked() -> None:
    async with local_service() as (_server, service):
        names = {b.name for b in await service.backends()}
        with_mocks = {b.name: b for b in await service.backends(include_mocks=True)}
        assert set(with_mocks) - names == {"mock_local5", "mock_local27", "mock_local127"}
        mock = with_mocks["mock_local5"]
        assert mock.is_mock and not (await service.backend("ibm_local5")).is_mock
        # Dry run: nothing simulated, random data of the shape asked for (X then measure would
        # always read 1 if it were simulated; 64 random shots read 0 too, but for 2**-64).
        job = await AsyncSampler(mock).run([x_pattern(1, 1, 5)], shots=64)
        result = await job.result()
        assert result[0].data.c.num_shots == 64 and result[0].data.c.num_bits == 1
        assert set(result[0].data.c.get_counts()) == {"0", "1"}
        theta = Parameter("t")
        circuit = QuantumCircuit(5)
        circuit.rz(theta, 0)
        sweep = np.linspace(0, 1, 6).reshape(3, 2, 1)
        estimated = await AsyncEstimator(mock).run([(circuit, SparsePauliOp("IIIIZ"), sweep)])
        evs = (await estimated.result())[0].data.evs
        assert evs.shape == (3, 2) and np.all(np.abs(evs) <= 1.0)
        assert not np.allclose(evs, 1.0)  # <Z> of |0> is exactly 1 when simulated
        listed = [j.job_id() for j in await service.jobs(limit=None)]
        assert job.job_id() not in listed
        assert job.job_id() in [j.job_id() for j in await service.jobs(include_mocks=True)]


# --- jobs ------------------------------------------------------------------------------------


async def test_job_members_of_the_official_job() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=3)
        with pytest.raises(RuntimeJobTimeoutError):  # the official name catches ours
            await job.wait_for_final_state(timeout=0.01)
        with pytest.raises(JobTimeoutError):
            await job.result(timeout=0.01)
        assert not job.in_final_state() and job.status() in (JobStatus.QUEUED, "INITIALIZING")
        server.resume()
        result = await job.result(timeout=600)
        assert result[0].data.c.get_counts() == {"1": 3}
        assert f"{job.status()}" == "DONE" and repr(job.status()) == "'DONE'"
        refreshed = await job.status()  # awaited: asks the service
        assert refreshed == JobStatus.DONE
        assert job.primitive_id == "sampler" and job.instance == server.instance
        assert job.private is False and job.image == ""
        assert set(job.usage_estimation) == {"quantum_seconds"}
        assert await job.update_tags(["a", "b"]) == ["a", "b"]
        calibration = await job.properties()
        assert isinstance(calibration, BackendProperties)
        assert calibration == backend.properties()
        assert isinstance(await job.usage(), (int, float))
        with pytest.raises(InvalidInputError, match="result_decoder"):
            await job.result(decoder=lambda text: text)
