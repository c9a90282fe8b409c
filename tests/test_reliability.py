"""Issue 15: the cache never lies, concurrent builds are safe, runs never stay 'running',
the store is versioned and readable read-only, bugs end in a crash log, serve needs a token.

Everything here is real: real ONNX files, real ORT quantization, real SQLite, real
processes (fork for the concurrent builds, so each child skips the imports).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app

_load_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliab")
    onnx = make_tiny_onnx(root / "tiny.onnx", classes=10)
    data = make_val_folder(root / "data", 8, size=(80, 64), labels=list(range(8)))
    return root, onnx, data


def _build_args(onnx: Path, data: Path, home: Path, dtype: str = "int8") -> list[str]:
    args = ["build", str(onnx), "--variant", "tiny", "--input-size", "64", "--dtype", dtype,
            "--home", str(home), "--json"]
    if dtype == "int8":
        args += ["--method", "minmax", "--count", "8", "--data", str(data)]
    return args


def _child_build(args: list[str], conn) -> None:  # runs in a forked child
    r = CliRunner().invoke(app, args)
    conn.send((r.exit_code, r.stdout))
    conn.close()


def test_four_parallel_identical_int8_builds_five_times(tiny):
    """4 processes build the same int8 key into one fresh home, 5 rounds: all ok, exactly one
    builds, three are cache hits, and no ORT side file is left in the shared cache."""
    root, onnx, data = tiny
    # warm the imports in the parent so that forked children start at once
    assert runner.invoke(app, _build_args(onnx, data, root / "warm")).exit_code == 0
    ctx = mp.get_context("fork")
    for round_ in range(5):
        home = root / f"race{round_}"
        pairs = [ctx.Pipe(duplex=False) for _ in range(4)]
        procs = [ctx.Process(target=_child_build, args=(_build_args(onnx, data, home), w))
                 for _, w in pairs]
        for p in procs:
            p.start()
        results = [r.recv() for r, _ in pairs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        assert [code for code, _ in results] == [0] * 4, [out for code, out in results if code]
        recs = [json.loads(out) for _, out in results]
        assert all(r["ok"] for r in recs)
        assert sorted(r["cached"] for r in recs) == [False, True, True, True], round_
        assert len({r["key"] for r in recs}) == 1 and len({r["meta"]["file_sha256"] for r in recs}) == 1
        leftovers = [p.name for p in (home / "cache").rglob("*") if "inferred" in p.name
                     or p.name.startswith(".build.")]
        assert leftovers == []
        assert [d.name for d in (home / "artifacts").iterdir() if d.name.startswith(".")] == []
        con = sqlite3.connect(home / "store.sqlite")
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 1


def test_truncated_cached_artifact_is_rebuilt(tiny, tmp_path):
    root, onnx, data = tiny
    home = tmp_path / "home"
    first = json.loads(runner.invoke(app, _build_args(onnx, data, home, "fp32")).stdout)
    assert first["ok"] and not first["cached"]
    path = Path(first["path"])
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated on disk
    r = runner.invoke(app, _build_args(onnx, data, home, "fp32"))
    assert r.exit_code == 0, r.output
    second = json.loads(r.stdout)
    assert second["cached"] is False and "failed verification" in second["meta"]["rebuilt_because"]
    assert path.read_bytes() == good
    # same size, one flipped byte: the sha256 catches it
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    third = json.loads(runner.invoke(app, _build_args(onnx, data, home, "fp32")).stdout)
    assert third["cached"] is False and "sha256" in third["meta"]["rebuilt_because"]
    fourth = json.loads(runner.invoke(app, _build_args(onnx, data, home, "fp32")).stdout)
    assert fourth["cached"] is True and path.read_bytes() == good


def test_stale_temp_dirs_are_swept_at_build_start(tiny, tmp_path):
    root, onnx, data = tiny
    home = tmp_path / "home"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = home / "artifacts" / f".tiny-fp32-none-3_64_64-ort-cpu-abc.{dead}.x1y2z3"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half")
    old = home / "artifacts" / ".legacy.k9j8h7"  # a temp name from before pids: old -> swept
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    mine = home / "artifacts" / f".live.{os.getpid()}.abcdef"  # a live process's: kept
    mine.mkdir()
    r = runner.invoke(app, _build_args(onnx, data, home, "fp32"))
    assert r.exit_code == 0, r.output
    assert not stale.exists() and not old.exists() and mine.exists()


def test_sigterm_mid_write_leaves_a_temp_that_the_next_build_sweeps(tiny, tmp_path):
    root, onnx, data = tiny
    home = tmp_path / "home"
    code = ("import sys, time; from workbench.atomic import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as t:\n"
            "    (t / 'model.onnx').write_bytes(b'x'); print('in', flush=True); time.sleep(60)\n")
    target = home / "artifacts" / "victim"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "in"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    left = [d for d in (home / "artifacts").iterdir() if d.name.startswith(".victim.")]
    assert len(left) == 1 and not target.exists()
    assert runner.invoke(app, _build_args(onnx, data, home, "fp32")).exit_code == 0
    assert not left[0].exists()


def test_resume_into_a_foreign_folder_is_refused(tiny, tmp_path):
    root, _, data = tiny
    onnx = make_tiny_onnx(tmp_path / "m1.onnx")  # 1000 classes, as the ImageNet labels need
    other = make_tiny_onnx(tmp_path / "other.onnx", seed=1)
    out = tmp_path / "run"
    home = tmp_path / "home"
    base = ["--data", str(data), "--out", str(out), "--home", str(home), "--json"]
    first = runner.invoke(app, ["eval", str(onnx), *base])
    assert first.exit_code == 0, first.output
    r = runner.invoke(app, ["eval", str(other), *base, "--resume"])
    assert r.exit_code == 2
    rec = json.loads(r.stdout)
    assert rec["ok"] is False and "model file (sha256)" in rec["error"]
    # other images under another root (a copy of the same images would resume: issue 17)
    data2 = make_val_folder(tmp_path / "data2", 8, size=(80, 64), labels=list(range(8)), start=100)
    r = runner.invoke(app, ["eval", str(onnx), "--data", str(data2), "--out", str(out),
                            "--home", str(home), "--json", "--resume"])
    assert r.exit_code == 2 and "data root" in json.loads(r.stdout)["error"]
    r = runner.invoke(app, ["eval", str(onnx), *base, "--resume", "--limit", "3"])
    assert r.exit_code == 2 and "image manifest" in json.loads(r.stdout)["error"]
    # the same model, data and images: resumes (nothing left to do)
    r = runner.invoke(app, ["eval", str(onnx), *base, "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == 8
    (out / "eval_config.json").write_text("{not json")
    r = runner.invoke(app, ["eval", str(onnx), *base, "--resume"])
    assert r.exit_code == 2 and "damaged" in json.loads(r.stdout)["error"]
    runs = json.loads(runner.invoke(app, ["runs", "--home", str(home), "--json"]).stdout)
    assert "running" not in {x["status"] for x in runs}
    assert [x["status"] for x in runs].count("failed") == 0  # a refused resume records no run (issue 26)


def test_sigkilled_eval_shows_died(tiny, tmp_path):
    root, onnx, data = tiny
    home = tmp_path / "home"
    code = ("import sys, time; from workbench.store import Store\n"
            "s = Store(sys.argv[1]); s.start_run('eval victim'); print('in', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(home / "store.sqlite")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "in"
    rows = json.loads(runner.invoke(app, ["runs", "--home", str(home), "--json"]).stdout)
    assert rows[0]["status"] == "running"
    proc.kill()
    proc.wait(10)
    rows = json.loads(runner.invoke(app, ["runs", "--home", str(home), "--json"]).stdout)
    assert rows[0]["status"] == "died"
    board = runner.invoke(app, ["leaderboard", "--home", str(home), "--json"])
    assert board.exit_code == 0


def test_output_dir_that_is_a_file_fails_the_run(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text('name = "p"\n[model]\nvariant = "hrnet_w18_small"\ninput_size = [64, 64]\n'
                    '[bench]\nenabled = false\n')
    blocker = tmp_path / "file"
    blocker.write_text("x")
    home = tmp_path / "home"
    r = runner.invoke(app, ["run", "--profile", str(prof), "--set", f"output.dir={blocker}",
                            "--home", str(home), "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["ok"] is False
    rows = json.loads(runner.invoke(app, ["runs", "--home", str(home), "--json"]).stdout)
    assert rows[0]["status"] == "failed" and "output folder" in rows[0]["error"]


def test_store_schema_version_migration_and_refusals(tmp_path):
    from workbench.store import SCHEMA_VERSION, Store

    # a v1 store (as the previous release wrote it) migrates in place and keeps its rows
    db = tmp_path / "v1" / "store.sqlite"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " profile_path TEXT NOT NULL DEFAULT '', profile_json TEXT NOT NULL DEFAULT '{}',"
        " profile_hash TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'running',"
        " started_at REAL NOT NULL, finished_at REAL, seconds REAL, out_dir TEXT NOT NULL DEFAULT '',"
        " error TEXT NOT NULL DEFAULT '', summary_json TEXT NOT NULL DEFAULT '{}');"
        "CREATE TABLE artifacts (key TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
        " source TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '', weights TEXT NOT NULL DEFAULT '',"
        " backend TEXT NOT NULL DEFAULT '', dtype TEXT NOT NULL DEFAULT '', calibration TEXT NOT NULL DEFAULT '',"
        " input_size TEXT NOT NULL DEFAULT '', path TEXT NOT NULL, meta_json TEXT NOT NULL DEFAULT '{}',"
        " created_at REAL NOT NULL);"
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,"
        " build TEXT NOT NULL, artifact_key TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, value REAL NOT NULL,"
        " unit TEXT NOT NULL DEFAULT '', params_json TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);"
        "INSERT INTO runs(name, status, started_at) VALUES ('old', 'ok', 1.0);"
        "PRAGMA user_version = 1;")
    con.commit()
    con.close()
    ro = Store(db, readonly=True)  # a reader of an old store does not migrate it
    assert [r.name for r in ro.runs()] == ["old"]
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 1
    s = Store(db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r.status for r in s.runs()] == ["ok"]
    s.start_run("new")
    assert [r.name for r in s.runs()] == ["new", "old"]
    # newer and foreign schemas: one line, exit 2, file untouched
    newer = tmp_path / "newer"
    Store(newer / "store.sqlite")
    c = sqlite3.connect(newer / "store.sqlite")
    c.execute("PRAGMA user_version = 99")
    c.commit()
    c.close()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    c = sqlite3.connect(foreign / "store.sqlite")
    c.execute("CREATE TABLE customers (id INTEGER)")
    c.commit()
    c.close()
    for home, words in ((newer, "newer than this hrnet-wb"), (foreign, "not an hrnet-wb store")):
        for cmd in (["runs"], ["leaderboard"], ["build", "x.onnx"]):
            r = runner.invoke(app, [*cmd, "--home", str(home), "--json"])
            if cmd[0] == "build":
                assert r.exit_code == 2  # x.onnx is missing: refused before the store
                continue
            assert r.exit_code == 2 and words in json.loads(r.stdout)["error"], r.output


def _read_only_home_cmd(home: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Run hrnet-wb with ``home`` read-only: by permissions when not root, else in a mount
    namespace with a read-only bind mount (root ignores permissions)."""
    cli = [sys.executable, "-m", "workbench", *args, "--home", str(home), "--json"]
    if os.geteuid() != 0:
        for p in [home, *home.rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return subprocess.run(cli, capture_output=True, text=True, timeout=60)
    if not shutil.which("unshare"):
        pytest.skip("root without unshare: cannot make a read-only home")
    script = (f"mount --bind {home} {home} && mount -o remount,ro,bind {home} && "
              f"touch {home}/probe 2>/dev/null && exit 97; exec " + " ".join(cli))
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    if out.returncode == 97 or "unshare" in out.stderr and "Operation not permitted" in out.stderr:
        pytest.skip("cannot make a read-only mount here")
    return out


def test_runs_and_leaderboard_work_on_a_read_only_home(tmp_path):
    from workbench.store import Store

    home = tmp_path / "home"
    s = Store(home / "store.sqlite")
    rid = s.start_run("done")
    s.add_metric(rid, "b", "top1", 75.0, "%")
    s.finish_run(rid, "ok")
    for p in home.glob("store.sqlite-*"):  # as after a clean close: no -wal/-shm beside it
        p.unlink()
    r = _read_only_home_cmd(home, ["runs"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)[0]["name"] == "done"
    r = _read_only_home_cmd(home, ["leaderboard"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)[0]["top1"] == 0.75  # stored in percent before the unit rule, read as a fraction


def test_copied_home_uses_its_own_artifacts(tiny, tmp_path):
    root, onnx, data = tiny
    a = tmp_path / "a"
    rec = json.loads(runner.invoke(app, _build_args(onnx, data, a, "fp32")).stdout)
    row = sqlite3.connect(a / "store.sqlite").execute("SELECT path FROM artifacts").fetchone()
    assert not Path(row[0]).is_absolute()
    b = tmp_path / "b"
    shutil.copytree(a, b)
    shutil.rmtree(a)
    from workbench.store import Store

    got = Store(b / "store.sqlite").artifact(rec["key"])
    assert got is not None and Path(got["path"]).is_file() and str(b) in got["path"]


def test_atomic_writes_honour_the_umask(tmp_path):
    from workbench.atomic import atomic_dir, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {"a": 1})
        with atomic_dir(tmp_path / "d") as t:
            (t / "f").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_internal_error_is_exit_3_with_a_crash_log(tmp_path, monkeypatch):
    from workbench.store import Store

    def boom(self, limit=100):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Store, "runs", boom)
    monkeypatch.setenv("HRNET_WB_CRASH_DIR", str(tmp_path / "crash"))
    monkeypatch.delenv("HRNET_WB_DEBUG", raising=False)
    r = runner.invoke(app, ["runs", "--home", str(tmp_path / "h"), "--json"])
    assert r.exit_code == 3 and "Traceback" not in r.output
    rec = json.loads(r.stdout)
    assert rec["ok"] is False and rec["exit_code"] == 3 and "ZeroDivisionError" in rec["error"]
    logs = list((tmp_path / "crash").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in rec["error"]
    assert "Traceback" in logs[0].read_text() and "a bug" in logs[0].read_text()
    r = runner.invoke(app, ["runs", "--home", str(tmp_path / "h")])
    assert r.exit_code == 3 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: internal error")
    monkeypatch.setenv("HRNET_WB_DEBUG", "1")
    r = runner.invoke(app, ["runs", "--home", str(tmp_path / "h")])
    assert r.exit_code == 3 and "Traceback" in r.stderr


def test_full_disk_during_a_store_write_is_exit_2(tmp_path, monkeypatch):
    import errno

    from workbench.store import Store

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "h" / "store.sqlite"))

    monkeypatch.setattr(Store, "add_artifact", full)
    onnx = make_tiny_onnx(tmp_path / "t.onnx", classes=10)
    r = runner.invoke(app, _build_args(onnx, tmp_path, tmp_path / "h", "fp32"))
    assert r.exit_code == 2
    assert "no space left on the device" in json.loads(r.stdout)["error"]


