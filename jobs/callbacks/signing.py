"""The signature of a callback: HMAC-SHA256 over the timestamp and the body.

Headers of every callback request::

    Content-Type: application/json
    Pgjobs-Timestamp: 1764314400                 (Unix seconds, when this attempt was sent)
    Pgjobs-Signature: v1=5f2b...                 (hex HMAC-SHA256, key PGJOBS_CALLBACK_SECRET,
                                                  message "<timestamp>.<raw body bytes>")
    Idempotency-Key: job-42-event-311            (the same on every retry of this delivery)

A receiver recomputes the HMAC over the exact bytes it received, compares in
constant time, and refuses timestamps too far from its clock (replays);
docs/callbacks.md shows it in a few lines. ``v1=`` names the scheme so a later
one can be sent beside it during a secret or algorithm rotation.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "Pgjobs-Timestamp"
SIGNATURE_HEADER = "Pgjobs-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def headers(secret: str, timestamp: int, body: bytes, idempotency_key: str) -> dict[str, str]:
    """Every header a callback request carries."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "pgjobs-callbacks/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }
