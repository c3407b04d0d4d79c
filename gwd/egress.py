"""How gwd reaches an upstream: directly or through an HTTP proxy, and with which TLS settings.

Owned here, decided once per config (never per request):

* the proxies of the environment — ``https_proxy``/``HTTPS_PROXY`` for https upstreams,
  ``http_proxy``/``HTTP_PROXY`` for http ones (lower case wins, as in curl and Python's
  urllib), and ``no_proxy``/``NO_PROXY`` (:class:`NoProxy`);
* a deployment's own ``proxy`` (a URL, or ``false`` for "never through a proxy");
* one :class:`ssl.SSLContext` per distinct ``(ssl_verify, ssl_certfile, ssl_keyfile)``
  (:class:`TLSContexts`), shared by every deployment that uses the same settings.

A :class:`Route` is what :mod:`gwd.http1` keys its keep-alive pool by: the origin, the
proxy (or none) and the TLS context, so a connection is only ever reused for the same
way out. :func:`open_route` opens one: a TCP (+TLS) connection to the origin; a plain
connection to the proxy for an http upstream (the request then names the absolute URI);
or, for https through a proxy, ``CONNECT host:port`` and TLS inside the tunnel.

Proxy credentials come from the proxy URL's ``user:password@`` and are sent as
``Proxy-Authorization: Basic``; they appear in no ``repr``, message or log line.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import ssl
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

from .config import Config, ConfigError, Deployment

MAX_PROXY_HEAD = 16 * 1024
P = TypeVar("P", bound=asyncio.Protocol)


class EgressError(OSError):
    """The way out failed before the upstream was reached (e.g. the proxy refused)."""


class ProxyURL(NamedTuple):
    """An HTTP proxy: where it listens and the ``Proxy-Authorization`` value (or None)."""

    host: str
    port: int
    authorization: str | None = None

    def __repr__(self) -> str:  # never the credentials
        auth = " (with credentials)" if self.authorization else ""
        return f"ProxyURL(http://{_hostport(self.host, self.port)}{auth})"

    __str__ = __repr__


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_proxy(url: str) -> ProxyURL:
    """``http://user:pass@host:port`` (scheme optional, port 80 by default) -> ProxyURL.

    Raises ValueError with a message that never repeats the credentials."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ValueError(f"proxy scheme {parts.scheme!r} is not supported (use http://; "
                         "https upstreams are tunnelled through it with CONNECT)")
    try:
        host, port = parts.hostname, parts.port or 80
    except ValueError:
        raise ValueError("the proxy URL has a bad port") from None
    if not host:
        raise ValueError("the proxy URL has no host")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return ProxyURL(host, port, authorization)


class NoProxy:
    """``NO_PROXY`` matching: ``*`` (everything), host names (the name and every name
    under it; a leading ``.`` or ``*.`` changes nothing), ``name:port`` (that port
    only), IP addresses and CIDR blocks (``10.0.0.0/8``) for IP-literal hosts.
    No DNS lookups: names match names, addresses match addresses."""

    def __init__(self, value: str) -> None:
        self.everything = False
        self.names: list[tuple[str, int | None]] = []
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                  int | None]] = []
        for raw in value.replace(",", " ").split():
            self._add(raw.strip().lower())

    def _add(self, entry: str) -> None:
        if entry == "*":
            self.everything = True
            return
        port: int | None = None
        host = entry
        if entry.startswith("["):                       # [v6] or [v6]:port
            host, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif entry.count(":") == 1:                     # name:port or v4:port
            name, _, digits = entry.partition(":")
            if digits.isdigit():
                host, port = name, int(digits)
        try:
            self.networks.append((ipaddress.ip_network(host, strict=False), port))
            return
        except ValueError:
            pass
        host = host.removeprefix("*").lstrip(".")
        if host:
            self.names.append((host, port))

    def matches(self, host: str, port: int) -> bool:
        if self.everything:
            return True
        host = host.lower().rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            return any(address in net and want in (None, port) for net, want in self.networks)
        return any((host == name or host.endswith("." + name)) and want in (None, port)
                   for name, want in self.names)