def test_a_run_whose_end_the_store_refuses_says_so_and_the_next_start_records_it_died(tmp_path, monkeypatch):
    """A full disk refuses the last write: one line names the run and where its files are,
    and the next run started here turns the left 'running' row into 'died' with the reason."""
    from workbench.store import Store
    from workbench.store.schema import StoreError

    store = Store(tmp_path / "store.sqlite")
    real = Store.finish_run
    monkeypatch.setattr(Store, "finish_run", lambda *a, **k: (_ for _ in ()).throw(
        StoreError("store.sqlite: the run store is unusable (no space left on the device)")))
    with pytest.raises(StoreError) as err, store.run("eval x", out_dir=tmp_path / "out") as run:
        (run.out_dir / "results.jsonl").write_text("{}\n")
    assert str(err.value).startswith(f"run {run.id}: its end could not be recorded (")
    assert "no space left" in str(err.value) and str(tmp_path / "out") in str(err.value)
    monkeypatch.setattr(Store, "finish_run", real)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    with sqlite3.connect(tmp_path / "store.sqlite") as con:  # its process is gone
        con.execute("UPDATE runs SET pid=? WHERE id=?", (int(gone.stdout), run.id))
    with store.run("next"):
        pass
    with sqlite3.connect(tmp_path / "store.sqlite") as con:
        status, error = con.execute("SELECT status, error FROM runs WHERE id=?", (run.id,)).fetchone()
    assert status == "died" and "disk was full" in error


