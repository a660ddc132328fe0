"""``client.jobs``: every ``/jobs`` request built and every answer parsed, here only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIError,
    APIStatusError,
    NotFoundError,
)
from aioqruntime.protocol import (
    MAX_JOBS_PAGE,
    HttpRequest,
    Job,
    JobCreated,
    JobList,
    cancel_job,
    delete_job,
    get_job,
    job_logs,
    job_metrics,
    job_results,
    list_jobs,
    update_job_tags,
)
from aioqruntime.transport import Transport

__all__ = ["JobsResource"]


class JobsResource:
    """Typed ``/jobs`` calls over one :class:`~aioqruntime.transport.Transport`."""

    def __init__(self, transport: Transport, counters: Counter[str]) -> None:
        self._transport = transport
        self._counters = counters

    async def create(self, request: HttpRequest, *, tag: str | None) -> JobCreated:
        """``POST /jobs`` once (``request`` from ``protocol.create_job``), never repeated here.

        A failure after the body may have been received (timeout, dropped connection, 5xx)
        raises :class:`AmbiguousSubmissionError` carrying ``tag``, the cause chained; a 429 is
        raised at once (the caller's limiter waits it out for every queued submission).
        """
        budget = self._transport.config.timeouts.submit
        try:
            response = await self._transport.send(
                replace(request, timeout=budget), idempotent=False, retry_rate_limited=False
            )
        except APIConnectionError as error:
            if not error.request_sent:
                raise
            raise self._ambiguous(error, tag) from error
        except APIStatusError as error:
            if error.status < 500:
                raise
            raise self._ambiguous(error, tag) from error
        return JobCreated.from_json(response.json())

    def _ambiguous(self, error: APIError, tag: str | None) -> AmbiguousSubmissionError:
        self._counters["ambiguous_submissions"] += 1
        status = f" (HTTP {error.status})" if isinstance(error, APIStatusError) else ""
        hint = (
            f"Look for a job tagged {tag!r} before submitting again." if tag else "It had no tag."
        )
        return AmbiguousSubmissionError(
            f"job submission may or may not have been accepted{status}: {error}. {hint}",
            job_tag=tag or None,
            method=error.method,
            url=error.url,
        )

    async def get(self, job_id: str) -> Job:
        """``GET /jobs/{id}`` (without its params)."""
        return Job.from_json((await self._transport.send(get_job(job_id))).json())

    async def params(self, job_id: str) -> dict[str, Any]:
        """The job's ``params`` as the service stores them (``{}`` when it has none)."""
        data = (await self._transport.send(get_job(job_id, exclude_params=False))).json()
        params = data.get("params") if isinstance(data, dict) else None
        return dict(params) if isinstance(params, dict) else {}

    async def list(
        self,
        *,
        limit: int | None = MAX_JOBS_PAGE,
        offset: int = 0,
        backend: str | None = None,
        pending: bool | None = None,
        program: str | None = None,
        tags: Iterable[str] = (),
        session_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        descending: bool = True,
        include_mocks: bool = False,
    ) -> JobList:
        """One page of ``GET /jobs`` (filters as in ``protocol.list_jobs``)."""
        request = list_jobs(
            limit=limit,
            offset=offset,
            backend=backend,
            pending=pending,
            program=program,
            tags=tuple(tags),
            session_id=session_id,
            created_after=created_after,
            created_before=created_before,
            descending=descending,
            include_mocks=include_mocks,
        )
        return await self.list_page(request)

    async def list_page(self, request: HttpRequest) -> JobList:
        """Send a prepared ``GET /jobs`` (e.g. the submission flow's tag lookup)."""
        return JobList.from_json((await self._transport.send(request)).json())

    async def results(self, job_id: str) -> str:
        """``GET /jobs/{id}/results`` as text (the codec decodes it, off the loop)."""
        return (await self._transport.send(job_results(job_id))).text()

    async def cancel(self, job_id: str) -> None:
        """``POST /jobs/{id}/cancel`` (repeating it is harmless: retried as idempotent)."""
        await self._transport.send(cancel_job(job_id), idempotent=True)

    async def delete(self, job_id: str) -> None:
        """``DELETE /jobs/{id}``."""
        await self._transport.send(delete_job(job_id))

    async def metrics(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}/metrics`` as a dict."""
        data = (await self._transport.send(job_metrics(job_id))).json()
        return dict(data) if isinstance(data, Mapping) else {}

    async def logs(self, job_id: str) -> str:
        """The job's log text (``""`` when the service has none: 404)."""
        try:
            return (await self._transport.send(job_logs(job_id))).text()
        except NotFoundError:
            return ""

    async def update_tags(self, job_id: str, tags: Iterable[str]) -> None:
        """``PUT /jobs/{id}/tags``."""
        await self._transport.send(update_job_tags(job_id, tags))
