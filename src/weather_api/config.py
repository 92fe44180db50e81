"""Settings: one typed object, read once from `WEATHER_API_*` variables and CLI flags."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import (
    Field,
    HttpUrl,
    RedisDsn,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Seconds = Annotated[float, Field(ge=0)]
# An origin as browsers send it in `Origin` (scheme://host[:port], no path), or "*" for any.
Origin = Annotated[str, Field(pattern=r"^(\*|https?://[^/\s?#]+)$")]


class ConfigurationError(Exception):
    """The settings or the environment cannot work: the message says what and where, in one
    line, and `weather-api serve` prints it as `weather-api: cannot start: <message>`, exit 2."""


class ProviderName(StrEnum):
    """The upstreams the service can take its weather from."""

    OPENMETEO = "openmeteo"
    OPENWEATHERMAP = "openweathermap"
    SAMPLE = "sample"


class LogLevel(StrEnum):
    """Log levels accepted by `--log-level`."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    """Log line formats accepted by `--log-format`."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Everything the service can be told; each field is also `WEATHER_API_<FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix="WEATHER_API_",
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    # --- server
    host: str = "127.0.0.1"
    """Address to listen on (0.0.0.0 in containers)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port to listen on."""
    reuse_port: bool = False
    """Bind with SO_REUSEPORT, so several processes share the port (the kernel spreads load)."""
    log_level: LogLevel = LogLevel.INFO
    """Log level; debug also logs each upstream request (with keys redacted)."""
    log_format: LogFormat = LogFormat.AUTO
    """Log lines: json (one object per line, for collectors), console (aligned, local times,
    for people), or auto: console when stderr is a terminal, json otherwise."""
    drain_delay: Seconds = 2.0
    """After SIGTERM, keep serving this long with /readyz at 503 before closing the socket."""
    shutdown_grace: Seconds = 20.0
    """Then, how long in-flight requests may take to finish."""
    otel: bool = False
    """Export OpenTelemetry traces (also on whenever OTEL_SERVICE_NAME is set); the standard
    OTEL_* variables say where and how much: OTEL_EXPORTER_OTLP_ENDPOINT (default
    http://localhost:4318, OTLP over HTTP), OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
    Off, nothing of OpenTelemetry's SDK is loaded."""

    # --- clients: limits for slow, greedy or hostile ones (docs/operations.md, "Failure modes")
    keep_alive_timeout: int = Field(default=5, ge=1)
    """Seconds an idle connection stays open, before its first request and between requests."""
    request_read_timeout: float = Field(default=10.0, gt=0)
    """Seconds a client may take to send one request, from its first byte to its last; a
    slower one gets 408 and is disconnected (slowloris)."""
    max_url_bytes: int = Field(default=16_384, ge=1024, le=65_535)
    """Longest request target (path and query string) accepted; a longer one gets 414."""
    max_header_bytes: int = Field(default=16_384, ge=1024)
    """Most bytes of request headers accepted; more get 431."""
    limit_concurrency: int = Field(default=2048, ge=0)
    """Most connections and requests in progress at once (idle keep-alive connections count);
    beyond it, new requests get 503 at once. 0: no limit."""
    cors_origins: Annotated[tuple[Origin, ...], NoDecode] = ()
    """Origins whose browser scripts may read the API's answers, comma-separated
    (https://app.example.com), or "*" for any; empty (the default) sends no CORS headers."""

    # --- upstreams
    provider: ProviderName = ProviderName.OPENMETEO
    """Where the weather comes from: openmeteo (keyless), openweathermap (key) or sample."""
    upstream_url: HttpUrl | None = None
    """One base URL for every endpoint of the chosen provider (the stub's, say)."""
    openweathermap_url: HttpUrl = HttpUrl("https://api.openweathermap.org")
    """Base URL of OpenWeatherMap."""
    openweathermap_api_key: SecretStr | None = None
    """OpenWeatherMap API key (environment only: never a command-line flag)."""
    openweathermap_api_key_file: Path | None = None
    """A mounted secret file holding the key; used when `openweathermap_api_key` is unset."""
    openmeteo_geocoding_url: HttpUrl = HttpUrl("https://geocoding-api.open-meteo.com")
    """Base URL of Open-Meteo's geocoding API."""
    openmeteo_forecast_url: HttpUrl = HttpUrl("https://api.open-meteo.com")
    """Base URL of Open-Meteo's forecast API."""

    connect_timeout: Seconds = 2.0
    """Seconds to wait for an upstream connection: DNS, TCP, TLS and a proxy's CONNECT answer."""
    upstream_timeout: Seconds = 5.0
    """Read timeout of one upstream request, and the longest wait for a free connection."""
    request_deadline: Seconds = 8.0
    """The most a client waits for an upstream answer, retries included."""
    retry_attempts: int = Field(default=2, ge=1, le=5)
    """Attempts per upstream request, the first included (1 turns retries off)."""
    max_connections: int = Field(default=100, ge=1)
    """Upstream connection pool size."""
    max_keepalive_connections: int = Field(default=64, ge=0)
    """0: close each upstream connection after its answer. Any other value keeps idle ones open
    for reuse, up to --max-connections (aiohttp's pool has no separate cap on idle ones)."""

    # --- OpenWeatherMap-compatible routes (/data/2.5/*, docs/owm-compatible.md)
    compat_appids: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    """appids that /data/2.5/* accept, comma-separated (environment only, as a secret); with
    this and compat_appids_file both unset, any appid or none is accepted. Never sent upstream."""
    compat_appids_file: Path | None = None
    """A mounted file of accepted appids, one a line (blank lines and # comments skipped),
    added to compat_appids."""

    # --- batch endpoint
    batch_max_locations: int = Field(default=20, ge=1, le=200)
    """Most locations one /v1/weather request may ask for."""
    batch_concurrency: int = Field(default=8, ge=1)
    """Most upstream fetches one /v1/weather request runs at once."""

    # --- cache
    cache_ttl: Seconds = 600.0
    """OpenWeatherMap asks for one call per location per 10 minutes; 0 turns caching off."""
    forecast_cache_ttl: Seconds = 600.0
    """How long a /data/2.5/forecast answer is reused, per location, apart from current weather
    (in-process only); 0 turns forecast caching off."""
    cache_max_entries: int = Field(default=10_000, ge=1)
    """Most entries the cache holds; the oldest go first."""
    cache_stale_ttl: Seconds = 3600.0
    """How long past expiry an entry may still be served when the upstream fails."""
    cache_negative_ttl: Seconds = 60.0
    """How long "location not found" is remembered."""
    cache_url: RedisDsn | None = None
    """redis://host:port/db: a cache shared by every replica, behind the in-process one (one
    upstream call per location per TTL however many replicas run); unset keeps the cache
    in-process only. A password in it is never logged; give it in the environment, not as a flag."""
    cache_lock_ttl: float = Field(default=10.0, gt=0)
    """How long one replica may hold the lock on a location it fetches for all; keep it above
    request_deadline, so that a live fetch keeps its lock."""
    cache_wait_timeout: Seconds = 3.0
    """How long the other replicas wait for that fetch, before serving stale or fetching too."""
    cache_redis_timeout: float = Field(default=0.25, gt=0)
    """The most one Redis call may take, connecting included; then the upstream is asked.
    Redis answers in about a millisecond; this is above the stalls of a CPU-throttled pod."""
    cache_redis_backoff: Seconds = 2.0
    """After a Redis call fails, Redis is skipped this long before it is tried again."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):  # from a flag or the environment
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator(
        "upstream_url", "openweathermap_url", "openmeteo_geocoding_url", "openmeteo_forecast_url"
    )
    @classmethod
    def _base_url(cls, url: HttpUrl | None, info: ValidationInfo) -> HttpUrl | None:
        # pydantic checks that it is an http(s) URL; these parse too, and then fail on every
        # request: a path is appended to the base, so a query or fragment swallows it.
        if url is None:
            return url
        host = url.host or ""
        if url.query is not None or url.fragment is not None:
            problem = "a base URL takes no query string or fragment"
        elif url.port == 0:
            problem = "port 0 cannot be connected to"
        elif not host.startswith("[") and "" in host.removesuffix(".").split("."):
            problem = f"the host name {host!r} has an empty label"
        else:
            return url
        shown = str(url)
        if url.password:
            shown = shown.replace(f":{url.password}@", ":***@")
        name = info.field_name or ""
        raise ConfigurationError(
            f"--{name.replace('_', '-')} / WEATHER_API_{name.upper()} {shown!r}: {problem}"
        )

    @field_validator("compat_appids", mode="before")
    @classmethod
    def _comma_separated_appids(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment
            return tuple(appid.strip() for appid in value.split(",") if appid.strip())
        return value

    @model_validator(mode="after")
    def _appids_file_readable(self) -> Settings:
        # At start-up, as `serve` reports it ("cannot start"), not at the first request.
        if self.compat_appids_file is not None:
            self.accepted_appids()
        return self

    @model_validator(mode="after")
    def _key_for_openweathermap(self) -> Settings:
        # With openweathermap the key file is read now, so a typo stops the start; other
        # providers never read it (the manifests mount it from an optional Secret).
        if self.provider is ProviderName.OPENWEATHERMAP and self.api_key() is None:
            raise ValueError(
                "provider 'openweathermap' needs an API key: set "
                "WEATHER_API_OPENWEATHERMAP_API_KEY or WEATHER_API_OPENWEATHERMAP_API_KEY_FILE "
                "(or use --provider openmeteo, which needs none)"
            )
        return self

    def api_key(self) -> SecretStr | None:
        """The OpenWeatherMap key, from the setting or else (with that provider) from the file."""
        if self.openweathermap_api_key is not None:
            return self.openweathermap_api_key
        if (
            self.openweathermap_api_key_file is not None
            and self.provider is ProviderName.OPENWEATHERMAP
        ):
            return read_key_file(self.openweathermap_api_key_file)
        return None

    def accepted_appids(self) -> frozenset[str] | None:
        """The appids /data/2.5/* accept, or None when any is (neither setting given).

        Reads the file: call once, at start-up."""
        if not self.compat_appids and self.compat_appids_file is None:
            return None
        accepted = {appid.get_secret_value() for appid in self.compat_appids}
        if self.compat_appids_file is not None:
            try:
                text = self.compat_appids_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"compat_appids_file: cannot read {self.compat_appids_file}: {exc.strerror}"
                ) from None
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    accepted.add(line)
        return frozenset(accepted)


def read_key_file(path: Path) -> SecretStr:
    """The key a mounted secret file holds; ConfigurationError, naming the file, if none."""
    where = f"the OpenWeatherMap key file {str(path)!r} (WEATHER_API_OPENWEATHERMAP_API_KEY_FILE)"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        problem = "does not exist"
    except IsADirectoryError:
        problem = "is a directory, not a file"
    except PermissionError:
        problem = "cannot be read by this process (permission denied)"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    else:
        if text:
            return SecretStr(text)
        problem = "is empty"
    raise ConfigurationError(f"{where} {problem}")
