"""Creating and changing jobs: the create use case, batches, idempotency, cancel and
retry, dead letters, and the job query behind lists.

Runs in whichever process creates or changes jobs: the API, or application
code calling :func:`jobs.enqueue` in its own transaction.
"""
