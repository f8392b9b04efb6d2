"""Postgres restarts under load: workers and API recover on their own, no accepted job is lost."""

from __future__ import annotations

import functools
import time

import pytest

from harness.conditions import wait_for
from harness.faults.cluster import Cluster
from harness.faults.load import Load


@pytest.mark.timeout(300)
def test_postgres_restarts_lose_no_accepted_job(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.start_workers(3)
    recoveries = []
    with Load(cluster.base_url, rate=5, seconds=(0.5, 2.0)) as load:
        time.sleep(3)  # pacing: let the stream settle
        for _ in range(2):
            restarted_at = cluster.restart_postgres()
            # the API takes jobs again, and jobs created after the restart complete
            wait_for(
                functools.partial(load.accepted_after, restarted_at + 0.5),
                timeout=30,
                what="the API to accept a job after the restart",
            )
            recoveries.append(cluster.first_completion_after(restarted_at + 0.5, within=60))
            time.sleep(4)  # pacing: the next restart under a steady stream again
    accepted = load.accepted
    assert len(accepted) > 50
    cluster.wait_until_final(accepted, within=120)

    verdict = cluster.verdict(accepted)
    verdict.assert_sound()
    assert verdict.kills == []
    assert max(recoveries) < 30, recoveries
    wait_for(lambda: cluster.live_workers() >= 3, timeout=60, what="all workers back")
