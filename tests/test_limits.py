"""The two limits a deployment may set from the environment refuse a value that would hang or crash the lab,
at import, naming the variable, the value and what is allowed."""
import importlib

import pytest

import limits

VARIABLES = {"MEDLAB_THREADS": "INFERENCE_THREADS", "MEDLAB_MAX_INFERENCES": "MAX_CONCURRENT_INFERENCES"}


@pytest.fixture
def reload_limits(monkeypatch):
    """Reloads limits under the test's environment; afterwards, reloads it without the variables so the
    other tests see the defaults again."""
    yield lambda: importlib.reload(limits)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    importlib.reload(limits)


@pytest.mark.parametrize("name", VARIABLES)
@pytest.mark.parametrize("given", ["0", "-1", "two", "1.5", ""])
def test_a_bad_value_stops_the_import_saying_what_is_allowed(reload_limits, monkeypatch, name, given):
    monkeypatch.setenv(name, given)
    with pytest.raises(ValueError) as raised:
        reload_limits()
    assert str(raised.value) == f"{name} must be a whole number >= 1, got {given!r}"


@pytest.mark.parametrize("name, constant", VARIABLES.items())
def test_a_good_value_is_used_and_no_value_keeps_the_default(reload_limits, monkeypatch, name, constant):
    monkeypatch.setenv(name, "3")
    assert getattr(reload_limits(), constant) == 3
    monkeypatch.delenv(name)
    assert (reload_limits().INFERENCE_THREADS, reload_limits().MAX_CONCURRENT_INFERENCES) == (1, 2)
