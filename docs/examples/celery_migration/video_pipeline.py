# A video pipeline: Celery's soft/hard time limits and revoke(terminate=True) become the
# task's time limits and POST /jobs/{id}/cancel, which reaches a running sync task through
# ctx.should_stop() (a hard limit stops it even if it never checks).
from __future__ import annotations

import time

from pydantic import BaseModel, Field

from jobs import SyncTaskContext, task


class Transcode(BaseModel):
    video_url: str
    segments: int = Field(default=10, ge=1, le=10_000)
    seconds_per_segment: float = Field(default=0.01, ge=0, le=60)


@task(
    name="guide.video.transcode",
    args=Transcode,
    queue="video",
    time_limit=3600,  # hard: the attempt fails with TimeLimitExceeded
    soft_time_limit=3300,  # soft: should_stop() turns true, time to clean up
)
def transcode(ctx: SyncTaskContext, args: Transcode) -> dict[str, object]:
    """Transcode segment by segment; stop cleanly when cancelled or near the limit."""
    done = 0
    for segment in range(1, args.segments + 1):
        ctx.stop_if_requested()  # cancel -> JobAborted (status aborted), limits -> their errors
        time.sleep(args.seconds_per_segment)  # ffmpeg would run here
        done = segment
        ctx.progress(100 * segment / args.segments, f"segment {segment}/{args.segments}")
    return {"output": args.video_url.rsplit("/", 1)[-1] + ".mp4", "segments": done}
