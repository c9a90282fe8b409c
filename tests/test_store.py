"""The SQLite run store: WAL mode, runs/artifacts/metrics, leaderboard pivot."""

from __future__ import annotations

import sqlite3

from workbench.store import Store


def test_store_round_trip(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    with sqlite3.connect(tmp_path / "s.sqlite") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rid = st.start_run("demo", "profiles/demo.toml", '{"a": 1}', "abc")
    st.add_artifact("k1", "m-fp32", "artifact", "/x.onnx", variant="hrnet_w18_small", dtype="fp32",
                    backend="ort-cpu", weights="random-init", meta={"size": 3})
    st.add_metric(rid, "m-fp32", "top1", 50.0, "%", "k1")
    st.add_metric(rid, "m-fp32", "throughput", 12.5, "img/s", "k1")
    st.add_metric(rid, "m-fp32", "throughput", 99.0, "img/s", "k1", params={"batch": 8})
    st.finish_run(rid, "ok", summary={"x": 1})
    run = st.run_record(rid)
    assert run["status"] == "ok" and run["profile"] == {"a": 1} and run["summary"] == {"x": 1}
    assert run["seconds"] >= 0
    board = st.leaderboard()
    assert len(board) == 1
    row = board[0]
    # grid points (params) never leak into the headline figures
    assert row["throughput"] == 12.5 and row["top1"] == 50.0
    assert row["dtype"] == "fp32" and row["weights"] == "random-init"
    assert st.artifact("m-fp32")["meta"] == {"size": 3}
    assert [r.id for r in st.runs()] == [rid]


def test_interrupted_runs_are_kept(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    a = st.start_run("a")
    b = st.start_run("b")
    st.finish_run(a, "interrupted", "Ctrl-C")
    st.finish_run(b, "ok")
    statuses = {r.id: r.status for r in st.runs()}
    assert statuses == {a: "interrupted", b: "ok"}
