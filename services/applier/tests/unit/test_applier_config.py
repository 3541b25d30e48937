"""Settings: defaults, the historical APPLY_MAX_RETRIES name, refused nonsense."""

import pytest
from pydantic import ValidationError
from texpipe_applier.config import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXPIPE_SERVICE_TOKEN", "t")
    settings = Settings()
    assert settings.ops_port == 8082
    assert settings.apply_max_retries == 8
    assert settings.retry_policy().shortest_span() >= 240


def test_apply_max_retries_reads_the_platform_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXPIPE_SERVICE_TOKEN", "t")
    monkeypatch.setenv("APPLY_MAX_RETRIES", "3")
    monkeypatch.setenv("TEXPIPE_APPLY_RETRY_BASE_S", "0.05")
    monkeypatch.setenv("TEXPIPE_APPLY_RETRY_CAP_S", "0.2")
    policy = Settings().retry_policy()
    assert (policy.max_retries, policy.base_s, policy.cap_s) == (3, 0.05, 0.2)


def test_a_cap_below_the_base_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXPIPE_SERVICE_TOKEN", "t")
    with pytest.raises(ValidationError, match="CAP_S"):
        Settings(apply_retry_base_s=10.0, apply_retry_cap_s=1.0)


def test_the_service_token_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEXPIPE_SERVICE_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="service_token"):
        Settings()
