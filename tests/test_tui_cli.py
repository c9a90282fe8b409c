"""``hrnet-wb serve`` and ``hrnet-wb tui``: a real server process and a real HTTP request;
the refusals before anything starts run in-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import cli_runner

from workbench.cli.app import app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_loopback_and_serves_the_app_page(tmp_path):
    port = _free_port()
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        body = ""
        deadline = time.monotonic() + 60  # a cold start on a loaded box: a bound for a hang only
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert "textual.js" in body and "HRNet Workbench" in body
        assert "xterm-helper-textarea" in body  # the page focuses the terminal on load
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    record = json.loads(out)
    assert record["ok"] is True and record["host"] == "127.0.0.1" and record["port"] == port
    assert record["command"].endswith(f"-m workbench tui --home {tmp_path / 'home'}")
    assert "warning" not in err


def test_serve_refuses_a_missing_profile_with_exit_2(tmp_path):
    out = cli_runner().invoke(app, ["serve", "--profile", str(tmp_path / "nope.toml"), "--json",
                                    "--home", str(tmp_path / "h")])
    assert out.exit_code == 2
    rec = json.loads(out.stdout)
    assert rec["ok"] is False and "nope.toml: profile not found" in rec["error"]


def test_tui_refuses_an_invalid_profile_with_one_line_before_starting(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\ndtyp = 1\n")
    out = cli_runner().invoke(app, ["tui", "--profile", str(bad), "--home", str(tmp_path / "h")])
    assert out.exit_code == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "bad.toml" in out.stderr and "dtyp" in out.stderr


def test_tui_help_has_examples_and_does_not_start_textual():
    out = cli_runner().invoke(app, ["tui", "--help"])
    assert out.exit_code == 0 and "hrnet-wb tui --profile" in out.stdout
