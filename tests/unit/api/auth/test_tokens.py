from __future__ import annotations

import hashlib

from api.auth import tokens


def test_key_tokens_are_256_random_bits_behind_a_recognisable_prefix() -> None:
    first, second = tokens.new_key_token(), tokens.new_key_token()
    assert first != second
    assert tokens.KEY_TOKEN.match(first)
    assert first.startswith("pgj_")
    assert len(first) == 4 + 43  # 32 bytes in base64url
    assert tokens.shown_prefix(first) == first[:12]


def test_only_the_sha256_of_a_token_is_what_is_stored() -> None:
    token = tokens.new_key_token()
    assert tokens.digest(token) == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in tokens.digest(token)


def test_each_session_has_its_own_csrf_token_derived_from_its_cookie() -> None:
    one, two = tokens.new_session_token(), tokens.new_session_token()
    assert tokens.SESSION_TOKEN.match(one)
    assert tokens.csrf_token(one) == tokens.csrf_token(one)
    assert tokens.csrf_token(one) != tokens.csrf_token(two)
    assert one not in tokens.csrf_token(one)
    assert tokens.same(tokens.csrf_token(one), tokens.csrf_token(one))
    assert not tokens.same(tokens.csrf_token(one), tokens.csrf_token(two))
