"""SIGKILL workers mid-job, repeatedly: nothing lost, only killed jobs rerun, never two at once."""

from __future__ import annotations

import time

import pytest

from harness.faults.cluster import Cluster
from harness.faults.load import Load


@pytest.mark.timeout(300)
def test_killing_workers_mid_job_loses_nothing_and_reruns_only_killed_jobs(
    cluster: Cluster,
) -> None:
    cluster.start_api()
    cluster.start_workers(3)
    with Load(cluster.base_url, rate=5, seconds=(0.5, 2.0)) as load:
        time.sleep(3)  # pacing: let the stream settle
        for _ in range(3):
            cluster.kill_worker_mid_job()
            time.sleep(4)  # pacing: the next kill once the supervisor restarted the worker
    accepted = load.accepted
    assert len(accepted) > 50
    cluster.wait_until_final(accepted, within=120)

    verdict = cluster.verdict(accepted)
    verdict.assert_sound()
    assert not verdict.not_succeeded, verdict.summary()
    # at-least-once: a job ran again only when its worker was killed running it, and each
    # of those jobs carries the rescue's record (a 'lost' attempt naming the dead worker)
    interrupted = {
        run.job_id for runs in verdict.executions.values() for run in runs if run.finished is None
    }
    assert interrupted, "no kill interrupted a job"
    assert set(verdict.duplicated) <= interrupted, verdict.summary()
    assert interrupted <= set(verdict.lost_attempts), verdict.summary()
    # rescued within stalled_after (4 s) + a rescue tick (1 s), with room for a loaded machine
    delays = cluster.rescue_delays()
    assert delays, "no rescue observed"
    assert max(delays) < 20, delays
    # and the supervisors brought every killed worker back
    assert cluster.live_workers() >= 3
