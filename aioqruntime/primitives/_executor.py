"""``AsyncExecutor``: runs a ``QuantumProgram`` as the service's ``executor`` program.

``job = await executor.run(program)`` checks the program against the backend, encodes it as the
executor's ``v2.0`` params (IBM's own wire models from ``ibm-quantum-schemas``: one
zlib-compressed QPY blob for all circuits, compressed tensors for arguments) in a worker thread,
and submits it through the same path as every other job (exactly-once tag, journal, watcher).
``await job`` gives a :class:`QuantumProgramResult`, decoded in a worker thread.

The program is samplomatic's ``QuantumProgram`` (the official ``qiskit_ibm_runtime``
``QuantumProgram`` is a subclass of it and works as is, its semantic role included); the result
is samplomatic's ``QuantumProgramResult`` extended, like the official one, with ``metadata``
(``chunk_timing``), per-item ``metadata`` and the semantic role.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from samplomatic.quantum_program import (
    ChunkPart,
    ChunkSpan,
    ChunkTiming,
    CircuitItem,
    QuantumProgram,
    SamplexItem,
)
from samplomatic.quantum_program import QuantumProgramItemResult as _BaseItemResult
from samplomatic.quantum_program import QuantumProgramResult as _BaseResult

from aioqruntime._exceptions import CodecError, InvalidInputError
from aioqruntime.codec import QPY_LOCK
from aioqruntime.primitives._executor_options import ExecutorOptions, build_options
from aioqruntime.primitives._isa import check_isa
from aioqruntime.primitives._pub_checks import bad_mode_error
from aioqruntime.runtime import (
    AsyncBatch,
    AsyncRuntimeJob,
    AsyncSession,
    ServiceBackend,
    run_off_loop,
    submit_in_job_mode,
)
from aioqruntime.runtime._context import current_mode
from aioqruntime.runtime._decoders import register_result_decoder
from aioqruntime.runtime._options import RuntimeOptions

if TYPE_CHECKING:
    from samplomatic.quantum_program.datatree import DataTree

__all__ = [
    "EXECUTOR_PROGRAM_ID",
    "AsyncExecutor",
    "ItemMetadata",
    "Mode",
    "QuantumProgram",
    "QuantumProgramItemResult",
    "QuantumProgramResult",
    "ResultMetadata",
    "decode_executor_result",
    "decode_program_result",
    "encode_program",
    "refuse_dry_run",
    "register_post_processor",
    "resolve_mode",
    "submit_program",
]

logger = logging.getLogger("aioqruntime.primitives")

#: The service's name of the program, and the params schema version we speak.
EXECUTOR_PROGRAM_ID: Final = "executor"
SCHEMA_VERSION: Final = "v2.0"

Mode = AsyncSession | AsyncBatch | ServiceBackend


@dataclass
class ItemMetadata:
    """Per-item execution metadata (filled when ``execution.scheduler_timing`` /
    ``stretch_values`` were asked for): the service's own fields, as plain dicts."""

    scheduler_timing: dict[str, Any] | None = None
    stretch_values: list[dict[str, Any]] | None = None


@dataclass
class ResultMetadata:
    """Program-level execution metadata: the chunks the service ran, with their times."""

    chunk_timing: list[ChunkSpan] = field(default_factory=list)


class QuantumProgramItemResult(_BaseItemResult):  # type: ignore[misc]
    """One item's outputs (a mapping from names to arrays) and its :class:`ItemMetadata`."""

    def __init__(self, result: dict[str, np.ndarray], metadata: ItemMetadata | None = None) -> None:
        super().__init__(result)
        self.metadata = metadata if metadata is not None else ItemMetadata()


class QuantumProgramResult(_BaseResult):  # type: ignore[misc]
    """The result of an executor job: one :class:`QuantumProgramItemResult` per program item.

    ``metadata.chunk_timing`` (and :attr:`timing`) says which chunks ran when;
    ``passthrough_data`` is the program's, returned as sent; :attr:`semantic_role` too.
    """

    def __init__(
        self,
        data: Sequence[QuantumProgramItemResult],
        metadata: ResultMetadata | None = None,
        passthrough_data: DataTree | None = None,
        semantic_role: str | None = None,
    ) -> None:
        super().__init__(list(data), passthrough_data=passthrough_data)
        self.metadata = metadata if metadata is not None else ResultMetadata()
        self.semantic_role = semantic_role

    @property
    def _semantic_role(self) -> str | None:
        # The name the official client and its decoders use.
        return self.semantic_role

    @property
    def timing(self) -> ChunkTiming:
        return ChunkTiming(self.metadata.chunk_timing)


