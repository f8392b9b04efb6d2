"""Dashboard users' passwords: argon2id (argon2-cffi's defaults, the RFC 9106 profile).

Hashing and checking cost tens of milliseconds and 64 MiB on purpose, so they
run in a thread (never on the event loop), and logins are rate limited
(:mod:`api.auth.limits`). argon2 is imported on first use: the API's start-up
does not pay for it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12
MAX_LENGTH = 1024


class WeakPassword(ValueError):
    pass


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _decoy() -> str:
    """A hash checked when the user does not exist, so both cases take as long."""
    return _hasher().hash("pgjobs-no-such-user")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in password):
        raise WeakPassword("a password may not contain control characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher().hash(password)


def _verify(stored_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash or _decoy(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash at login)."""
    return _hasher().check_needs_rehash(stored_hash)


async def verify(stored_hash: str | None, password: str) -> bool:
    """Check a password in a thread; a missing user (None) is checked against a decoy."""
    return await asyncio.to_thread(_verify, stored_hash, password)
