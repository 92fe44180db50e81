"""A fake OpenWeatherMap and Open-Meteo on one port, with faults on demand.

Used by the tests, by local runs and by load tests. `start_stub` runs it inside the caller's
event loop; `run_stub` is the blocking entry point of `weather-api stub`.
"""

from weather_api.stub.config import FaultConfig, StubConfig
from weather_api.stub.server import StubServer, run_stub, start_stub
from weather_api.stub.stats import StubStats

__all__ = ["FaultConfig", "StubConfig", "StubServer", "StubStats", "run_stub", "start_stub"]
