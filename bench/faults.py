"""Fault injection, the long version: each fault under a steady stream of jobs, then a table.

Usage (starts an embedded Postgres of its own; never touches another server):

    uv run python -m bench.faults                     # every scenario, short intervals
    uv run python -m bench.faults --scenario kill-defaults   # SIGKILL with production timings

Scenarios (each on a fresh database, an API and 3 supervised workers):

* ``kill``: SIGKILL a worker in the middle of a job, ``--rounds`` times;
* ``kill-defaults``: the same once, with the default heartbeat (10 s), stalled
  threshold (30 s) and rescue schedule (every 10 s): the rescue bound users get;
* ``restart``: ``pg_ctl restart -m fast``, ``--rounds`` times;
* ``terminate``: ``pg_terminate_backend`` of every pgjobs connection, ``--rounds`` times;
* ``outage``: Postgres stopped for ``--outage`` seconds, then started.

Columns: jobs accepted (201), finished (final state), lost (accepted, never
final), duplicated (ran more than once; each explained by a rescue or shutdown
requeue, else "unexplained" says so), concurrent (two runs of one job overlapping),
throughput before / after the faults (jobs finished per second over 10 s),
time to recover (kill: from the kill to the job's rescue; the others: from the
fault to the first job created after it finishing).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.conditions import wait_for
from harness.faults.cluster import Cluster, Timing, stop_embedded
from harness.faults.load import Load
from harness.postgres import PostgresServer, create_template, start_embedded

WINDOW = 10.0  # seconds of throughput measured before and after the faults


@dataclass
class Row:
    scenario: str
    accepted: int
    finished: int
    lost: int
    duplicated: int
    unexplained: int
    concurrent: int
    before: float
    after: float
    recover: list[float]

    def cells(self) -> list[str]:
        recover = (
            f"{max(self.recover):.1f} s (mean {statistics.mean(self.recover):.1f})"
            if self.recover
            else "-"
        )
        return [
            self.scenario,
            str(self.accepted),
            str(self.finished),
            str(self.lost),
            f"{self.duplicated} ({self.unexplained} unexplained)",
            str(self.concurrent),
            f"{self.before:.1f}/s",
            f"{self.after:.1f}/s",
            recover,
        ]


HEADER = [
    "scenario",
    "accepted",
    "finished",
    "lost",
    "duplicated",
    "concurrent",
    "before",
    "after",
    "time to recover (max)",
]


def print_table(rows: list[Row]) -> None:
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for index, line in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def run_scenario(
    name: str,
    server: PostgresServer,
    template: str,
    fault: Callable[[Cluster, Load], list[float]],
    *,
    timing: Timing,
    rate: float,
    logs: Path,
) -> Row:
    """Stream jobs, measure, inject ``fault`` (returns recovery times), measure, judge."""
    database = server.create_database(template=template)
    cluster = Cluster(server=server, database=database, log_dir=logs / name, timing=timing)
    cluster.log_dir.mkdir(parents=True)
    cluster.prepare()
    try:
        cluster.start_api()
        cluster.start_workers(3)
        with Load(cluster.base_url, rate=rate, seconds=(0.2, 1.5)) as load:
            time.sleep(WINDOW + 3)  # pacing: reach a steady state, then measure it
            fault_at = time.time()
            before = cluster.completions(fault_at - WINDOW, fault_at) / WINDOW
            recover = fault(cluster, load)
            settled = time.time()
            time.sleep(WINDOW)  # pacing: measure the recovered throughput
            after = cluster.completions(settled, settled + WINDOW) / WINDOW
        accepted = load.accepted
        cluster.wait_until_final(accepted, within=300)
        verdict = cluster.verdict(accepted)
        return Row(
            scenario=name,
            accepted=len(accepted),
            finished=len(verdict.finished),
            lost=len(verdict.missing) + len(verdict.not_final),
            duplicated=len(verdict.duplicated),
            unexplained=len(verdict.unexplained_duplicates),
            concurrent=len(verdict.concurrent),
            before=before,
            after=after,
            recover=recover,
        )
    finally:
        cluster.close()
        cluster.ensure_postgres_running()
        server.drop_database(database)


def kills(rounds: int, pause: float) -> Callable[[Cluster, Load], list[float]]:
    def inject(cluster: Cluster, load: Load) -> list[float]:
        for _ in range(rounds):
            cluster.kill_worker_mid_job()
            time.sleep(pause)  # pacing
        wait_for(
            lambda: len(cluster.rescue_delays()) >= len(cluster.interrupted()),
            timeout=180,
            what="every interrupted job to be rescued",
        )
        return cluster.rescue_delays()

    return inject


def recovered_after(
    do: Callable[[Cluster], float], rounds: int
) -> Callable[[Cluster, Load], list[float]]:
    """Inject with ``do`` (returns the fault's moment), time until a new job completes."""

    def inject(cluster: Cluster, load: Load) -> list[float]:
        times = []
        for _ in range(rounds):
            moment = do(cluster)
            times.append(cluster.first_completion_after(moment, within=180))
            time.sleep(5)  # pacing
        return times

    return inject


def terminate(cluster: Cluster) -> float:
    moment = time.time()
    cluster.terminate_backends("pgjobs%")
    return moment


def outage(seconds: float) -> Callable[[Cluster], float]:
    def do(cluster: Cluster) -> float:
        cluster.stop_postgres()
        time.sleep(seconds)  # pacing: the outage itself
        cluster.start_postgres()
        return time.time()

    return do


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=["kill", "kill-defaults", "restart", "terminate", "outage"],
        help="run only these (repeatable); default: all",
    )
    parser.add_argument("--rounds", type=int, default=5, help="faults per scenario")
    parser.add_argument("--rate", type=float, default=6.0, help="jobs submitted per second")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Postgres is down")
    args = parser.parse_args()
    chosen = args.scenario or ["kill", "kill-defaults", "restart", "terminate", "outage"]

    fast = Timing()
    defaults = Timing(heartbeat=10, stalled_after=30, rescue_cron="* * * * * */10", grace=30)
    plans: dict[str, tuple[Callable[[Cluster, Load], list[float]], Timing]] = {
        "kill": (kills(args.rounds, pause=5), fast),
        "kill-defaults": (kills(1, pause=1), defaults),
        "restart": (recovered_after(lambda c: c.restart_postgres(), args.rounds), fast),
        "terminate": (recovered_after(terminate, args.rounds), fast),
        "outage": (recovered_after(outage(args.outage), 1), fast),
    }
    # the logs stay (their path is printed); the server's data goes with it
    scratch = Path(tempfile.mkdtemp(prefix="pgjobs-bench-faults-"))
    server = start_embedded(scratch)
    rows = []
    try:
        template = create_template(server)
        for name in chosen:
            fault, timing = plans[name]
            print(f"== {name} ...", flush=True)
            rows.append(
                run_scenario(
                    name, server, template, fault, timing=timing, rate=args.rate, logs=scratch
                )
            )
            print_table(rows[-1:])
    finally:
        stop_embedded(server)
        shutil.rmtree(scratch / "postgres", ignore_errors=True)
    print()
    print_table(rows)
    print(f"\nprocess logs: {scratch}")
    if any(row.lost or row.unexplained or row.concurrent for row in rows):
        raise SystemExit("FAULT RUN FAILED: a job was lost, re-run unexplained or run concurrently")


if __name__ == "__main__":
    main()
