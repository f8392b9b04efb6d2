"""Start-up: what ``import api.main`` costs next to its libraries, and how soon the API serves.

    uv run python -m bench.startup [--runs 9] [--database-url URL] [--profile]

**Import.** Fresh interpreters, in turn: one imports the libraries the API
cannot do without (``fastapi, procrastinate, psycopg_pool, pydantic_settings``),
the next imports ``api.main``. Each child times its own import statement
(interpreter start-up is left out), and the figures are medians; the ratio is
given twice, median over median and the median of the pair-by-pair ratios (which
holds when the shared machine's speed drifts during the run). The target is at
most 1.6.

**Serving.** Fresh ``uvicorn --factory api.main:app_from_environment`` processes
on a migrated scratch database; the figure is the time from spawning the process
to the first ``200`` on ``/health`` (uvicorn answers only once the lifespan has
run: pool, listener, first health check). The baseline, run in turn with it, is
the smallest FastAPI app importing the same libraries, served by the same command.

``--profile`` adds, from ``python -X importtime``, what ``api.main`` imports on
top of the libraries, grouped by top-level package: where to look when the
ratio grows.

This module's top level imports only the standard library (and
``harness.processes``, which imports nothing else): uvicorn imports it in the
baseline runs, which must not pay for anything the API does not.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.processes import ROOT, free_port

if TYPE_CHECKING:
    from fastapi import FastAPI

LIBRARIES = "fastapi, procrastinate, psycopg_pool, pydantic_settings"
#: How the libraries are named in the report.
LIBRARIES_LABEL = "the libraries (fastapi, procrastinate, ...)"
API_FACTORY = "api.main:app_from_environment"
BASELINE_FACTORY = "bench.startup:baseline_app"
#: Seconds a server gets to answer its first /health: a liveness bound, not a figure.
SERVE_DEADLINE = 120.0


def baseline_app() -> FastAPI:
    """The libraries the API needs and one route: what any such service pays to serve."""
    import procrastinate  # noqa: F401
    import psycopg_pool  # noqa: F401
    import pydantic_settings  # noqa: F401
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def import_seconds(modules: str) -> float:
    """Seconds a fresh interpreter spends in ``import <modules>``."""
    code = (
        "import time\n"
        "started = time.perf_counter()\n"
        f"import {modules}\n"
        "print(time.perf_counter() - started)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def _answers_200(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def serve_seconds(factory: str, database_url: str, port: int) -> float:
    """Seconds from spawning uvicorn on ``factory`` to its first 200 on /health."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
    env["DATABASE_URL"] = database_url
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        while not _answers_200(port):
            if server.poll() is not None:
                raise RuntimeError(f"{factory} exited with {server.returncode} before serving")
            if time.perf_counter() - started > SERVE_DEADLINE:
                raise RuntimeError(f"{factory} did not answer /health in {SERVE_DEADLINE}s")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def paired(
    runs: int, measure_a: Callable[[], float], measure_b: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """A then B, ``runs`` times, after one warm-up pair (disk cache, bytecode)."""
    measure_a(), measure_b()
    a_values: list[float] = []
    b_values: list[float] = []
    for _ in range(runs):
        a_values.append(measure_a())
        b_values.append(measure_b())
    return a_values, b_values


def report(title: str, a_name: str, a: list[float], b_name: str, b: list[float]) -> None:
    pair_ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"\n{title} ({len(a)} runs each, seconds: median [min-max])")
    for name, values in ((a_name, a), (b_name, b)):
        median = statistics.median(values)
        print(f"  {name:<40} {median:6.3f}  [{min(values):.3f}-{max(values):.3f}]")
    print(
        f"  ratio: median/median {statistics.median(a) / statistics.median(b):.2f}, "
        f"median of pairs {statistics.median(pair_ratios):.2f} "
        f"[{min(pair_ratios):.2f}-{max(pair_ratios):.2f}]"
    )


def profile() -> None:
    """What api.main imports beyond the libraries, by top-level package (self times)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {LIBRARIES}; import api.main"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = done.stderr.splitlines()
    # -X importtime prints a module when its import finishes: the libraries' last line
    # (pydantic_settings, imported last) separates their imports from api.main's
    last_library = max(
        i for i, line in enumerate(lines) if line.rstrip().endswith("| pydantic_settings")
    )
    by_package: dict[str, int] = defaultdict(int)
    for line in lines[last_library + 1 :]:
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        by_package[fields[2].strip().split(".")[0]] += int(fields[0])
    total = sum(by_package.values())
    print(f"\napi.main on top of the libraries: {total / 1e6:.3f} s (one run, self times)")
    for package, microseconds in sorted(by_package.items(), key=lambda item: -item[1])[:15]:
        print(f"  {package:<24} {microseconds / 1e3:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    api_imports, library_imports = paired(
        args.runs, lambda: import_seconds("api.main"), lambda: import_seconds(LIBRARIES)
    )
    report("import", "api.main", api_imports, LIBRARIES_LABEL, library_imports)
    if args.profile:
        profile()

    # not at the top: bench.harness imports alembic, which the baseline must not pay for
    from bench.harness import scratch_database

    with scratch_database(args.database_url) as database_url:
        api_serves, baseline_serves = paired(
            args.runs,
            lambda: serve_seconds(API_FACTORY, database_url, free_port()),
            lambda: serve_seconds(BASELINE_FACTORY, database_url, free_port()),
        )
    report(
        "process start to first 200 on /health",
        "api (uvicorn --factory api.main)",
        api_serves,
        "baseline (same libraries, one route)",
        baseline_serves,
    )


if __name__ == "__main__":
    main()
