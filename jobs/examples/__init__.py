"""The example workloads: real tasks shaped like what pgjobs' users run.

A task module like any team's own: importing it registers its tasks.
"""

from jobs.examples import workloads  # noqa: F401  (registers the tasks)
