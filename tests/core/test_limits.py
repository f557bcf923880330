"""Compute caps: profiles, environment overrides, and the message an over-cap request gets."""

import pytest

from dln_core.errors import ConfigError
from dln_core.limits import HOSTED, LOCAL, check_cap, current_limits


def test_default_profile_is_local(monkeypatch):
    monkeypatch.delenv("DLN_LAB_PROFILE", raising=False)
    monkeypatch.delenv("DLN_LAB_MAX_STEPS", raising=False)
    assert current_limits() == LOCAL


def test_hosted_profile_is_tighter_everywhere(monkeypatch):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    lim = current_limits()
    assert lim == HOSTED
    assert all(getattr(HOSTED, f) < getattr(LOCAL, f) for f in LOCAL.__dataclass_fields__)


def test_env_override_of_one_cap(monkeypatch):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    monkeypatch.setenv("DLN_LAB_MAX_STEPS", "1234")
    lim = current_limits()
    assert lim.max_steps == 1234
    assert lim.max_depth == HOSTED.max_depth


@pytest.mark.parametrize(("var", "value"), [("DLN_LAB_PROFILE", "cloud"), ("DLN_LAB_MAX_STEPS", "-5"),
                                            ("DLN_LAB_MAX_STEPS", "many")])
def test_bad_environment_names_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        current_limits()


def test_check_cap_message_names_field_and_limit():
    check_cap("steps", 100, 100)
    with pytest.raises(ConfigError) as err:
        check_cap("steps", 101, 100)
    assert err.value.field == "steps"
    assert "at most 100" in str(err.value)
