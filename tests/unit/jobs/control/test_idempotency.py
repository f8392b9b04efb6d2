from __future__ import annotations

import pytest

from jobs.control import idempotency
from jobs.settings import SettingsError, load_settings


def test_fingerprints_cover_the_endpoint_and_the_body() -> None:
    body = {"task": "t", "args": {"a": 1, "b": 2}}
    reordered = {"args": {"b": 2, "a": 1}, "task": "t"}
    fingerprint = idempotency.fingerprint("POST /jobs", body)
    assert fingerprint == idempotency.fingerprint("POST /jobs", reordered)
    assert fingerprint != idempotency.fingerprint("POST /batches", body)
    assert fingerprint != idempotency.fingerprint("POST /jobs", {**body, "queue": "q"})


def test_a_claim_carries_scope_key_fingerprint_and_ttl() -> None:
    claim = idempotency.claim(
        scope="api", key="k", endpoint="POST /jobs", body={"task": "t"}, ttl_seconds=60
    )
    assert (claim.scope, claim.key, claim.ttl_seconds) == ("api", "k", 60)
    assert claim.request_fingerprint == idempotency.fingerprint("POST /jobs", {"task": "t"})


def test_ttl_and_batch_body_limit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert defaults.idempotency_ttl_seconds == 24 * 3600
    assert defaults.max_batch_body_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("PGJOBS_IDEMPOTENCY_TTL_SECONDS", "600")
    monkeypatch.setenv("PGJOBS_MAX_BATCH_BODY_BYTES", "4096")
    settings = load_settings()
    assert (settings.idempotency_ttl_seconds, settings.max_batch_body_bytes) == (600, 4096)
    monkeypatch.setenv("PGJOBS_IDEMPOTENCY_TTL_SECONDS", "0")
    with pytest.raises(SettingsError, match="PGJOBS_IDEMPOTENCY_TTL_SECONDS"):
        load_settings()
