"""weather-api."""
