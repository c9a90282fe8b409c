"""``hrnet-wb models --table``: each source's published table, recomputed, digit for digit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app
from workbench.sources.cost import cost_table, count_variant, torch_flop_counter_macs
from workbench.sources.timm_source import build_model

_load_commands()

# The official README (HRNet/HRNet-Image-Classification): #Params (M), GFLOPs.
OFFICIAL = {
    "hrnet_w18_small": ("13.2", "1.49"), "hrnet_w18_small_v2": ("15.6", "2.42"),
    "hrnet_w18": ("21.3", "3.99"), "hrnet_w30": ("37.7", "7.55"), "hrnet_w32": ("41.2", "8.31"),
    "hrnet_w40": ("57.6", "11.8"), "hrnet_w44": ("67.1", "13.9"), "hrnet_w48": ("77.5", "16.1"),
    "hrnet_w64": ("128.1", "26.9"),
}
# The mmcls metafile: Params (M), Flops (G).
MMCLS = {
    "hrnet_w18": ("21.30", "4.33"), "hrnet_w30": ("37.71", "8.17"), "hrnet_w32": ("41.23", "8.99"),
    "hrnet_w40": ("57.55", "12.77"), "hrnet_w44": ("67.06", "14.96"), "hrnet_w48": ("77.47", "17.36"),
    "hrnet_w64": ("128.06", "29.00"),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(scope="module")
def tables_json(home):
    r = CliRunner().invoke(app, ["models", "--table", "--source", "official", "--source", "mmcls",
                                 "--json", "--home", str(home)])
    assert r.exit_code == 0, r.output
    from unit_rule import check_units  # the unit rule over `models --json` (see test_unit_rule.py)

    out = json.loads(r.stdout)
    assert check_units(out) == []
    return out


def _cells(table):
    return {row["variant"]: (row["params_m"], row["cost"]) for row in table["rows"]}


def test_official_table_digit_for_digit(tables_json):
    assert tables_json["ok"] and tables_json["input_size"] == [224, 224]
    assert _cells(tables_json["tables"]["official"]) == OFFICIAL


def test_mmcls_table_digit_for_digit(tables_json):
    t = tables_json["tables"]["mmcls"]
    assert _cells(t) == MMCLS
    w18 = next(r for r in t["rows"] if r["variant"] == "hrnet_w18")
    # the metafile's exact integers (FACTS §3): params lack the 3,840 neck conv biases
    assert w18["count"] == 4_330_397_932 and w18["params"] == 21_295_164
    official_w18 = next(r for r in tables_json["tables"]["official"]["rows"] if r["variant"] == "hrnet_w18")
    assert official_w18["params"] - w18["params"] == 3840


def test_printed_tables_equal_the_json(home, tables_json):
    r = CliRunner().invoke(app, ["models", "--table", "--source", "official", "--source", "mmcls",
                                 "--home", str(home)])
    assert r.exit_code == 0, r.output
    printed = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) == 3 and cells[0].lower().startswith("hrnet"):
            printed[cells[0]] = (cells[1], cells[2])
    for src in ("official", "mmcls"):
        for row in tables_json["tables"][src]["rows"]:
            assert printed[row["name"]] == (row["params_m"], row["cost"])
    assert len(printed) == len(OFFICIAL) + len(MMCLS)
    # the second run was a cache hit
    assert (home / "cache" / "cost.json").is_file()


def test_timm_convention_and_the_unreproducible_seed_column(home, tables_json):
    rows = {r.variant: r for r in cost_table("timm", home / "cache" / "cost.json",
                                            variants=("hrnet_w18", "hrnet_w18_ssld"))}
    assert (rows["hrnet_w18"].params_m, rows["hrnet_w18"].cost) == ("21.30", "4.32")
    # _ssld has no head-conv bias: same MACs, 3,840 fewer params
    assert rows["hrnet_w18_ssld"].count == rows["hrnet_w18"].count
    assert rows["hrnet_w18"].params - rows["hrnet_w18_ssld"].params == 3840
    r = CliRunner().invoke(app, ["models", "--table", "--source", "timm", "--json", "--home", str(home)])
    t = json.loads(r.stdout)["tables"]["timm"]
    assert "9.667" in t["not_reproducible"]["reason"] and "matches no counter" in t["not_reproducible"]["reason"]
    assert len(t["rows"]) == 11 and all("9.667" not in (row["cost"], row["params_m"]) for row in t["rows"])


def test_official_convention_equals_torch_flop_counter():
    """The hook counter and torch.utils.flop_counter agree on conv+linear MACs."""
    counts = count_variant("hrnet_w18_small")
    assert counts["official"][1] == torch_flop_counter_macs(build_model("hrnet_w18_small", device="meta"))
    # and the other conventions differ from it for the documented reasons
    assert counts["timm"][1] > counts["official"][1]  # + BN, upsample, pool
    assert counts["mmcls"][0] == counts["official"][0] - 3840


def test_listing_and_bad_input(home, tables_json):
    r = CliRunner().invoke(app, ["models", "--source", "mmcls", "--json", "--home", str(home)])
    rows = json.loads(r.stdout)["models"]
    assert [x["variant"] for x in rows] == list(MMCLS)
    assert all(x["source"] == "mmcls" and x["cost_unit"] == "Flops (G)" for x in rows)
    for args, needle in ((["--source", "caffe"], "caffe"), (["--input-size", "225"], "225")):
        r = CliRunner().invoke(app, ["models", *args, "--home", str(home)])
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
