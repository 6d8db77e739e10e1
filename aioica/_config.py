"""Settings from arguments and the environment (the ICAV2_* conventions users already have)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Final

import httpx

from ._errors import ICAError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "CREDENTIAL_VARIABLES",
    "ConfigurationError",
    "check_base_url",
    "env_auth",
    "env_base_url",
]

DEFAULT_BASE_URL = "https://ica.illumina.com/ica/rest"
"""ICA's one public endpoint (every region is served from it)."""

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=60.0)
"""Connect 10 s, read 60 s (large pages of 1,000 items take a while), write 30 s, pool 60 s."""


class ConfigurationError(ICAError, ValueError):
    """The session cannot be configured: no credentials, a bad base URL, plain HTTP off-host."""


def env_base_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``ICAV2_BASE_URL`` (a full URL) or ``ICAV2_SERVER_URL`` (a bare host), if set."""
    env = os.environ if environ is None else environ
    full = env.get("ICAV2_BASE_URL", "").strip()
    if full:
        return full
    host = env.get("ICAV2_SERVER_URL", "").strip()
    if host:
        if "://" not in host:
            host = "https://" + host
        return host.rstrip("/") + "/ica/rest"
    return None


#: The credential variables in the order they are tried (the first one set wins): a JWT, sent
#: as ``Authorization: Bearer``, then an API key, sent as ``X-API-Key``.
CREDENTIAL_VARIABLES: Final = ("ICAV2_ACCESS_TOKEN", "ICAV2_X_API_KEY")


def env_auth(
    environ: Mapping[str, str] | None = None, *, labels: Mapping[str, str] | None = None
) -> httpx.Auth | None:
    """The auth the first of :data:`CREDENTIAL_VARIABLES` set in ``environ`` makes, or ``None``.

    Values are stripped; an empty one counts as unset. An unusable value raises
    :class:`ConfigurationError` naming the variable (or its ``labels`` entry: the command line
    names its options), never the value.
    """
    from ._auth import ApiKeyAuth, BearerAuth

    env = os.environ if environ is None else environ
    for name, kind in zip(CREDENTIAL_VARIABLES, (BearerAuth, ApiKeyAuth), strict=True):
        value = env.get(name, "").strip()
        if value:
            try:
                return kind(value)
            except (TypeError, ValueError) as exc:
                # The auth classes' messages name the problem, never the value.
                where = (labels or {}).get(name, name)
                raise ConfigurationError(f"{where}: {exc}") from None
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, ``*.localhost`` or a loopback IP."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_USERINFO = re.compile(r"^([^/?#]*//)?[^/?#]*@")


def _shown(base_url: str) -> str:
    """``base_url`` fit for a message: userinfo (a password, maybe) masked, length capped."""
    return _USERINFO.sub(lambda m: (m.group(1) or "") + "***@", base_url)[:200]


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Validate and normalise a base URL (no trailing slash).

    Plain ``http`` is allowed only to a loopback host (the fake ICA, a local proxy) unless the
    caller opts out explicitly: an API key sent in clear text is a key given away.
    """
    try:
        url = httpx.URL(base_url)
    except Exception:
        raise ConfigurationError(f"base_url is not a valid URL: {_shown(base_url)!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL, got {_shown(base_url)!r}"
        )
    if url.userinfo:
        raise ConfigurationError("base_url must not carry credentials; pass auth= instead")
    if url.query or url.fragment:
        raise ConfigurationError("base_url must not have a query or fragment")
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"refusing plain http to {url.host}: credentials would travel unencrypted; use "
            "https, or pass allow_insecure_http=True if you really mean it"
        )
    return str(url).rstrip("/")
