"""The operator's configuration comes from KUBATCH_* variables, checked in one place: a bad
value stops the operator at start with a line naming the variable and the rule."""

from __future__ import annotations

import pytest

from kubatch.config import ConfigError, OperatorConfig
from kubatch.controller.__main__ import main


def test_defaults_without_any_variable() -> None:
    config = OperatorConfig.from_environment({})
    assert config.write_qps == 100.0
    assert config.leader_election is True
    assert config.scale_in_after.total_seconds() == 300


def test_values_are_read_from_their_variables() -> None:
    config = OperatorConfig.from_environment(
        {
            "KUBATCH_WRITE_QPS": "20",
            "KUBATCH_LEADER_ELECTION": "false",
            "KUBATCH_LOG_FORMAT": "json",
        }
    )
    assert (config.write_qps, config.leader_election, config.log_format) == (20.0, False, "json")


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KUBATCH_WRITE_QPS", "-5", "KUBATCH_WRITE_QPS: must be greater than 0 (got '-5')"),
        ("KUBATCH_WRITE_BURST", "lots", "KUBATCH_WRITE_BURST: must be a valid integer"),
        ("KUBATCH_METRICS_PORT", "70000", "KUBATCH_METRICS_PORT: must be less than or equal"),
        ("KUBATCH_LEADER_ELECTION", "maybe", "KUBATCH_LEADER_ELECTION: must be a valid boolean"),
        ("KUBATCH_LOG_FORMAT", "xml", "KUBATCH_LOG_FORMAT: must be 'text' or 'json'"),
        ("KUBATCH_LEASE_SECONDS", "0", "KUBATCH_LEASE_SECONDS: must be greater than or equal to 1"),
    ],
    ids=lambda v: str(v),
)
def test_a_bad_value_is_refused_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        OperatorConfig.from_environment({variable: value})
    assert says in str(refused.value)


def test_the_operator_stops_at_start_on_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBATCH_WRITE_QPS", "zero")
    assert main([]) == 2
    assert "KUBATCH_WRITE_QPS: must be a valid number" in capsys.readouterr().err
