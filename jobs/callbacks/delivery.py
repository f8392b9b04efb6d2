"""Sending a completion webhook: the ``pgjobs.deliver_callback`` task.

The database defers one delivery job per final state of a job with a
``callback_url``, in the transaction of that final state (migration
pgjobs_0010). A worker serving ``pgjobs.callbacks`` runs it like any job, so
a delivery survives restarts, is retried with backoff by its retry policy
(``PGJOBS_CALLBACK_MAX_ATTEMPTS``, delays from
``PGJOBS_CALLBACK_RETRY_INITIAL_DELAY_SECONDS`` tripling up to
``..._MAX_DELAY_SECONDS``), and one that never gets a 2xx ends ``failed``: a
dead letter, listed and retried like any other.

Each attempt re-checks the URL after DNS (:mod:`jobs.callbacks.targets`),
POSTs the signed body (:mod:`jobs.callbacks.signing`) to the very address it
checked, follows no redirect, gives up after ``PGJOBS_CALLBACK_TIMEOUT_SECONDS``
in all, and records its status code, latency and error in
``pgjobs_callback_attempts`` whatever happened.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import ssl
import time
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import procrastinate
from pydantic import BaseModel, ConfigDict

from db import callback_store
from jobs.callbacks import signing
from jobs.settings import Settings, load_settings
from jobs.tasks.callback_urls import CallbackPolicy, CallbackRefused, Target, resolve
from jobs.tasks.context import SETTINGS_KEY, TaskContext, job_pool
from jobs.tasks.registry import registry
from jobs.tasks.retry import RetryPolicy, ShutdownRetry

#: Keep in sync with migrations/versions/pgjobs_0010_callbacks.py (delivery tests fail if not).
CALLBACK_QUEUE = "pgjobs.callbacks"
DELIVER_TASK = "pgjobs.deliver_callback"
#: Error texts stored per attempt are cut to this many characters.
MAX_ERROR_LENGTH = 500


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx in time: the delivery is retried."""


class DeliveryArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: int
    event_id: int


def retry_policy(settings: Settings) -> RetryPolicy:
    """Retries of failed and timed-out attempts; a refused URL is never retried."""
    return RetryPolicy(
        max_attempts=settings.callback_max_attempts,
        backoff="exponential",
        initial_delay=settings.callback_retry_initial_delay_seconds,
        multiplier=3.0,
        max_delay=max(
            settings.callback_retry_max_delay_seconds,
            settings.callback_retry_initial_delay_seconds,
        ),
        jitter=0.1,
        retry_on=(DeliveryFailed,),
    )


def configure(app: procrastinate.App, settings: Settings) -> None:
    """Give the delivery task the retry policy of ``settings`` (when the app has it)."""
    task = app.tasks.get(DELIVER_TASK)
    if task is not None:
        task.retry_strategy = ShutdownRetry(retry_policy(settings))


def body(delivery: callback_store.Delivery) -> bytes:
    """The JSON body: the job's id, task, final status, result or error summary, attempts, times."""
    error = (
        None
        if delivery.error_type is None
        else {"type": delivery.error_type, "message": delivery.error_message}
    )
    document = {
        "id": delivery.idempotency_key,
        "type": "job.finished",
        "job": {
            "id": delivery.job_id,
            "task": delivery.task,
            "queue": delivery.queue,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "result": delivery.result if delivery.status == "succeeded" else None,
            "error": error if delivery.status != "succeeded" else None,
            "created_at": _iso(delivery.created_at),
            "started_at": _iso(delivery.started_at),
            "finished_at": _iso(delivery.finished_at),
        },
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(datetime.UTC).isoformat()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs more than a whole callback."""
    import httpx

    return httpx.create_ssl_context()


async def post(target: Target, content: bytes, headers: dict[str, str], seconds: float) -> int:
    """POST to the checked address (Host and TLS name stay the URL's); returns the status.

    ``seconds`` bounds the whole attempt, however slowly the receiver trickles its answer.
    httpx is imported here, not with the module: importing it loads its command line's
    libraries too, which the API process (it registers this task) never needs.
    """
    import httpx

    parts = urlsplit(target.url)
    address = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    pinned = urlunsplit(
        (parts.scheme, f"{address}:{target.port}", parts.path or "/", parts.query, "")
    )
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with (
        # a client per attempt: no connection is shared between hosts that resolve alike
        httpx.AsyncClient(
            timeout=seconds, follow_redirects=False, trust_env=False, verify=_tls()
        ) as client,
        asyncio.timeout(seconds),
    ):
        response = await client.post(
            pinned,
            content=content,
            headers={**headers, "Host": host_header},
            extensions=extensions,
        )
    return response.status_code


def _settings(ctx: TaskContext) -> Settings:
    found = ctx.procrastinate.additional_context.get(SETTINGS_KEY)
    return cast(Settings, found) if found is not None else load_settings()


@registry.task(
    name=DELIVER_TASK,
    args=DeliveryArgs,
    queue=CALLBACK_QUEUE,
    retry=retry_policy(Settings.model_construct()),
)
async def deliver_callback(ctx: TaskContext, args: DeliveryArgs) -> dict[str, Any]:
    """POST a finished job's outcome to its callback_url, signed; retried until a 2xx."""
    import httpx

    settings = _settings(ctx)
    pool = job_pool(ctx.procrastinate)
    async with pool.connection() as conn:
        delivery = await callback_store.callback_delivery_get(conn, args.job_id, args.event_id)
    if delivery is None:
        return {"skipped": "the job is gone (deleted by retention or by hand)"}
    content = body(delivery)
    sent_at = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    status_code: int | None = None
    failure: Exception | None = None
    try:
        target = await resolve(delivery.url, CallbackPolicy.from_settings(settings))
        if settings.callback_secret is None:
            raise CallbackRefused("no PGJOBS_CALLBACK_SECRET to sign callbacks with")
        headers = signing.headers(
            settings.callback_secret.get_secret_value(),
            int(sent_at.timestamp()),
            content,
            delivery.idempotency_key,
        )
        status_code = await post(target, content, headers, settings.callback_timeout_seconds)
        if not 200 <= status_code < 300:
            failure = DeliveryFailed(
                f"{delivery.url} answered HTTP {status_code}"
                + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
            )
    except CallbackRefused as refused:
        failure = refused
    except TimeoutError:
        failure = DeliveryFailed(
            f"no answer from {delivery.url} within {settings.callback_timeout_seconds} s"
        )
    except httpx.HTTPError as error:
        failure = DeliveryFailed(f"{delivery.url}: {type(error).__name__}: {error}")
    latency_ms = (time.perf_counter() - started) * 1000
    async with pool.connection() as conn:
        await callback_store.callback_attempt_record(
            conn,
            callback_store.AttemptRecord(
                delivery_job_id=delivery.delivery_job_id,
                attempt=ctx.attempt,
                sent_at=sent_at,
                status_code=status_code,
                latency_ms=latency_ms,
                error=None if failure is None else str(failure)[:MAX_ERROR_LENGTH],
                delivered=failure is None,
            ),
        )
    if failure is not None:
        raise failure
    return {"status_code": status_code, "latency_ms": round(latency_ms, 1)}
