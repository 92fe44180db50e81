"""`--provider sample` reads the synthetic world as the real providers read the stub."""

from __future__ import annotations

import pytest

from weather_api.errors import LocationNotFound
from weather_api.locations import Location, Units, WeatherQuery
from weather_api.providers.sample import SampleProvider
from weather_api.schemas import CurrentWeather
from weather_api.stub.owm import current_weather

NOW = 1_790_000_000  # a fixed clock: both sides describe the same moment


@pytest.mark.parametrize("units", list(Units))
@pytest.mark.parametrize(
    ("city", "country"), [("London", "GB"), ("Tromso", "NO"), ("Lima", "PE"), ("Perth", "AU")]
)
async def test_sample_answers_what_the_owm_stub_sends(
    city: str, country: str, units: Units
) -> None:
    """The sample provider's weather is the OpenWeatherMap stub's answer for the same city."""
    query = WeatherQuery(Location(city, country), units=units)
    sample = await SampleProvider(clock=lambda: NOW).current(query)
    status, body = current_weather(
        {"q": f"{city},{country}", "units": units.value, "appid": "k"}, now=NOW
    )
    assert status == 200
    assert sample == CurrentWeather.model_validate(body)


async def test_unknown_city_is_not_found() -> None:
    """Cities the world does not know are LocationNotFound, as from a real provider."""
    with pytest.raises(LocationNotFound):
        await SampleProvider().current(WeatherQuery(Location("Nowhereville", "GB")))
