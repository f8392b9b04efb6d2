"""pgjobs' own periodic work: stalled-job rescue and retention.

Declared as tasks (so every process knows them) and run by worker processes.
"""
