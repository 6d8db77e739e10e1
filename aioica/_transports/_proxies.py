"""Proxies from the environment for a session's own transports.

httpx applies ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` only to a client
it builds its transport for; a client given a transport (as a session's is) ignores them. A
session with ``trust_env=True`` therefore mounts them itself, by httpx's rules, onto a
:class:`PooledTransport` per proxy (so proxied traffic keeps the small pools and the fast send
path). One difference from httpx: the session's own loopback host (the fake ICA, a local
tunnel) is never sent through a proxy.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
import urllib.request
from collections.abc import Callable

import httpx

from .._config import ConfigurationError, is_loopback
from .._errors import header_secrets
from ._pooled import PooledTransport

__all__ = ["environment_proxies", "proxy_mounts", "proxy_secrets"]


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def environment_proxies() -> dict[str, str | None]:
    """httpx's URL patterns for the proxy variables: pattern -> proxy URL, or None to go direct.

    ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` (either case, as ``urllib`` reads them)
    mount ``http://``, ``https://`` and ``all://``; each ``NO_PROXY`` entry exempts a URL, an
    IP, ``localhost``, or a domain with its subdomains (``.example.com``: the subdomains only);
    ``NO_PROXY=*`` turns proxies off.
    """
    info = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        proxy = info.get(scheme)
        if proxy:
            mounts[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    for entry in info.get("no", "").split(","):
        host = entry.strip()
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _ip_version(host) == 4:
            mounts[f"all://{host}"] = None
        elif _ip_version(host.strip("[]")) == 6:
            mounts[f"all://[{host.strip('[]')}]"] = None
        elif host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def proxy_mounts(
    *,
    max_connections: int,
    ssl_context: Callable[[], ssl.SSLContext],
    base_host: str | None = None,
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``httpx.AsyncClient(mounts=...)`` for the environment's proxies (empty: none set).

    ``ssl_context`` is called only when a proxy is set. ``base_host``, when it is a loopback
    host, is exempted. Raises :class:`ConfigurationError` for a proxy httpx cannot use (an
    unknown scheme, SOCKS without ``socksio``), naming the variable but not the URL, which may
    carry a password.
    """
    proxies = environment_proxies()
    if not any(proxies.values()):
        return {}
    ctx = ssl_context()
    if base_host is not None and is_loopback(base_host):
        host = (
            f"[{base_host.strip('[]')}]" if _ip_version(base_host.strip("[]")) == 6 else base_host
        )
        proxies[f"all://{host}"] = None
    made: dict[str, PooledTransport] = {}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, proxy in proxies.items():
        if proxy is None:
            mounts[pattern] = None
            continue
        transport = made.get(proxy)
        if transport is None:
            try:
                transport = PooledTransport(
                    max_connections=max_connections, ssl_context=ctx, proxy=proxy
                )
            except (ImportError, ValueError, TypeError, httpx.InvalidURL) as exc:
                kind = pattern.removesuffix("://").upper()
                raise ConfigurationError(
                    f"the {kind}_PROXY setting from the environment cannot be used "
                    f"({type(exc).__name__}; a SOCKS proxy needs `pip install 'httpx[socks]'`); "
                    "fix it, or pass trust_env=False"
                ) from None
            made[proxy] = transport
        mounts[pattern] = transport
    return mounts


def proxy_secrets() -> set[str]:
    """The passwords in the environment's proxy URLs, in every form a proxy could echo one.

    A proxy that fails a request may answer with a page quoting what it was sent, its
    ``Proxy-Authorization`` header included; error text masks these as it masks the session's
    own credentials. Each password is given as written in the URL, decoded, and inside the
    Basic header httpx sends for it.
    """
    found: set[str] = set()
    for proxy in environment_proxies().values():
        if proxy is None:
            continue
        try:
            url = httpx.URL(proxy)
        except httpx.InvalidURL:
            continue
        raw = url.userinfo.decode("ascii", "replace").partition(":")[2]
        if not raw:
            continue
        found.update((raw, url.password))
        login = f"{url.username}:{url.password}".encode()
        basic = "Basic " + base64.b64encode(login).decode("ascii")
        found.update(header_secrets(httpx.Headers({"proxy-authorization": basic})))
    return found
