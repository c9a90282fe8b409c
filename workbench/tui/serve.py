"""``hrnet-wb serve``'s session lifecycle over textual-serve: one app process per browser
session, and none left behind.

textual-serve starts the app through a shell for each websocket and, when the tab
closes, sends it a "quit" packet and waits for it to finish; nothing ends a process that
does not finish, and stopping the server (Ctrl+C, SIGTERM) ends no process at all. Here:

- each session's app is started directly (no shell) in a session of its own, with the
  Linux parent-death signal set, so it dies with the server even when the server is
  killed outright;
- closing the session sends "quit", then after ``QUIT_GRACE_S`` ends the process group
  (the app and any build it started) with SIGTERM, then SIGKILL;
- stopping the server ends every session the same way;
- the page focuses the terminal once it loads, so keys work without a click.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from typing import Any

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

QUIT_GRACE_S = 1.0
TERM_GRACE_S = 0.5
# Focus xterm's input as soon as it exists: the page otherwise needs a click first.
FOCUS_SCRIPT = b"""<script>
(function () {
  var tries = 0;
  function focusTerminal() {
    var input = document.querySelector(".xterm-helper-textarea");
    if (input) { input.focus(); }
    if ((!input || document.activeElement !== input) && tries++ < 100) {
      setTimeout(focusTerminal, 100);
    }
  }
  window.addEventListener("load", focusTerminal);
})();
</script>
"""


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the server process goes (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class SessionAppService(AppService):
    """One browser session's app process, started without a shell and ended for sure."""

    sessions: set[SessionAppService] = set()

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *shlex.split(self.command),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            start_new_session=True,  # its own process group: the app and its builds
            preexec_fn=_die_with_parent,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        SessionAppService.sessions.add(self)
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def stop(self) -> None:
        """Ask the app to quit; end its process group if it has not within the grace."""
        task, self._task = self._task, None
        if task is not None:
            await self.send_meta({"type": "quit"})
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), QUIT_GRACE_S)
        await self.end_process()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        SessionAppService.sessions.discard(self)

    async def end_process(self) -> None:
        proc = self._process
        if proc is None or proc.returncode is not None:
            return
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), grace)
                return
            except asyncio.TimeoutError:
                continue


def kill_all_sessions() -> None:
    """Synchronously end every session's process group (the server is stopping)."""
    for svc in list(SessionAppService.sessions):
        pid = svc.pid
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    SessionAppService.sessions.clear()


@web.middleware
async def _focus_on_load(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    if request.path == "/" and isinstance(response, web.Response) and response.body:
        body = bytes(response.body)  # type: ignore[arg-type]
        if b"</body>" in body:
            response.body = body.replace(b"</body>", FOCUS_SCRIPT + b"</body>", 1)
    return response


class SessionServer(Server):
    """textual-serve's server with the session lifecycle above."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(_focus_on_load)
        app.on_shutdown.append(self._end_sessions)
        return app

    async def _end_sessions(self, _app: web.Application) -> None:
        await asyncio.gather(*(svc.stop() for svc in list(SessionAppService.sessions)),
                             return_exceptions=True)

    def serve(self, debug: bool = False) -> None:
        try:
            super().serve(debug=debug)
        finally:
            kill_all_sessions()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One session: start the app, relay the browser's messages, end the app."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: SessionAppService | None = None
        try:
            await websocket.prepare(request)

            async def close() -> None:
                await websocket.close()

            service = SessionAppService(
                self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                close=close, download_manager=self.download_manager, debug=self.debug)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # noqa: BLE001 - logged by the server, the session ends
            self.console.print(f"session error: {error}")
        finally:
            if service is not None:
                await service.stop()
        return websocket