class ProxyEnv:
    """The proxies the environment asks for (read once, at start or reload)."""

    def __init__(self, https: ProxyURL | None, http: ProxyURL | None,
                 no_proxy: NoProxy) -> None:
        self.https, self.http, self.no_proxy = https, http, no_proxy

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProxyEnv:
        """Raises ValueError naming the variable (never its credentials)."""
        found: dict[str, ProxyURL | None] = {}
        for name in ("https_proxy", "http_proxy"):
            value = env.get(name) or env.get(name.upper()) or ""
            try:
                found[name] = parse_proxy(value) if value.strip() else None
            except ValueError as exc:
                raise ValueError(f"{name.upper()}: {exc}") from None
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        return cls(found["https_proxy"], found["http_proxy"], NoProxy(no_proxy))

    def proxy_for(self, host: str, port: int, tls: bool) -> ProxyURL | None:
        proxy = self.https if tls else self.http
        if proxy is None or self.no_proxy.matches(host, port):
            return None
        return proxy


class Route(NamedTuple):
    """One way to one origin: the keep-alive pool's key."""

    host: str
    port: int
    tls: bool
    proxy: ProxyURL | None = None
    ssl: ssl.SSLContext | None = None   # set exactly when ``tls``

    @property
    def forwarded(self) -> bool:
        """An http upstream through a proxy: requests name the absolute URI."""
        return self.proxy is not None and not self.tls


Verify = bool | str


class TLSContexts:
    """One SSLContext per distinct (verify, certfile, keyfile), built on first use.

    ``verify`` True: the system's trust store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply);
    a path: that CA bundle file (or directory) only; False: no verification at all."""

    def __init__(self) -> None:
        self._made: dict[tuple[Verify, str | None, str | None], ssl.SSLContext] = {}

    def get(self, verify: Verify = True, certfile: str | None = None,
            keyfile: str | None = None) -> ssl.SSLContext:
        """Raises ValueError naming what could not be loaded."""
        key = (verify, certfile, keyfile)
        context = self._made.get(key)
        if context is None:
            context = self._made[key] = _make_context(verify, certfile, keyfile)
        return context

    def __len__(self) -> int:
        return len(self._made)


def _make_context(verify: Verify, certfile: str | None, keyfile: str | None) -> ssl.SSLContext:
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context = ssl.create_default_context()
    else:
        try:
            if os.path.isdir(verify):
                context = ssl.create_default_context(capath=verify)
            else:
                context = ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ssl_verify: cannot load the CA bundle {verify!r} "
                             f"({_why(exc)})") from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ssl_certfile/ssl_keyfile: cannot load the client certificate "
                             f"{certfile!r} ({_why(exc)})") from None
    return context


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return getattr(exc, "reason", None) or type(exc).__name__


class Egress:
    """The way out for one set of settings: which proxy (if any) per origin, which TLS
    context. Routes are memoised per origin (the hot path does one dict lookup)."""

    def __init__(self, context: ssl.SSLContext, proxies: ProxyEnv | None,
                 fixed: ProxyURL | None = None) -> None:
        self.context = context
        self.proxies = proxies        # None: never through the environment's proxies
        self.fixed = fixed            # the deployment's own proxy (wins over the env)
        self._routes: dict[tuple[str, int, bool], Route] = {}

    def route(self, origin: tuple[str, int, bool]) -> Route:
        route = self._routes.get(origin)
        if route is None:
            host, port, tls = origin
            proxy = self.fixed
            if proxy is None and self.proxies is not None:
                proxy = self.proxies.proxy_for(host, port, tls)
            route = Route(host, port, tls, proxy, self.context if tls else None)
            if len(self._routes) < 1024:
                self._routes[origin] = route
        return route


class EgressPlan:
    """Every deployment's :class:`Egress` under one config, built at start and on each
    reload (so a reload re-reads CA bundles and client certificates). Deployments that
    set nothing of their own share the default egress; equal settings share one context.
    Raises :class:`ConfigError` naming the setting (never a credential)."""

    def __init__(self, config: Config, env: Mapping[str, str]) -> None:
        self.contexts = TLSContexts()
        try:
            self.proxies = ProxyEnv.from_env(env)
        except ValueError as exc:
            raise ConfigError(config.path, "environment", str(exc)) from None
        verify = config.ssl_verify
        try:
            self.default = Egress(self.contexts.get(verify), self.proxies)
        except ValueError as exc:
            raise ConfigError(config.path, "litellm_settings", str(exc)) from None
        self.by_deployment: dict[str, Egress] = {}
        for index, dep in enumerate(config.deployments):
            if (dep.ssl_verify is None and dep.ssl_certfile is None and dep.proxy is None):
                continue
            where = f"model_list[{index}] (model_name {dep.model_name!r}): litellm_params"
            self.by_deployment[dep.id] = self._egress(dep, verify, where, config.path)

    def _egress(self, dep: Deployment, verify: Verify, where: str, path: str) -> Egress:
        try:
            context = self.contexts.get(verify if dep.ssl_verify is None else dep.ssl_verify,
                                        dep.ssl_certfile, dep.ssl_keyfile)
        except ValueError as exc:
            raise ConfigError(path, where, str(exc)) from None
        if dep.proxy is False:
            return Egress(context, None)
        if isinstance(dep.proxy, str):
            try:
                return Egress(context, None, parse_proxy(dep.proxy))
            except ValueError as exc:
                raise ConfigError(path, f"{where}.proxy", str(exc)) from None
        return Egress(context, self.proxies)

    def get(self, dep: Deployment) -> Egress:
        return self.by_deployment.get(dep.id, self.default)


