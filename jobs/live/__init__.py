"""Live job events for the API process: one LISTEN connection fanned out to streams.

API process only: the event hub, the event model, one client's stream with its
resume cursor, and the commit watermark that makes resuming exact.
"""
