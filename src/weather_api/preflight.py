"""Checks of the environment that are not settings, made before the service starts.

`weather-api serve` calls `check_environment` after the settings are read and before it
serves: what it finds wrong stops the start with one line (`weather-api: cannot start: ...`,
exit 2), where it would otherwise fail later on every request, or not at all.

SSL_CERT_FILE and SSL_CERT_DIR: OpenSSL reads them when the upstream client's SSL context is
made, and quietly trusts nothing from a file or directory that does not exist or holds no
certificate. A typo then leaves `https://` upstreams unverifiable: the service would report
ready and answer every miss with an error.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from weather_api.config import ConfigurationError

# `openssl rehash` names each certificate by its subject's hash: 8 hex digits, a dot, a number.
# OpenSSL looks certificates up in a directory by that name only.
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Raise ConfigurationError, saying what and where, for an environment that cannot work."""
    paths = ssl.get_default_verify_paths()
    cert_file = environ.get(paths.openssl_cafile_env)  # SSL_CERT_FILE
    if cert_file is not None:
        _check_cert_file(paths.openssl_cafile_env, cert_file)
    cert_dir = environ.get(paths.openssl_capath_env)  # SSL_CERT_DIR
    if cert_dir is not None:
        _check_cert_dir(paths.openssl_capath_env, cert_dir)


def _check_cert_file(variable: str, value: str) -> None:
    where = f"{variable}={value!r}"
    if not value:
        # OpenSSL takes an empty value as a file name: no certificate is read from anywhere.
        raise ConfigurationError(f"{where} is set but empty; unset it or name a PEM file")
    path = Path(value)
    if path.is_dir():
        raise ConfigurationError(f"{where} is a directory; a directory goes in SSL_CERT_DIR")
    try:
        path.open("rb").close()
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except PermissionError:
        raise ConfigurationError(
            f"{where} cannot be read by this process (permission denied)"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{where} cannot be read ({exc.strerror})") from None
    if _certificates_in(path) == 0:
        raise ConfigurationError(f"{where} holds no PEM certificate")


def _check_cert_dir(variable: str, value: str) -> None:
    where = f"{variable}={value!r}"
    # OpenSSL takes a list of directories, separated as in PATH.
    directories = [Path(entry) for entry in value.split(os.pathsep) if entry]
    if not directories:
        raise ConfigurationError(f"{where} is set but empty; unset it or name a directory")
    found = False
    for directory in directories:
        which = where if len(directories) == 1 else f"{where}: {str(directory)!r}"
        if not directory.is_dir():
            if directory.exists():
                raise ConfigurationError(f"{which} is a file; a file goes in SSL_CERT_FILE")
            raise ConfigurationError(f"{which} does not exist")
        try:
            names = sorted(entry.name for entry in os.scandir(directory))
        except OSError as exc:
            raise ConfigurationError(
                f"{which} cannot be read by this process ({exc.strerror})"
            ) from None
        # The first certificate OpenSSL can load ends the search (a system directory has
        # hundreds); OpenSSL finds them by these names only.
        found = found or any(
            _HASHED_NAME.fullmatch(name) and _certificates_in(directory / name) > 0
            for name in names
        )
    if not found:
        raise ConfigurationError(
            f"{where} holds no certificate under a name OpenSSL looks up "
            "(run `openssl rehash` on it after adding certificates)"
        )


def _certificates_in(path: Path) -> int:
    """How many certificates OpenSSL loads from the PEM file `path` (0 for none or no access)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError):  # unreadable, or not PEM: OpenSSL says "no certificate"
        return 0
    return int(context.cert_store_stats()["x509"])
