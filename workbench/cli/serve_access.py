"""``hrnet-wb serve``'s safety: where it may bind, who may connect, and errors before "ok".

textual-serve has no authentication, and whoever reaches the page can run builds and browse
files as the user. So:

- the default is loopback only; any other address needs ``--public``;
- ``--public`` needs an access token (``--token`` or ``$HRNET_WB_SERVE_TOKEN``; one is
  generated when neither is given). Every request must carry it, as ``?token=`` once (it
  is then kept in an HttpOnly, SameSite=Strict cookie) or as that cookie;
- the socket is bound *before* anything is printed, so a busy port or a bad host is one
  line and exit 2, and ``--json`` never says ok for a server that is not listening.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from typing import Any

from workbench.errors import BadInput

TOKEN_ENV = "HRNET_WB_SERVE_TOKEN"
COOKIE = "hrnet_wb_token"
MIN_TOKEN_CHARS = 16


def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    if not host or any(c.isspace() for c in host):
        raise BadInput(f"--host {host!r}: not a host name or address")
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise BadInput(f"--host {host}: cannot resolve it ({reason})") from None


def is_loopback(host: str, port: int = 0) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    addrs = {info[4][0] for info in resolve(host, port)}
    try:
        return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)
    except ValueError:
        return False


def access_token(public: bool, token: str | None) -> str | None:
    """The token a public server requires (None for a loopback-only one)."""
    if not public:
        if token:
            raise BadInput("--token only applies with --public (a loopback server needs none)")
        return None
    tok = token or os.environ.get(TOKEN_ENV, "")
    if not tok:
        return secrets.token_urlsafe(24)
    if len(tok) < MIN_TOKEN_CHARS or any(c.isspace() for c in tok):
        raise BadInput(f"--token: use at least {MIN_TOKEN_CHARS} characters without spaces "
                       "(or leave it out and one is generated)")
    return tok


def check_binding(host: str, port: int, public: bool) -> None:
    if not public and not is_loopback(host, port):
        raise BadInput(f"--host {host} is not a loopback address: anyone who can reach it could run "
                       "builds and read files as you. Tunnel over SSH instead, or pass --public "
                       "(which requires an access token)")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); BadInput with the reason when that is impossible."""
    infos = resolve(host, port)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        from workbench.boundary import classify

        raise BadInput(f"{host}:{port}: cannot listen there ({classify(exc).message})") from None
    sock.setblocking(False)
    return sock


def token_middleware(token: str) -> Any:
    """An aiohttp middleware refusing every request without the token (403)."""
    from aiohttp import web

    @web.middleware
    async def check(request: Any, handler: Any) -> Any:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="hrnet-wb serve: access token required (?token=...)\n")
        response = await handler(request)
        if request.query.get("token") and isinstance(response, web.StreamResponse) \
                and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return check


def make_server(command: str, sock: socket.socket, host: str, port: int, token: str | None,
                title: str) -> Any:
    """A textual-serve Server that listens on ``sock`` (already bound) behind the token."""
    from aiohttp import web
    from rich.console import Console

    from workbench.tui.serve import SessionServer, kill_all_sessions

    class GuardedServer(SessionServer):
        """The session lifecycle of :class:`SessionServer`, on a pre-bound socket, behind
        the token (checked first, before any other middleware)."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if token is not None:
                app.middlewares.insert(0, token_middleware(token))
            return app

        def serve(self, debug: bool = False) -> None:
            import asyncio
            import signal

            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.add_signal_handler(signal.SIGINT, self.request_exit)
                loop.add_signal_handler(signal.SIGTERM, self.request_exit)
            except NotImplementedError:  # pragma: no cover - not on Linux
                pass
            try:
                web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop,
                            print=lambda *args: None)
            finally:
                kill_all_sessions()

    server = GuardedServer(command, host=host, port=port, title=title)
    server.console = Console(stderr=True)  # its banner and logs: stdout carries only --json
    return server
