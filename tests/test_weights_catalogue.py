"""The weights catalogue's shape, and its agreement with the installed timm."""

from __future__ import annotations

import re

import pytest

from workbench.errors import BadInput
from workbench.sources.cost import CONVENTIONS
from workbench.sources.weights_catalogue import (
    entries_for,
    find_weights,
    load_catalogue,
    parse_pretrained,
)


def test_every_listed_variant_has_weights_or_says_none_published():
    """What `hrnet-wb models` lists per source, plus the variants each source publishes."""
    for source, conv in CONVENTIONS.items():
        for variant in conv.variants:
            rows = entries_for(source, variant)
            assert rows, f"{source}:{variant} has no catalogue entry"
            assert sum(e.default for e in rows if e.published) == 1 or rows[0].none, (source, variant)
    for e in load_catalogue():
        assert e.none or e.kind in ("hf", "url", "manual")
    assert entries_for("mmcls", "small_v1")[0].none


def test_published_figures_are_percentages():
    for e in load_catalogue():
        if e.published:
            assert e.top1 is not None and 50 < e.top1 < 100, e.key
            assert e.top5 is None or e.top1 < e.top5 < 100, e.key


def test_mmcls_file_names_carry_their_sha256_prefix():
    rows = [e for e in load_catalogue() if e.source == "mmcls" and e.published]
    assert len(rows) == 9
    for e in rows:
        assert e.url.startswith("https://download.openmmlab.com/mmclassification/v0/hrnet/")
        m = re.search(r"-([0-9a-f]{8})\.pth$", e.url)
        assert m and m.group(1) == e.sha256_prefix, e.url
        assert e.file_name.startswith(e.name + "_")
    assert find_weights("mmcls", "w18").top1 == 76.75


def test_timm_entries_match_the_installed_timm():
    """hf_hub_id and the default tag come from timm's own default_cfgs: no drift."""
    import timm
    from timm.models import get_pretrained_cfg

    from workbench.sources.timm_source import default_tag

    rows = [e for e in load_catalogue() if e.source == "timm"]
    assert {f"{e.variant}.{e.tag}" for e in rows} == set(timm.list_pretrained("hrnet*"))
    for e in rows:
        cfg = get_pretrained_cfg(f"{e.variant}.{e.tag}")
        assert cfg is not None and cfg.hf_hub_id == e.hf_repo, e.key
        assert e.default == (default_tag(e.variant) == e.tag), e.key


def test_official_entries_say_where_the_file_comes_from():
    for e in (e for e in load_catalogue() if e.source == "official"):
        assert e.filename and e.kind in ("manual", "url")
        if e.kind == "manual":
            assert e.link.startswith("https://1drv.ms/") and "BaiduYun" in e.alt_link
    assert find_weights("official", "HRNet-W18-C").filename == "hrnetv2_w18_imagenet_pretrained.pth"


def test_pretrained_spelling():
    assert parse_pretrained("pretrained") == ""
    assert parse_pretrained("pretrained:ms_in1k") == "ms_in1k"
    assert parse_pretrained("hub:ms_in1k") is None
    assert find_weights("timm", "w18").tag == "ms_aug_in1k"
    assert find_weights("timm", "w18", "ms_in1k").top1 == 76.77
    with pytest.raises(BadInput, match=r"no such tag .*pretrained:ms_aug_in1k"):
        find_weights("timm", "w18", "nope")
    with pytest.raises(BadInput, match=r"no mmcls weights are published for hrnet_w18_small"):
        find_weights("mmcls", "small_v1")
