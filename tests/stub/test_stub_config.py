"""StubConfig and the live FaultConfig: defaults and validation."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from weather_api.stub import FaultConfig, StubConfig
from weather_api.stub.config import FAULT_FIELDS


def test_defaults_switch_every_fault_off() -> None:
    """A default StubConfig listens on 127.0.0.1:9000 and injects nothing."""
    config = StubConfig()
    assert (config.host, config.port, config.seed) == ("127.0.0.1", 9000, None)
    assert config.faults() == FaultConfig()
    assert config.faults().as_dict() == {
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        "error_rate": 0.0,
        "error_status": 503,
        "retry_after": None,
        "reset_rate": 0.0,
        "malformed_rate": 0.0,
        "truncate_rate": 0.0,
        "trailing_response_rate": 0.0,
        "unsolicited_response_delay_ms": 0.0,
        "stall_ms": 0.0,
        "drip_ms": 0.0,
    }


def test_config_is_frozen_and_keyword_only() -> None:
    """StubConfig cannot change after start-up and takes keywords only."""
    config = StubConfig(error_rate=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.error_rate = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        StubConfig("0.0.0.0")  # type: ignore[misc]


def test_faults_copy_the_config() -> None:
    """`faults()` copies every fault field, as floats where they are times or rates."""
    config = StubConfig(latency_ms=5, error_rate=1, error_status=429, retry_after=3, drip_ms=2)
    faults = config.faults()
    assert faults.latency_ms == 5.0
    assert isinstance(faults.latency_ms, float)
    assert (faults.error_rate, faults.error_status, faults.retry_after) == (1.0, 429, 3)
    assert set(faults.as_dict()) == set(FAULT_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", -1),
        ("jitter_ms", math.inf),
        ("stall_ms", math.nan),
        ("drip_ms", "10"),
        ("latency_ms", True),
        ("error_rate", 1.5),
        ("reset_rate", -0.1),
        ("malformed_rate", math.nan),
        ("truncate_rate", None),
        ("trailing_response_rate", 2),
        ("error_rate", False),
        ("error_status", 200),
        ("error_status", 600),
        ("error_status", 503.0),
        ("error_status", True),
        ("retry_after", -1),
        ("retry_after", 1.5),
        ("retry_after", True),
    ],
)
def test_invalid_fault_values_are_rejected(field: str, value: Any) -> None:
    """Negative or non-finite times, rates outside [0, 1] and odd statuses raise ValueError."""
    with pytest.raises(ValueError, match=field):
        StubConfig(**{field: value})
    faults = FaultConfig()
    with pytest.raises(ValueError, match=field):
        setattr(faults, field, value)
    assert faults == FaultConfig()


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"host": ""}, "host"), ({"port": -1}, "port"), ({"port": 65536}, "port")],
)
def test_invalid_addresses_are_rejected(fields: dict[str, Any], message: str) -> None:
    """An empty host or a port outside 0..65535 raises ValueError."""
    with pytest.raises(ValueError, match=message):
        StubConfig(**fields)


def test_fault_fields_can_be_assigned() -> None:
    """Assigning a valid value to a live fault field takes effect at once."""
    faults = FaultConfig()
    faults.error_rate = 1
    faults.retry_after = None
    assert faults.error_rate == 1.0


def test_unknown_attributes_are_refused() -> None:
    """A typo in a field name fails loudly instead of doing nothing."""
    faults = FaultConfig()
    with pytest.raises(AttributeError, match="eror_rate"):
        faults.eror_rate = 1  # type: ignore[attr-defined]


def test_update_is_all_or_nothing() -> None:
    """`update` applies every change or, when one is invalid or unknown, none of them."""
    faults = FaultConfig()
    with pytest.raises(ValueError, match="error_status"):
        faults.update({"error_rate": 1, "error_status": 99})
    with pytest.raises(ValueError, match="unknown fault field"):
        faults.update({"error_rate": 1, "seed": 3})
    assert faults == FaultConfig()
    faults.update({"error_rate": 1, "error_status": 429, "retry_after": 2})
    assert (faults.error_rate, faults.error_status, faults.retry_after) == (1.0, 429, 2)


def test_clear_switches_every_fault_off() -> None:
    """`clear` restores the defaults."""
    faults = StubConfig(latency_ms=3, reset_rate=0.2, retry_after=1).faults()
    faults.clear()
    assert faults == FaultConfig()
