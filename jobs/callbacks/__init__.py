"""Completion webhooks: where a job's end may be reported, how it is signed, how it is sent."""