# ---------------------------------------------------------------------------- connecting
async def open_route(route: Route, factory: Callable[[], P]) -> P:
    """A connected protocol for ``route`` (TLS handshake done, tunnel set up)."""
    loop = asyncio.get_running_loop()
    proxy = route.proxy
    if proxy is None:
        _, protocol = await loop.create_connection(factory, route.host, route.port,
                                                   ssl=route.ssl)
        return protocol
    if not route.tls:
        _, protocol = await loop.create_connection(factory, proxy.host, proxy.port)
        return protocol
    transport, answer = await loop.create_connection(_ProxyAnswer, proxy.host, proxy.port)
    try:
        target = _hostport(route.host.encode("idna").decode("ascii"), route.port)
        head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if proxy.authorization:
            head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        transport.write((head + "\r\n").encode("ascii"))
        status = await answer.status
        if status != 200:
            raise EgressError(_refusal(proxy, status))
        protocol = factory()
        tls_transport = await loop.start_tls(transport, protocol, route.ssl,  # type: ignore[arg-type]
                                             server_hostname=route.host)
        assert tls_transport is not None
        protocol.connection_made(tls_transport)
        return protocol
    except BaseException:
        transport.close()
        raise


def _refusal(proxy: ProxyURL, status: int) -> str:
    where = f"the proxy {_hostport(proxy.host, proxy.port)}"
    if status == 407:
        return (f"{where} wants credentials (HTTP 407)" if proxy.authorization is None
                else f"{where} refused the proxy credentials (HTTP 407)")
    return f"{where} refused the tunnel (HTTP {status})"


class _ProxyAnswer(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT (its head only; nothing may follow it)."""

    def __init__(self) -> None:
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        if self.status.done():
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_PROXY_HEAD:
                self.status.set_exception(EgressError("the proxy's answer is too long"))
            return
        if end + 4 != len(self.buffer):
            self.status.set_exception(EgressError("the proxy sent bytes after its answer"))
            return
        line = bytes(self.buffer[: self.buffer.find(b"\r\n")]).decode("latin-1")
        version, _, rest = line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            self.status.set_exception(EgressError("the proxy did not answer HTTP/1.x"))
            return
        self.status.set_result(int(code))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_exception(EgressError("the proxy closed the connection"))


# ---------------------------------------------------------------------------- TLS failures
_VERIFY_REASONS = {
    9: "not_yet_valid", 10: "expired", 62: "hostname_mismatch", 64: "hostname_mismatch",
    18: "unknown_ca", 19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca", 2: "unknown_ca",
    23: "revoked",
}
REASON_TEXT = {
    "expired": "the upstream's certificate has expired",
    "not_yet_valid": "the upstream's certificate is not valid yet",
    "hostname_mismatch": "the upstream's certificate is not valid for its host name",
    "unknown_ca": "the upstream's certificate is not signed by a trusted CA",
    "revoked": "the upstream's certificate is revoked",
    "verify_failed": "the upstream's certificate could not be verified",
    "client_certificate": "the upstream refused gwd's client certificate (or wants one)",
    "handshake": "the TLS handshake with the upstream failed",
}


def tls_reason(exc: ssl.SSLError) -> str:
    """A short, fixed label for a TLS failure (the metric's ``reason``)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        reason = _VERIFY_REASONS.get(code or -1)
        if reason is None and "hostname" in str(getattr(exc, "verify_message", "")).lower():
            reason = "hostname_mismatch"
        return reason or "verify_failed"
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper()
    if "CERTIFICATE_REQUIRED" in text or "BAD_CERTIFICATE" in text or "UNKNOWN_CA" in text:
        return "client_certificate"
    return "handshake"


def tls_message(reason: str) -> str:
    """What the operator and the client see: says TLS, names no internals."""
    return f"TLS failure: {REASON_TEXT.get(reason, REASON_TEXT['handshake'])}"

