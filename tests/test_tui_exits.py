"""A cancel is a cancel from every exit: ``hrnet-wb tui`` runs in a real pseudo-terminal,
"r" queues a tiny real run, and while it runs the app is ended by SIGTERM, by a hang-up
(the terminal's master side closes, as an SSH drop does), or by Ctrl+Q. Each time the run
must be recorded ``cancelled`` with the reason, and no process of the session may be left.
The browser-tab close is in :mod:`tests.test_tui_exits_serve`."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from proc_watch import processes_naming, wait
from tui_data import REPO, tiny_profile

from workbench.home import resolve_home
from workbench.store import Store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pty")]


class Terminal:
    """``hrnet-wb tui --home H --profile P`` in a pty at 80×24, its output drained on a thread."""

    def __init__(self, home: Path, profile: Path) -> None:
        import fcntl
        import pty
        import struct
        import termios

        env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24",
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("HRNET_WB_IMAGES", None)
        argv = [sys.executable, "-m", "workbench", "tui", "--home", str(home),
                "--profile", str(profile)]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
                os.chdir(REPO)
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.out = bytearray()
        self.closed = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self.closed:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.out.extend(chunk)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def hang_up(self) -> None:
        """Close the master side: the kernel sends SIGHUP to the session (an SSH drop)."""
        self.closed = True
        os.close(self.fd)

    def wait_exit(self, timeout: float = 60) -> int | None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


def running_build(home, term: Terminal) -> int:
    """Press "r" once the first frame is up; return the run id once its row is 'running'."""
    store = Store(home.db)
    assert wait(lambda: b"Models" in term.out, 120), bytes(term.out[-2000:]).decode(errors="replace")
    time.sleep(0.5)
    term.send(b"r")
    run = wait(lambda: next((r for r in store.runs() if r.status == "running"), None), 180)
    assert run is not None, f"no run started: {[(r.id, r.status) for r in store.runs()]}"
    return run.id


@pytest.mark.parametrize(("how", "reason"), [
    ("sigterm", "SIGTERM"),
    ("hangup", "SIGHUP"),
    ("ctrl_q", "Ctrl+Q"),
])
def test_ending_the_app_during_a_build_records_it_cancelled(tmp_path, how, reason):
    home = resolve_home(tmp_path / "home")
    term = Terminal(home.root, tiny_profile(tmp_path))
    try:
        run_id = running_build(home, term)
        time.sleep(1.0)  # into the run's stages
        if how == "sigterm":
            os.kill(term.pid, signal.SIGTERM)
        elif how == "hangup":
            term.hang_up()
        else:
            term.send(b"\x11")
        code = term.wait_exit()
        assert code is not None, "the app did not exit"
        store = Store(home.db)
        row = wait(lambda: (r := store.run_row(run_id)) is not None and r.status != "running"
                   and r, 120)
        assert row, "the run is still 'running'"
        assert (row.status, reason in row.error) == ("cancelled", True), (row.status, row.error)
        assert wait(lambda: not processes_naming(str(home.root)), 60), "a process outlived the app"
    finally:
        term.close()
        for pid in processes_naming(str(home.root)):
            os.kill(pid, signal.SIGKILL)