# --- encoding (worker thread) ----------------------------------------------------------------


def encode_program(
    program: QuantumProgram,
    options: ExecutorOptions,
    *,
    semantic_role: str | None = None,
) -> dict[str, Any]:
    """The executor's ``params`` (schema ``v2.0``) for ``program``: a JSON-ready dict.

    CPU work (QPY, zlib, base64): call it in a worker thread. Raises :class:`InvalidInputError`
    for a program the schema refuses.
    """
    from ibm_quantum_schemas.common import CompressedQpyDataModel
    from ibm_quantum_schemas.executor.version_2_0 import (
        OptionsModel,
        ParamsModel,
        QuantumProgramModel,
    )
    from pydantic import ValidationError
    from qiskit.qpy import QPY_VERSION

    try:
        # All circuits in one QPY blob, as the service wants them; QPY is written under the
        # process-wide lock (codec._qpy says why).
        with QPY_LOCK:
            circuits = CompressedQpyDataModel.from_python(
                [item.circuit for item in program.items], qpy_version=QPY_VERSION
            )
        model = ParamsModel(
            quantum_program=QuantumProgramModel(
                shots=program.shots,
                circuits=circuits,
                items=[_item_model(index, item) for index, item in enumerate(program.items)],
                meas_level=program.meas_level,
                passthrough_data=_tree_to_wire(program.passthrough_data),
                semantic_role=semantic_role,
            ),
            options=OptionsModel(**options.program_options()),
        )
    except ValidationError as exc:
        raise InvalidInputError(f"the quantum program is not valid: {exc}") from exc
    params: dict[str, Any] = model.model_dump(mode="json")
    return params


def _item_model(index: int, item: object) -> Any:
    """One program item as its schema model (its circuit travels in the program's QPY blob)."""
    from ibm_quantum_schemas.common import (
        CompressedTensorModel,
        F64CompressedTensorModel,
        PauliLindbladMapModel,
        SamplexModel,
    )
    from ibm_quantum_schemas.executor.version_2_0 import CircuitItemModel, SamplexItemModel
    from samplomatic.ssv import SSV
    from samplomatic.tensor_interface import PauliLindbladMapSpecification

    if isinstance(item, CircuitItem):
        return CircuitItemModel(
            circuit_arguments=F64CompressedTensorModel.from_numpy(
                np.asarray(item.circuit_arguments, dtype=np.float64)
            ),
            chunk_size="auto" if item.chunk_size is None else item.chunk_size,
            shape=[],
        )
    if not isinstance(item, SamplexItem):
        raise InvalidInputError(
            f"program item {index} is a {type(item).__name__}, not a CircuitItem or SamplexItem"
        )
    values: dict[str, Any] = {}
    interface = item.samplex_arguments
    for spec in interface.specs:
        if spec.name not in interface:
            continue  # left to the samplex's default
        value = interface[spec.name]
        if isinstance(value, np.ndarray):
            values[spec.name] = CompressedTensorModel.from_numpy(value)
        elif isinstance(spec, PauliLindbladMapSpecification):
            values[spec.name] = PauliLindbladMapModel.from_pauli_lindblad_map(value)
        else:
            values[spec.name] = value
    # samplomatic writes the samplex's parameter table with qiskit.qpy: under the process-wide
    # QPY lock, like every QPY call (codec._qpy says why).
    with QPY_LOCK:
        samplex = SamplexModel.from_samplex(item.samplex, ssv=SSV)
    return SamplexItemModel(
        samplex=samplex,
        samplex_arguments=values,
        shape=list(item.shape),
        chunk_size="auto" if item.chunk_size is None else item.chunk_size,
    )


