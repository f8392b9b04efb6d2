"""Prometheus metrics of one app (``GET /metrics``), in a registry of its own.

Each app has its own ``CollectorRegistry`` (never prometheus-client's global
one), so two apps in one process, as in the tests, count separately.

Where each figure comes from:

* API requests (``pgjobs_http_*``): counted in this process by
  :class:`RequestMetricsMiddleware`.
* Jobs by queue and state, queue lag, workers (``pgjobs_jobs``,
  ``pgjobs_queue_*``, ``pgjobs_workers``): gauges read from SQL at scrape time
  (``jobs.monitoring.queue_stats``, cached briefly).
* Job run time, pickup latency, finished jobs, retries, rescues
  (``pgjobs_job_*``): histograms and counters fed with the events committed in
  Postgres (``jobs.monitoring.event_tail`` reads them every 2 s and before each scrape),
  so they include every worker on every host. Every API process counts every
  job: when several are scraped, aggregate these with ``max``/``avg`` by
  labels, not ``sum``.
* Live streams (``pgjobs_live_*``): this process's SSE clients and listener.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.types import JobStatus
from jobs.live.hub import EventHub
from jobs.monitoring.event_tail import FINISHED, EventFigure, EventTail
from jobs.monitoring.queue_stats import QueueStats, QueueStatsCache
from jobs.tasks.routing import DeclaredNames

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; job run times span milliseconds (tool calls) to an hour (video).
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
PICKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: Label of requests that matched no route (keeps scanners from inventing label values).
UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    """The registry and instruments of one app.

    ``declared`` gives the queues and tasks that may appear as labels; any other name
    found in the data is counted as ``(other)``, so the number of series is bounded by
    the code, whatever clients sent or the jobs table holds.
    """

    def __init__(self, declared: Callable[[], DeclaredNames]) -> None:
        self.declared = declared
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "pgjobs_http_requests",
            "HTTP requests handled by this API process, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "pgjobs_http_request_duration_seconds",
            "Seconds from request to response headers (for live streams: to the stream's start).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.job_run = Histogram(
            "pgjobs_job_duration_seconds",
            "Seconds each attempt ran, from its 'started' event to its outcome (all workers).",
            ["queue", "task", "outcome"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.job_pickup = Histogram(
            "pgjobs_job_pickup_latency_seconds",
            "Seconds from runnable (created, retried or scheduled time) to started (all workers).",
            ["queue"],
            buckets=PICKUP_BUCKETS,
            registry=self.registry,
        )
        self.job_finished = Counter(
            "pgjobs_jobs_finished",
            "Jobs that reached a final state, by outcome (all workers).",
            ["queue", "task", "outcome"],
            registry=self.registry,
        )
        self.job_retries = Counter(
            "pgjobs_job_retries",
            "Jobs put back in their queue: automatic (retry policy, rescue) or manual (API).",
            ["queue", "task", "kind"],
            registry=self.registry,
        )
        self.job_rescues = Counter(
            "pgjobs_job_rescues",
            "Attempts lost with their worker and closed by the stalled-job rescue.",
            ["queue", "task"],
            registry=self.registry,
        )
        self._sources: tuple[QueueStatsCache, EventTail, EventHub] | None = None
        self._stats: QueueStats | None = None
        self.registry.register(_ReadingsCollector(self))

    def bind(self, stats: QueueStatsCache, tail: EventTail, hub: EventHub) -> None:
        """Attach the database-backed sources (the app's lifespan does, once its pool is open)."""
        self._sources = (stats, tail, hub)
        tail.observers.append(self._observe)

    @property
    def hub(self) -> EventHub | None:
        return None if self._sources is None else self._sources[2]

    @property
    def stats(self) -> QueueStats | None:
        return self._stats

    async def refresh(self) -> None:
        """Read the queues, and the events the background tail has not read yet."""
        if self._sources is None:
            return
        stats_cache, tail, _ = self._sources
        self._stats = await stats_cache.get()
        await tail.advance()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _observe(self, figure: EventFigure) -> None:
        names = self.declared()
        queue, task = names.queue(figure.queue), names.task(figure.task)
        if figure.type == "started":
            if figure.pickup_seconds is not None:
                self.job_pickup.labels(queue).observe(max(0.0, figure.pickup_seconds))
            return
        if figure.run_seconds is not None:
            outcome = "retried" if figure.type == "deferred_for_retry" else figure.type
            self.job_run.labels(queue, task, outcome).observe(max(0.0, figure.run_seconds))
        if figure.type in FINISHED:
            self.job_finished.labels(queue, task, figure.type).inc()
        elif figure.type == "deferred_for_retry":
            self.job_retries.labels(queue, task, "automatic").inc()
        elif figure.type == "retried":
            self.job_retries.labels(queue, task, "manual").inc()
        if figure.rescued:
            self.job_rescues.labels(queue, task).inc()


class _ReadingsCollector(Collector):
    """Gauges from the last SQL reading, rebuilt at each scrape (vanished queues disappear)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        stats = self._metrics.stats
        if stats is not None:
            yield from _queue_gauges(stats, self._metrics.declared())
        hub = self._metrics.hub
        if hub is not None:
            yield GaugeMetricFamily(
                "pgjobs_live_clients", "Live event streams (SSE) open on this process.",
                value=hub.subscriber_count,
            )  # fmt: skip
            yield GaugeMetricFamily(
                "pgjobs_live_listener_connected",
                "1 while this process's LISTEN connection is up.",
                value=1 if hub.connected else 0,
            )
            yield CounterMetricFamily(
                "pgjobs_live_notifications",
                "Notifications received by this process's listener.",
                value=hub.events_received,
            )
            yield CounterMetricFamily(
                "pgjobs_live_clients_dropped",
                "Live streams ended because the client read too slowly (it resumes).",
                value=hub.subscribers_dropped,
            )


def _queue_gauges(stats: QueueStats, names: DeclaredNames) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "pgjobs_jobs",
        "Jobs by queue and state (todo/doing fresh, finished states refreshed less often).",
        labels=["queue", "state"],
    )
    counts: dict[tuple[str, JobStatus], int] = {}
    for (queue, state), count in stats.counts.items():
        key = (names.queue(queue), state)
        counts[key] = counts.get(key, 0) + count
    for (queue, state), count in sorted(counts.items()):
        jobs.add_metric([queue, state], count)
    yield jobs
    lag = GaugeMetricFamily(
        "pgjobs_queue_lag_seconds",
        "Age of the oldest runnable job (todo and due) per queue; 0 when none waits.",
        labels=["queue"],
    )
    runnable = GaugeMetricFamily(
        "pgjobs_queue_runnable_jobs", "Jobs that could run now, per queue.", labels=["queue"]
    )
    oldest: dict[str, float] = {}
    waiting: dict[str, int] = {}
    for queue in stats.queues:
        label = names.queue(queue)
        queue_lag = stats.lag.get(queue)
        oldest[label] = max(oldest.get(label, 0.0), queue_lag.oldest_seconds if queue_lag else 0.0)
        waiting[label] = waiting.get(label, 0) + (queue_lag.runnable if queue_lag else 0)
    for label in sorted(oldest):
        lag.add_metric([label], oldest[label])
        runnable.add_metric([label], waiting[label])
    yield lag
    yield runnable
    workers = GaugeMetricFamily(
        "pgjobs_workers", "Registered workers by heartbeat state.", labels=["state"]
    )
    alive = len(stats.alive_workers)
    workers.add_metric(["alive"], alive)
    workers.add_metric(["stalled"], len(stats.workers) - alive)
    yield workers
    yield from _per_worker(stats)


def _per_worker(stats: QueueStats) -> Iterator[Metric]:
    """One series per worker process, labelled with its name (``<name>#<slot>`` under
    ``pgjobs worker``), from its last heartbeat."""
    labels = ["worker", "hostname"]
    heartbeat = GaugeMetricFamily(
        "pgjobs_worker_heartbeat_age_seconds",
        "Seconds since the worker's heartbeat.",
        labels=labels,
    )
    running = GaugeMetricFamily(
        "pgjobs_worker_running_jobs", "Jobs the worker runs now.", labels=labels
    )
    finished = GaugeMetricFamily(
        "pgjobs_worker_finished_jobs",
        "Jobs the worker process finished since it started (as of its last heartbeat).",
        labels=labels,
    )
    memory = GaugeMetricFamily(
        "pgjobs_worker_resident_memory_bytes",
        "Resident memory of the worker process (as of its last heartbeat).",
        labels=labels,
    )
    recycling = GaugeMetricFamily(
        "pgjobs_worker_recycling",
        "1 while the worker process drains to be replaced (max jobs or memory reached).",
        labels=labels,
    )
    for worker in stats.workers:
        key = [worker.label, worker.hostname or ""]
        heartbeat.add_metric(key, worker.heartbeat_age_seconds)
        running.add_metric(key, len(worker.jobs))
        recycling.add_metric(key, 1 if worker.recycling_reason else 0)
        if worker.jobs_finished is not None:
            finished.add_metric(key, worker.jobs_finished)
        if worker.resident_memory_bytes is not None:
            memory.add_metric(key, worker.resident_memory_bytes)
    yield from (heartbeat, running, finished, memory, recycling)


class RequestMetricsMiddleware:
    """Counts requests and times them to their response headers (pure ASGI: streams flow)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before responding
        timed = False

        async def timed_send(message: Message) -> None:
            nonlocal status, timed
            if message["type"] == "http.response.start":
                status = message["status"]
                timed = True
                self.metrics.http_latency.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = _route(scope)
            if not timed:
                self.metrics.http_latency.labels(scope["method"], route).observe(
                    time.perf_counter() - started
                )
            self.metrics.http_requests.labels(scope["method"], route, str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
