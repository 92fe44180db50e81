"""weather-api: current weather for a city, as OpenWeatherMap-shaped JSON."""

from importlib.metadata import version

__version__ = version("weather-api")
