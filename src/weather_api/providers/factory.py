"""Builds the provider the settings name."""

from __future__ import annotations

import httpx

from weather_api import __version__
from weather_api.config import ProviderName, Settings
from weather_api.providers.base import WeatherProvider
from weather_api.providers.openmeteo import OpenMeteoProvider
from weather_api.providers.openweathermap import OpenWeatherMapProvider
from weather_api.providers.sample import SampleProvider
from weather_api.providers.upstream import UpstreamClient


def build_provider(settings: Settings, transport: httpx.AsyncBaseTransport) -> WeatherProvider:
    """The provider the settings name, sending its requests through `transport`."""
    name = settings.provider
    if name is ProviderName.SAMPLE:
        return SampleProvider()
    upstream = UpstreamClient(
        transport,
        provider=name.value,
        deadline=settings.request_deadline,
        attempts=settings.retry_attempts,
        headers={"user-agent": f"weather-api/{__version__}"},
    )
    override = str(settings.upstream_url) if settings.upstream_url else None
    if name is ProviderName.OPENWEATHERMAP:
        key = settings.api_key()
        if key is None:  # Settings refuses this combination; kept for type narrowing
            raise ValueError("openweathermap needs an API key")
        return OpenWeatherMapProvider(
            upstream, base_url=override or str(settings.openweathermap_url), api_key=key
        )
    return OpenMeteoProvider(
        upstream,
        geocoding_url=override or str(settings.openmeteo_geocoding_url),
        forecast_url=override or str(settings.openmeteo_forecast_url),
    )
