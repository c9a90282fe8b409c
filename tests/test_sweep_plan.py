"""The sweep profile, its rows, weight matching, the table formats and the engine options.

Nothing here builds a model or starts Ray: these are the fast checks.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app
from workbench.errors import BadInput
from workbench.sweep.plan import (
    RowSpec,
    SweepProfile,
    load_sweep_profile,
    match_weights,
    plan_rows,
    row_key,
    select_rows,
)
from workbench.sweep.table import csv_text, markdown, placeholder_row, table_notes

_load_commands()
runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "profiles" / "zoo.toml"


def test_zoo_profile_has_the_seed_tables_25_rows():
    plan = load_sweep_profile(ZOO)
    rows = plan_rows(plan)
    by_source = {s: [r for r in rows if r.source == s] for s in ("official", "mmcls", "timm")}
    assert [len(by_source[s]) for s in ("official", "mmcls", "timm")] == [9, 7, 9]
    assert {r.name for r in by_source["mmcls"]} >= {"hrnet-w18", "hrnet-w64"}
    assert "HRNet-W18-C-Small-v1" in {r.name for r in by_source["official"]}
    assert all(r.weights == "random-init" for r in rows)
    assert [b.label for b in plan.builds] == ["fp32-ort-cpu", "int8-percentile-ort-cpu"]


def test_only_and_skip_take_any_spelling_and_reject_unknown_rows():
    rows = plan_rows(load_sweep_profile(ZOO))
    picked = select_rows(rows, ["hrnet_w18_small", "w18"], [])
    assert [r.id for r in picked] == ["official:hrnet_w18_small", "official:hrnet_w18", "mmcls:hrnet_w18",
                                      "timm:hrnet_w18_small", "timm:hrnet_w18"]
    assert [r.id for r in select_rows(rows, ["w18"], ["official", "mmcls:w18"])] == ["timm:hrnet_w18"]
    with pytest.raises(BadInput, match="--only 'mmcls:small_v1'"):
        select_rows(rows, ["mmcls:small_v1"], [])
    with pytest.raises(BadInput):
        select_rows(rows, ["w99"], [])


def test_weights_folder_matches_each_sources_published_names(tmp_path):
    for name in ("hrnetv2_w18_imagenet_pretrained.pth", "hrnet_w18_small_model_v1.pth",
                 "hrnet-w18_3rdparty_8xb32_in1k_20220120-0c10b180.pth", "hrnet_w18.ms_in1k.safetensors",
                 "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "timm").mkdir()
    (tmp_path / "timm" / "hrnet_w18_small.gluon_in1k.safetensors").write_bytes(b"x")
    assert match_weights(tmp_path, "official", "hrnet_w18").name == "hrnetv2_w18_imagenet_pretrained.pth"
    assert match_weights(tmp_path, "official", "hrnet_w18_small").name == "hrnet_w18_small_model_v1.pth"
    assert match_weights(tmp_path, "mmcls", "hrnet_w18").name.startswith("hrnet-w18_3rdparty")
    assert match_weights(tmp_path, "timm", "hrnet_w18").name == "hrnet_w18.ms_in1k.safetensors"
    # the source's subfolder first; and hrnet_w18 never takes hrnet_w18_small's file
    assert match_weights(tmp_path, "timm", "hrnet_w18_small").parent.name == "timm"
    assert match_weights(tmp_path, "timm", "hrnet_w30") is None
    (tmp_path / "hrnet_w18.other.pth").write_bytes(b"x")
    with pytest.raises(BadInput, match="2 files match timm:hrnet_w18"):
        match_weights(tmp_path, "timm", "hrnet_w18")


def test_rows_without_a_file_are_random_init_and_the_key_follows_the_figures(tmp_path):
    (tmp_path / "hrnet_w18.ms_in1k.pth").write_bytes(b"x")
    plan = SweepProfile.model_validate({"models": {"sources": ["timm"], "variants": ["w18", "w30"],
                                                   "weights_dir": str(tmp_path)}})
    rows = plan_rows(plan)
    assert [(r.variant, Path(r.weights).name) for r in rows] == [("hrnet_w18", "hrnet_w18.ms_in1k.pth"),
                                                                 ("hrnet_w30", "random-init")]
    k = row_key(plan, rows[1])
    assert k == row_key(plan, rows[1])
    plan.data.limit = 5
    assert row_key(plan, rows[1]) != k


def test_bad_profile_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[models]\nsources = ['timm']\ncolour = 'red'\n")
    r = runner.invoke(app, ["sweep", "--profile", str(bad), "--json"])
    assert r.exit_code == 2
    assert "unknown key 'models.colour'" in json.loads(r.stdout)["error"]
    bad.write_text("[models]\ninput_size = [225, 224]\n")
    r = runner.invoke(app, ["sweep", "--profile", str(bad)])
    assert r.exit_code == 2 and "multiple" in r.output and len(r.output.strip().splitlines()) == 1


def _row(**kw):
    base = {"id": "timm:hrnet_w18", "source": "timm", "model": "hrnet_w18", "variant": "hrnet_w18",
            "status": "ok", "params_m": "21.30", "cost": "4.32", "cost_unit": "GMACs",
            "fp32_top1": 0.7676, "fp32_top5": 0.9344, "int8_top1": 0.7625, "int8_top5": 0.932,
            "delta_top1": 0.7625 - 0.7676, "top1_agreement": 0.975, "fp32_bs1_p50_ms": 90.0,
            "int8_bs1_p50_ms": 45.5, "best_throughput": 40.2, "best_build": "x", "eval_images": 100,
            "weights": "/w/hrnet_w18.pth", "random_init": False, "node_kind": "aaa", "run_id": 3,
            "error": ""}
    base.update(kw)
    return base


def test_table_fractions_in_csv_percent_in_markdown_and_node_kinds_said():
    rows = [_row(), _row(id="official:hrnet_w18", source="official", node_kind="bbb")]
    md = markdown(rows)
    assert "| hrnet_w18 | timm | 21.30 | 4.32 | 76.76 | 93.44 | 76.25 | 93.20 | -0.51 | 97.50 | 45.5 | 40.2 |" in md
    assert "2 kinds of node" in md and "| node |" in md
    got = list(csv.DictReader(io.StringIO(csv_text(rows))))
    assert float(got[0]["fp32_top1"]) == pytest.approx(0.7676)
    assert float(got[0]["delta_top1"]) == pytest.approx(-0.0051)
    assert len(table_notes([_row()])) == 0
    pending = placeholder_row(RowSpec("mmcls", "hrnet_w30", "hrnet-w30", "random-init").as_dict(), "pending")
    assert "pending" in markdown([_row(), pending])
    assert "random-init" in table_notes([_row(), pending])[0]


def test_engine_options_are_checked_before_any_work(tmp_path):
    r = runner.invoke(app, ["eval", "x.onnx", "--data", str(tmp_path), "--engine", "spark"])
    assert r.exit_code == 2 and "--engine 'spark'" in r.output
    r = runner.invoke(app, ["eval", "x.onnx", "--data", str(tmp_path), "--ray-address", "auto"])
    assert r.exit_code == 2 and "only applies with --engine ray" in r.output


def test_bad_ray_address_is_exit_2_one_line(tmp_path):
    pytest.importorskip("ray")
    for addr, words in (("127.0.0.1:1", "cannot connect"), ("no port", "expected 'auto'")):
        r = runner.invoke(app, ["eval", "x.onnx", "--data", str(tmp_path), "--engine", "ray",
                                "--ray-address", addr])
        assert r.exit_code == 2, r.output
        assert words in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert "ray start --head" in r.output or "HOST:PORT" in r.output
    r = runner.invoke(app, ["sweep", "--profile", str(ZOO), "--engine", "ray", "--ray-address",
                            "127.0.0.1:1", "--json"])
    assert r.exit_code == 2 and "cannot connect" in json.loads(r.stdout)["error"]


def test_ray_not_installed_says_how_to_install():
    code = ("import sys; sys.modules['ray'] = None\n"
            "from workbench.engines.ray_cluster import import_ray\n"
            "from workbench.errors import BadInput\n"
            "try:\n    import_ray()\nexcept BadInput as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={**__import__('os').environ, "PYTHONPATH": str(ROOT)})
    assert "pip install 'hrnet-wb[ray]'" in out.stdout, out.stderr


def test_help_and_base_imports_never_load_ray():
    code = ("import sys\nfrom workbench.cli import _load_commands\n_load_commands()\n"
            "import workbench.sweep.run, workbench.engines.ray_cluster, workbench.engines.ray_eval, workbench.sweep.ray_engine\n"
            "print('ray' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={**__import__('os').environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False", out.stderr


def test_what_ray_writes_to_stderr_goes_to_its_log_and_real_errors_are_counted(tmp_path):
    """C-level writes on fd 2 (Ray's core worker) land in the log; the workbench's own lines
    (sys.stderr) still reach the terminal; one warning counts the error lines that matter."""
    code = (
        "import os, sys\nfrom pathlib import Path\n"
        "from workbench.engines.ray_cluster import stderr_to\nfrom workbench.events import Reporter\n"
        "msgs = []\nrep = Reporter(lambda e: msgs.append(getattr(e, 'message', '')))\n"
        "with stderr_to(Path(sys.argv[1]), rep):\n"
        "    os.write(2, b'[2026-12-04 22:00:41,364 E 1 1] core_worker.cc:2465: Actor x has constructor "
        "arguments in the object store and max_restarts > 0.\\n')\n"
        "    os.write(2, b'[2026-12-04 22:00:42,000 E 1 1] raylet_client.cc:1: lost the raylet\\n')\n"
        "    print('workbench progress line', file=sys.stderr)\n"
        "print('|'.join(m for m in msgs if m))\n")
    log = tmp_path / "ray.log"
    out = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env={**__import__('os').environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stderr == "workbench progress line\n"
    assert "core_worker.cc" in log.read_text() and "lost the raylet" in log.read_text()
    warning = out.stdout.strip()
    assert warning.startswith("Ray logged 1 error line(s)") and "lost the raylet" in warning
    assert str(log) in warning
