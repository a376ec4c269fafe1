"""A minimal streaming HTTP GET on http.client: redirects, proxies from the environment, TLS, abort.

http.client reads a response body straight from the socket into our buffers, which keeps a loopback
transfer near ``curl`` speed (see docs/models.md); a stalled read ends with a socket timeout.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from dit360_desktop import __version__

USER_AGENT = f"dit360-desktop/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TooManyRedirects(OSError):
    """The server kept redirecting."""


@dataclass
class OpenResponse:
    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    url: str

    def close(self) -> None:
        self.connection.close()


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection for ``url`` (through the environment's proxy when one applies) and the request target."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"Unsupported URL scheme in {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(parts.scheme)
    if proxy:
        proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        proxy_host, proxy_port = proxy_parts.hostname or "", proxy_parts.port or 8080
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                proxy_host, proxy_port, timeout=timeout, context=_ssl_context()
            )
            conn.set_tunnel(host, port)
            return conn, target
        # Plain HTTP through a proxy sends the absolute URL as the request target.
        return http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout), url
    if parts.scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_ssl_context()), target
    return http.client.HTTPConnection(host, port, timeout=timeout), target


class Aborter:
    """Lets another thread break a blocking read by shutting the socket down (pause, cancel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._aborted = False

    def attach(self, conn: http.client.HTTPConnection | None) -> None:
        with self._lock:
            self._conn = conn
            if conn is not None and self._aborted:
                self._shutdown(conn)

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            if self._conn is not None:
                self._shutdown(self._conn)

    def reset(self) -> None:
        with self._lock:
            self._aborted = False

    @staticmethod
    def _shutdown(conn: http.client.HTTPConnection) -> None:
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                # Already closed by the peer or by us; the reader sees EOF or an error either way.
                return


def open_get(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    token: str | None = None,
    max_redirects: int = 10,
    aborter: Aborter | None = None,
) -> OpenResponse:
    """Send a GET and follow redirects; the caller reads and closes the body.

    The Authorization header goes only to the host of the first URL: the hub redirects large files to a
    CDN with a signed URL, and a bearer token must not leak there (it can also make the CDN refuse).
    """
    origin = urlsplit(url).netloc
    for _ in range(max_redirects + 1):
        conn, target = _connection(url, timeout)
        if aborter is not None:
            aborter.attach(conn)
        request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
        if token and urlsplit(url).netloc == origin:
            request_headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("GET", target, headers=request_headers)
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        location = response.getheader("Location")
        if response.status in _REDIRECTS and location:
            response.read(64 * 1024)
            conn.close()
            url = urljoin(url, location)
            continue
        return OpenResponse(conn, response, url)
    raise TooManyRedirects(f"More than {max_redirects} redirects starting from {url}")
