"""Upstream weather providers, one module each, behind the `base.WeatherProvider` Protocol.

`factory.build_provider` picks one from the settings.
"""
