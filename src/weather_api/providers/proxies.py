"""Proxies from the environment, read as the service honours them (docs/configuration.md).

`HTTP_PROXY` for http:// upstreams and `HTTPS_PROXY` for https:// ones, either case (the lower
case wins when both are set), with `NO_PROXY` host names, through the standard library's
`urllib.request` (`getproxies`, `proxy_bypass`), which `env_proxy` in the adapter asks. What is
ours: a proxy written without a scheme is an http:// one, as curl reads it; a scheme we cannot
speak stops the start (`check_proxy_environment`) instead of failing every request later.
Nothing here prints a proxy URL: it may carry a password.
"""

from __future__ import annotations

from collections.abc import Mapping

from yarl import URL

from weather_api.config import ConfigurationError

HONOURED = ("http", "https")
"""The `<scheme>_proxy` variables that apply: the upstreams' schemes (ALL_PROXY does not)."""
SPOKEN = frozenset({"http"})
"""Proxy schemes we speak to: plain HTTP (a CONNECT tunnel for https:// upstreams)."""


def proxy_url(value: str) -> str:
    """A proxy as written in the environment, `http://` when it names no scheme (as curl)."""
    value = value.strip()
    return value if "://" in value else f"http://{value}"


def check_proxy_environment(environ: Mapping[str, str]) -> None:
    """Refuse, naming the variable, a proxy we could not speak to or cannot read.

    socks4://, socks5:// and https:// proxies (aiohttp speaks none of them to us as asked), and
    values that are no URL. The message names the variable and the scheme, never the value.
    """
    for name, value in sorted(environ.items()):
        lower = name.lower()
        if not lower.endswith("_proxy") or lower.removesuffix("_proxy") not in HONOURED:
            continue
        if not value.strip():
            continue
        url = proxy_url(value)
        scheme = url.partition("://")[0].lower()
        if scheme not in SPOKEN:
            raise ConfigurationError(
                f"{name} names a {scheme}:// proxy; the service speaks only to http:// proxies "
                "(host:port or http://host:port)"
            )
        try:
            host = URL(url).host
        except ValueError:
            host = None
        if not host:
            raise ConfigurationError(
                f"{name} is not a proxy address; write host:port or http://host:port"
            )
