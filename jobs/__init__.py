"""pgjobs' queue layer: tasks, worker middleware, job creation and control.

``app`` is the procrastinate App the CLI loads with ``--app=jobs.app``;
building it registers tasks and opens nothing.
"""

from jobs.engine import app

__all__ = ["app"]
