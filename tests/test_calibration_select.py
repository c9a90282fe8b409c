"""Calibration-set selection: class balance, seeding, caps and the manifest hash."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.build import CalibrationSpec, select_calibration
from workbench.errors import BadInput


@dataclass(frozen=True)
class S:
    path: Path
    label: int | None
    id: str


def _pool(tmp_path: Path, per_class: dict[int, int]) -> list[S]:
    out = []
    for label, n in per_class.items():
        for i in range(n):
            f = tmp_path / f"c{label}_{i:03d}.jpg"
            f.write_bytes(b"x" * (label + i + 1))
            out.append(S(f, label, f.stem))
    return out


def test_balanced_across_classes_when_data_allows(tmp_path):
    pool = _pool(tmp_path, {0: 50, 1: 50, 2: 50, 3: 50})
    cs = select_calibration(pool, count=40, seed=0)
    assert len(cs.samples) == 40
    assert Counter(s.label for s in cs.samples) == {0: 10, 1: 10, 2: 10, 3: 10}
    assert len({s.id for s in cs.samples}) == 40


def test_small_class_gives_all_it_has_and_others_fill(tmp_path):
    pool = _pool(tmp_path, {0: 3, 1: 40, 2: 40})
    cs = select_calibration(pool, count=30, seed=1)
    c = Counter(s.label for s in cs.samples)
    assert c[0] == 3 and c[1] + c[2] == 27 and abs(c[1] - c[2]) <= 1


def test_count_is_capped_by_the_data(tmp_path):
    pool = _pool(tmp_path, {0: 4, 1: 3})
    cs = select_calibration(pool, count=1000, seed=0)
    assert len(cs.samples) == 7 and cs.requested == 1000


def test_seeded_and_independent_of_input_order(tmp_path):
    pool = _pool(tmp_path, {0: 30, 1: 30, 2: 30})
    a = select_calibration(pool, count=12, seed=7)
    b = select_calibration(list(reversed(pool)), count=12, seed=7)
    c = select_calibration(pool, count=12, seed=8)
    assert [s.id for s in a.samples] == [s.id for s in b.samples]
    assert a.manifest_hash == b.manifest_hash
    assert a.manifest_hash != c.manifest_hash
    assert [s.id for s in a.samples] != [s.id for s in c.samples]


def test_manifest_hash_tracks_file_content_size_not_location(tmp_path):
    pool = _pool(tmp_path, {0: 5, 1: 5})
    h1 = select_calibration(pool, count=10).manifest_hash
    pool[0].path.write_bytes(b"changed-size-content")
    h2 = select_calibration(pool, count=10).manifest_hash
    assert h1 != h2
    text = select_calibration(pool, count=10).manifest_text()
    assert len(text.splitlines()) == 10 and "\t" in text


def test_unlabelled_pool_and_bad_inputs(tmp_path):
    pool = [S(tmp_path / f"{i}.jpg", None, str(i)) for i in range(5)]
    for s in pool:
        s.path.write_bytes(b"1")
    assert len(select_calibration(pool, count=3).samples) == 3
    with pytest.raises(BadInput):
        select_calibration([], count=3)
    with pytest.raises(BadInput):
        select_calibration(pool, count=0)
    with pytest.raises(BadInput):
        CalibrationSpec(method="kl")
    with pytest.raises(BadInput):
        CalibrationSpec(method="percentile", percentile=0)
