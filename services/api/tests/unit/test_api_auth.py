"""Tokens and the Authorization header."""

import pytest
from texpipe_api.auth import bearer_token, check_service_token, hash_token, new_token
from texpipe_api.errors import UnauthorizedError


def test_tokens_are_random_and_stored_as_a_hash() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert first.startswith("tpk_")
    assert len(first) > 40
    assert hash_token(first) == hash_token(first)
    assert first not in hash_token(first)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic abc", "Token x"])
def test_bad_headers(header: str | None) -> None:
    with pytest.raises(UnauthorizedError):
        bearer_token(header)


def test_service_token() -> None:
    assert bearer_token("bearer abc") == "abc"
    check_service_token("Bearer s3cret-service-token", "s3cret-service-token")
    with pytest.raises(UnauthorizedError):
        check_service_token("Bearer s3cret-service-tokeN", "s3cret-service-token")
