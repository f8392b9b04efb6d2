"""Connections killed under the processes' feet (pg_terminate_backend): workers and API recover."""

from __future__ import annotations

import functools
import time

import pytest

from harness.conditions import wait_for
from harness.faults.cluster import Cluster
from harness.faults.load import Load


@pytest.mark.timeout(300)
def test_terminated_backends_lose_no_accepted_job(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.start_workers(3)
    with Load(cluster.base_url, rate=5, seconds=(0.5, 2.0)) as load:
        time.sleep(3)  # pacing: let the stream settle
        for round_ in range(3):
            # the workers' connections (pool and LISTEN), then the API's, then both
            pattern = ("pgjobs-worker", "pgjobs", "pgjobs%")[round_]
            terminated_at = time.time()
            assert cluster.terminate_backends(pattern) > 0
            wait_for(
                functools.partial(load.accepted_after, terminated_at + 0.5),
                timeout=30,
                what="the API to accept a job again",
            )
            cluster.first_completion_after(terminated_at + 0.5, within=60)
            time.sleep(3)  # pacing
    accepted = load.accepted
    assert len(accepted) > 50
    cluster.wait_until_final(accepted, within=120)

    verdict = cluster.verdict(accepted)
    verdict.assert_sound()
    wait_for(lambda: cluster.live_workers() >= 3, timeout=60, what="all workers back")
