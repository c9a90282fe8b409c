"""A cancel is a cancel from the browser too: ``hrnet-wb serve --profile tiny.toml`` on
127.0.0.1, a websocket client speaking textual-serve's protocol presses "r", and while the
run builds the tab is closed (the websocket closes) or the server is stopped (SIGTERM).
The run must be recorded ``cancelled`` with the reason; no process of the session is left,
and the server reports no leaked semaphores."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from proc_watch import free_port, listening, open_tab, processes_naming, wait
from tui_data import tiny_profile

from workbench.home import resolve_home
from workbench.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="needs /proc")]


async def _press_r_and_wait_for_the_run(port: int, store: Store):
    session, ws = await open_tab(port, lambda seen: b"Models" in seen, 120)  # the first frame
    await asyncio.sleep(0.5)
    await ws.send_json(["stdin", "r"])

    def running():
        return next((r for r in store.runs() if r.status == "running"), None)

    run = None
    t0 = time.monotonic()
    while run is None and time.monotonic() - t0 < 180:
        try:  # keep reading, as a browser does
            await ws.receive(timeout=0.1)
        except asyncio.TimeoutError:
            pass
        run = running()
    assert run is not None, "no run started"
    return session, ws, run.id


@pytest.mark.parametrize("how", ["close_tab", "stop_server"])
def test_closing_the_tab_or_stopping_serve_during_a_build_records_it_cancelled(tmp_path, how):
    home = resolve_home(tmp_path / "home")
    port = free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ, HRNET_WB_HOME=str(home.root))
    env.pop("HRNET_WB_IMAGES", None)
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port),
                                 "--profile", str(tiny_profile(tmp_path))],
                                stdout=err, stderr=subprocess.STDOUT, env=env)
    store = Store(home.db)
    try:
        assert wait(lambda: listening(port), 60, 0.1), "serve did not start"

        async def main() -> int:
            session, ws, run_id = await _press_r_and_wait_for_the_run(port, store)
            await asyncio.sleep(1.0)  # into the run's stages
            if how == "close_tab":
                await ws.close()
                await session.close()
            else:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 30)
                await session.close()
            return run_id

        run_id = asyncio.run(main())
        row = wait(lambda: (r := store.run_row(run_id)) is not None and r.status != "running"
                   and r, 120)
        assert row, "the run is still 'running'"
        assert row.status == "cancelled", (row.status, row.error)
        # a server stop first asks each session to quit, as a closed tab does
        assert "session ended" in row.error or "SIGTERM" in row.error, row.error
        assert wait(lambda: not processes_naming(str(home.root)), 30), "a session process is left"
        if how == "close_tab":
            assert proc.poll() is None  # the server keeps serving
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        for pid in processes_naming(str(home.root)):
            os.kill(pid, signal.SIGKILL)
    assert "leaked semaphore" not in log.read_text(), log.read_text()[-2000:]
