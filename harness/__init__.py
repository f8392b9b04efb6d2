"""Processes and databases that the tests and the benchmarks both drive.

A scratch Postgres and databases cloned from a migrated template
(:mod:`harness.postgres`), the API and worker processes of a deployment
(:mod:`harness.stack`), waiting on a condition with a deadline
(:mod:`harness.conditions`), and the fault-injection cluster
(:mod:`harness.faults`). It lives outside ``tests/`` so that ``bench/`` imports no
test code, and outside the shipped packages (``api``, ``jobs``, ``db``,
``migrations``), which never import it (import-linter checks both).
"""