def _tree_to_wire(tree: Any) -> Any:
    """Passthrough data with its arrays as compressed tensors (the schema's ``DataTree``)."""
    from ibm_quantum_schemas.common import CompressedTensorModel

    if isinstance(tree, np.ndarray):
        return CompressedTensorModel.from_numpy(tree)
    if isinstance(tree, Mapping):
        return {str(key): _tree_to_wire(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_tree_to_wire(value) for value in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _tree_from_wire(tree: Any) -> Any:
    from ibm_quantum_schemas.common import CompressedTensorModel

    if isinstance(tree, CompressedTensorModel):
        return tree.to_numpy()
    if isinstance(tree, dict):
        return {key: _tree_from_wire(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_tree_from_wire(value) for value in tree]
    return tree


def check_program(program: object, backend: ServiceBackend) -> QuantumProgram:
    """Refuse what the backend cannot run before anything is sent (worker thread)."""
    if not isinstance(program, QuantumProgram):
        raise InvalidInputError(
            f"run() takes a QuantumProgram (samplomatic's or the official one), got "
            f"{type(program).__name__}"
        )
    if not program.items:
        raise InvalidInputError("the quantum program has no items")
    limit = backend.max_shots
    if limit is not None and program.shots > limit:
        raise InvalidInputError(
            f"the program asks for {program.shots} shots, more than {backend.name} allows ({limit})"
        )
    target = backend.target
    for index, item in enumerate(program.items):
        if isinstance(item, CircuitItem):
            check_isa(item.circuit, target, backend_name=backend.name, index=index)
    return program


# --- decoding (worker thread) ----------------------------------------------------------------


def decode_program_result(text: str) -> QuantumProgramResult:
    """A results document (schema ``v2.0``) as a :class:`QuantumProgramResult` (worker thread)."""
    import json

    from ibm_quantum_schemas.executor.version_2_0 import QuantumProgramResultModel
    from pydantic import ValidationError

    try:
        model = QuantumProgramResultModel.model_validate_json(text)
    except ValidationError as exc:
        # Parse again only to say why: another schema version, or a malformed document.
        try:
            version = json.loads(text).get("schema_version")
        except (ValueError, AttributeError):
            raise CodecError("the executor result is not a JSON object", path="/") from exc
        if version != SCHEMA_VERSION:
            raise CodecError(
                f"executor result schema {version!r} is not supported "
                f"(expected {SCHEMA_VERSION!r})",
                path="/schema_version",
            ) from exc
        raise CodecError(f"malformed executor result: {exc}", path="/") from exc
    spans = [
        ChunkSpan(
            _utc(span.start),
            _utc(span.stop),
            [ChunkPart(part.idx_item, part.size) for part in span.parts],
        )
        for span in model.metadata.chunk_timing
    ]
    data = [
        QuantumProgramItemResult(
            {name: tensor.to_numpy() for name, tensor in item.results.items()},
            ItemMetadata(
                scheduler_timing=(
                    item.metadata.scheduler_timing.model_dump()
                    if item.metadata.scheduler_timing is not None
                    else None
                ),
                stretch_values=(
                    [value.model_dump() for value in item.metadata.stretch_values]
                    if item.metadata.stretch_values is not None
                    else None
                ),
            ),
        )
        for item in model.data
    ]
    return QuantumProgramResult(
        data,
        ResultMetadata(spans),
        passthrough_data=_tree_from_wire(model.passthrough_data),
        semantic_role=model.semantic_role,
    )


#: Result post-processors by semantic role; the executor-based sampler and estimator register
#: theirs when imported (they build on this module, so it cannot import them).
_POST_PROCESSORS: dict[str, Callable[[QuantumProgramResult], Any]] = {}


def register_post_processor(
    semantic_role: str, post_process: Callable[[QuantumProgramResult], Any]
) -> None:
    """Turn results of ``semantic_role`` jobs found by id into ``post_process(result)``."""
    _POST_PROCESSORS[semantic_role] = post_process


def decode_executor_result(text: str) -> Any:
    """Any executor job's results, as the job's submitter meant them (worker thread).

    A result of the ``sampler_v2`` / ``estimator_v2`` role (ours or the official client's
    client-side primitives) becomes their ``PrimitiveResult``; any other a
    :class:`QuantumProgramResult`. For jobs found again by id (``service.job``, ``resume``),
    whose submitter is not known here.
    """
    result = decode_program_result(text)
    role = result.semantic_role
    post_process = None if role is None else _POST_PROCESSORS.get(role)
    return result if post_process is None else post_process(result)


# Executor jobs found again by id decode as their submitter meant them (runtime/_decoders.py).
register_result_decoder("executor", decode_executor_result)


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


# --- submission ------------------------------------------------------------------------------


def resolve_mode(mode: object) -> Mode:
    """``mode`` as given, or the session/batch whose ``async with`` block we are in."""
    if mode is None:
        mode = current_mode()
        if mode is None:
            raise InvalidInputError(
                "no mode: pass mode=backend, session or batch, or build the primitive inside "
                "'async with AsyncSession(...)'"
            )
    if not isinstance(mode, (AsyncSession, ServiceBackend)):
        raise bad_mode_error(mode)
    return mode


def refuse_dry_run(dry_run: object) -> None:
    """The official ``run(..., dry_run=True)`` asks the service for mock data: not emulated."""
    if dry_run is not False:
        raise InvalidInputError("dry_run=True is not supported by aioqruntime (run the job)")


class ModeMembers:
    """``mode`` and ``backend()`` of the executor-based primitives, as the official ones."""

    _mode: Mode

    @property
    def mode(self) -> AsyncSession | None:
        """The session or batch the jobs run in; ``None`` in job mode (as the official)."""
        return self._mode if isinstance(self._mode, AsyncSession) else None

    def backend(self) -> ServiceBackend:
        """The backend the jobs run on (no I/O)."""
        if not isinstance(self._mode, AsyncSession):
            return self._mode
        known = self._mode._backend  # the session's backend object, once given or fetched
        if known is None:
            raise InvalidInputError(
                f"the backend of this {type(self._mode).__name__} is not fetched yet: "
                "enter the session (async with) or await session.target_backend() first"
            )
        return known


async def mode_backend(mode: Mode) -> ServiceBackend:
    if isinstance(mode, AsyncSession):
        return await mode.target_backend()
    return mode


async def submit_program(
    mode: Mode,
    prepare: Callable[[ServiceBackend], dict[str, Any]],
    runtime: RuntimeOptions,
    result_decoder: Callable[[str], Any],
) -> AsyncRuntimeJob:
    """Build the params with ``prepare(backend)`` in a worker thread, then submit one job.

    ``prepare`` raises :class:`InvalidInputError` for bad input: nothing is sent then.
    """
    backend = await mode_backend(mode)
    service = backend.service if isinstance(mode, ServiceBackend) else mode.service
    params: dict[str, Any] = await run_off_loop(service, prepare, backend)
    if isinstance(mode, AsyncSession):
        return await mode._submit(
            EXECUTOR_PROGRAM_ID, params, runtime, result_decoder=result_decoder
        )
    return await submit_in_job_mode(
        service,
        program_id=EXECUTOR_PROGRAM_ID,
        backend_name=mode.name,
        params=params,
        options=runtime,
        result_decoder=result_decoder,
    )


class AsyncExecutor(ModeMembers):
    """Runs ``QuantumProgram``\\ s: ``job = await executor.run(program)``, ``await job``.

    ``mode``: a backend (job mode), an :class:`AsyncSession` or :class:`AsyncBatch`, or ``None``
    inside ``async with AsyncSession(...)``. ``options``: :class:`ExecutorOptions` or a nested
    dict of its fields (``environment``, ``execution``, ``experimental``,
    ``max_execution_time``), checked now; :attr:`options` may be changed between runs.
    """

    def __init__(
        self, mode: Mode | None = None, options: ExecutorOptions | Mapping[str, Any] | None = None
    ) -> None:
        self._mode = resolve_mode(mode)
        self.options: ExecutorOptions = build_options(ExecutorOptions, options)

    async def run(self, program: QuantumProgram, dry_run: bool = False) -> AsyncRuntimeJob:
        """Submit ``program`` as one ``executor`` job and return it at once."""
        refuse_dry_run(dry_run)
        options = build_options(ExecutorOptions, self.options)
        runtime = options.runtime_options()
        # The official QuantumProgram carries its role; samplomatic's has none.
        role = getattr(program, "_semantic_role", None)

        def prepare(backend: ServiceBackend) -> dict[str, Any]:
            checked = check_program(program, backend)
            return encode_program(checked, options, semantic_role=role)

        job = await submit_program(self._mode, prepare, runtime, decode_program_result)
        logger.debug("executor job %s submitted", job.job_id())
        return job