def test_an_empty_store_file_left_by_a_full_disk_reads_as_no_runs(tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "store.sqlite").write_bytes(b"")  # what a first open on a full disk leaves
    r = runner.invoke(app, ["runs", "--home", str(tmp_path / "h"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == [], r.output


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a tiny tmpfs")
def test_a_real_full_disk_leaves_no_run_running(tmp_path):
    """A 2 MiB tmpfs filled to 48 KiB free: the eval's results are written, its last store
    writes are refused, and no run is left 'running' once the next run starts."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("this container may not mount a tmpfs")
    try:
        onnx = make_tiny_onnx(tmp_path / "t.onnx")  # 1000 classes, as the ImageNet labels need
        data = make_val_folder(tmp_path / "val", 24, size=(80, 64))
        home = mnt / "h"
        args = ["eval", str(onnx), "--data", str(data), "--home", str(home), "--json"]
        first = runner.invoke(app, [*args, "--out", str(mnt / "o0"), "--limit", "2"])
        assert first.exit_code == 0, first.output
        free = shutil.disk_usage(mnt).free
        (mnt / "fill").write_bytes(b"\0" * (free - 48 * 1024))
        r = subprocess.run([sys.executable, "-m", "workbench", *args, "--out", str(mnt / "o1")],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert r.returncode == 2 and "no space left on the device" in r.stdout, r.stdout + r.stderr
        (mnt / "fill").unlink()
        assert runner.invoke(app, [*args, "--out", str(mnt / "o2"), "--limit", "2"]).exit_code == 0
        with sqlite3.connect(home / "store.sqlite") as con:  # as stored, not as `runs` reads it
            assert con.execute("SELECT count(*) FROM runs WHERE status='running'").fetchone()[0] == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_public_serve_needs_the_token_on_every_request(tmp_path):
    port = _free_port()
    token = "t0k3n-for-the-test-0123456789"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--public", "--port", str(port),
                             "--token", token, "--home", str(tmp_path / "h"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status = {}
        deadline = time.monotonic() + 60  # a cold start on a loaded box: a bound for a hang only
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                status["bare"] = 200
                break
            except urllib.error.HTTPError as e:
                status["bare"] = e.code
                break
            except OSError:
                time.sleep(0.1)
        assert status["bare"] == 403
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=5) as resp:
            assert resp.status == 200 and "HRNet Workbench" in resp.read().decode()
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=wrong-token-0123456789", timeout=5)
        assert wrong.value.code == 403
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    rec = json.loads(out)
    assert rec["ok"] and rec["token_required"] and token in rec["url"]


def test_sigterm_mid_run_records_interrupted_and_leaves_no_temp(tmp_path):
    """SIGTERM becomes an interrupt at the boundary: finally blocks run, the run is recorded."""
    prof = tmp_path / "p.toml"
    prof.write_text('name = "t"\n[model]\nvariant = "hrnet_w18_small"\ninput_size = [64, 64]\n'
                    '[build]\ndtype = "fp32"\nreference = false\n[bench]\nenabled = false\n')
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", "--profile", str(prof), "--home",
                             str(home), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        db = home / "store.sqlite"
        if db.is_file():
            try:
                with sqlite3.connect(db) as con:
                    if con.execute("SELECT COUNT(*) FROM runs WHERE status='running'").fetchone()[0]:
                        break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be terminated"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert json.loads(out)["ok"] is False
    with sqlite3.connect(home / "store.sqlite") as con:
        status, error = con.execute("SELECT status, error FROM runs").fetchone()
    assert status == "interrupted" and "SIGTERM" in error
    hidden = [p for p in home.rglob(".*") if p.name not in (".locks",)]
    assert hidden == []
