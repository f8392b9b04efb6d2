"""Secrets in requests: API key tokens, session cookies, CSRF tokens.

Tokens are 256 random bits, so a fast hash is enough to store them: nobody can
brute-force 2**256 candidates, salted or not, and an unsalted SHA-256 can be
looked up by equality in a unique index (a slow, salted hash such as argon2
cannot, and would cost every request tens of milliseconds). Passwords, which
people choose, get argon2id instead (:mod:`api.auth.passwords`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

#: Every API key token starts with this, so leaked tokens are easy to recognise (and scan for).
KEY_PREFIX = "pgj_"
#: ``pgj_`` and 43 characters of base64url: 256 random bits.
KEY_TOKEN = re.compile(r"^pgj_[A-Za-z0-9_-]{43}$")
SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
#: Characters of a token shown by ``pgjobs keys list`` (not secret: 48 of 256 bits).
SHOWN_PREFIX = 12


def new_key_token() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    """What is stored and looked up for a token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


def shown_prefix(token: str) -> str:
    return token[:SHOWN_PREFIX]


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session, derived from its cookie (nothing more to store).

    A page of the dashboard carries it and sends it back in ``X-CSRF-Token``;
    another site can neither read the page nor compute it without the
    HttpOnly cookie.
    """
    mac = hmac.new(session_token.encode(), b"pgjobs-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def same(a: str, b: str) -> bool:
    """Compare secrets in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
