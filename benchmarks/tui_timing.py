"""First frame and quit time of the TUI in a real tmux, against a hello-world Textual app.

    python benchmarks/tui_timing.py --runs 10

Each round starts ``hrnet-wb tui`` and a hello-world Textual app (interleaved, same
sitting) in a detached tmux session at 80×24 and polls ``capture-pane`` until the first
full frame is on screen (the workbench: tabs and the footer's "1234 Panes"; hello world:
its text and footer). For the workbench it then waits one second (the Models pane is
counting in the background then), sends Ctrl+Q and times until the process has exited.
Prints each figure's median and the first-frame ratio to hello world. On a shared machine
the absolute times drift with the load; the ratio from one sitting is the figure to read.
To compare two trees, run it from each tree's root: ``python -m workbench`` imports the
current directory's ``workbench`` before PYTHONPATH's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELLO = """
from textual.app import App
from textual.widgets import Footer, Static
class Hello(App):
    def compose(self):
        yield Static("hello world")
        yield Footer()
Hello().run()
"""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def first_frame(session: str, command: str, marks: tuple[str, ...], done: Path,
                size: tuple[int, int], timeout: float = 60.0) -> float:
    done.unlink(missing_ok=True)
    wrapped = f"{command}; date +%s.%N > {done}"
    t0 = time.perf_counter()
    for _ in range(20):  # a tmux server still exiting after the last kill-session refuses
        made = subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(size[0]),
                               "-y", str(size[1]), wrapped], capture_output=True, text=True)
        if made.returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"tmux new-session failed: {made.stderr.strip()}")
    screen = seen = ""
    while time.perf_counter() - t0 < timeout:
        screen = tmux("capture-pane", "-p", "-t", session)
        seen = screen.strip() or seen
        if all(m in screen for m in marks):
            return time.perf_counter() - t0
        time.sleep(0.01)
    ended = f"; it ended at {done.read_text().strip()}" if done.is_file() else "; still running"
    raise TimeoutError(f"{command}: no first frame in {timeout} s{ended}; last screen:\n{seen}")


def quit_time(session: str, done: Path, timeout: float = 30.0) -> float:
    t0 = time.time()
    tmux("send-keys", "-t", session, "C-q")
    while time.time() - t0 < timeout:
        if done.is_file() and done.read_text().strip():
            return float(done.read_text()) - t0
        time.sleep(0.005)
    raise TimeoutError("no exit")


def _wait_running(home: Path, timeout: float = 180.0) -> bool:
    import sqlite3

    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with sqlite3.connect(home / "store.sqlite") as db:
                if db.execute("select 1 from runs where status='running'").fetchone():
                    return True
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--size", default="80x24")
    ap.add_argument("--marks", default="1 Models,Panes",
                    help="comma-separated texts that make the workbench's first full frame")
    ap.add_argument("--no-quit", action="store_true", help="first frame only (kill, no Ctrl+Q)")
    ap.add_argument("--quit-after", type=float, default=1.0,
                    help="seconds after the first frame to press Ctrl+Q")
    ap.add_argument("--during-build", metavar="PROFILE", default="",
                    help="also time Ctrl+Q while a build of PROFILE runs (press r, wait for "
                         "the run to be 'running', then Ctrl+Q)")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is not installed")
    w, h = (int(x) for x in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="tui-timing-"))
    hello = tmp / "hello.py"
    hello.write_text(HELLO)
    done = tmp / "done"
    py = sys.executable
    env = f"HRNET_WB_HOME={tmp / 'home'} PYTHONPATH={os.environ.get('PYTHONPATH', '')}"
    wb_cmd = f"env {env} {py} -m workbench tui"
    hello_cmd = f"{py} {hello}"
    wb_frames, hello_frames, quits = [], [], []
    for i in range(args.runs):
        hello_frames.append(first_frame("tt-hello", hello_cmd, ("hello world", "^p"), done, (w, h)))
        tmux("kill-session", "-t", "tt-hello")
        # a fresh home each time: nothing counted yet, so Ctrl+Q lands while counting
        shutil.rmtree(tmp / "home", ignore_errors=True)
        wb_frames.append(first_frame("tt-wb", wb_cmd, tuple(args.marks.split(",")), done, (w, h)))
        if not args.no_quit:
            time.sleep(args.quit_after)
            quits.append(quit_time("tt-wb", done))
        else:
            quits.append(float("nan"))
        tmux("kill-session", "-t", "tt-wb")
        print(f"round {i + 1}: hello {hello_frames[-1]:.2f} s, workbench {wb_frames[-1]:.2f} s, "
              f"quit {quits[-1]:.3f} s", flush=True)
    build_quits = []
    for i in range(args.runs if args.during_build else 0):
        shutil.rmtree(tmp / "home", ignore_errors=True)
        first_frame("tt-wb", f"{wb_cmd} --profile {args.during_build}",
                    tuple(args.marks.split(",")), done, (w, h))
        time.sleep(args.quit_after)
        tmux("send-keys", "-t", "tt-wb", "r")
        if not _wait_running(tmp / "home"):
            raise TimeoutError("the build never started")
        time.sleep(1.0)
        build_quits.append(quit_time("tt-wb", done))
        tmux("kill-session", "-t", "tt-wb")
        print(f"round {i + 1}: Ctrl+Q during a build {build_quits[-1]:.3f} s", flush=True)
    if build_quits:
        print(f"quit during a build, median of {len(build_quits)}: "
              f"{statistics.median(build_quits):.3f} s (max {max(build_quits):.3f})")
    mh, mw, mq = (statistics.median(x) for x in (hello_frames, wb_frames, quits))
    print(f"first frame at {args.size}, median of {args.runs}: workbench {mw:.2f} s, "
          f"hello world {mh:.2f} s, ratio {mw / mh:.2f}")
    print(f"quit (Ctrl+Q {args.quit_after:g} s after the first frame), median of {args.runs}: "
          f"{mq:.3f} s (min {min(quits):.3f}, max {max(quits):.3f})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
