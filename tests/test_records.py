"""Typed records: the artifact identity is written once (its name) and read from columns,
never parsed from the name; store rows come back as ResultRow with their metrics."""

from __future__ import annotations

from workbench.build.cache import artifact_name
from workbench.records import ArtifactId, ResultRow
from workbench.store import Store


def test_artifact_id_names_the_build_the_vastai_way():
    a = ArtifactId("hrnet_w18", "int8", "percentile", (256, 256), "openvino-cpu")
    assert a.name == "hrnet_w18-int8-percentile-3_256_256-openvino-cpu"
    assert a.short == "int8-percentile 256 openvino-cpu"
    assert ArtifactId("m", "fp32", "", (224, 192), "ort-cpu").name == "m-fp32-none-3_224_192-ort-cpu"
    assert artifact_name("m", "fp32", "none", (224, 192), "ort-cpu") == "m-fp32-none-3_224_192-ort-cpu"


def test_store_rows_are_typed_with_their_artifact(home):
    st = Store(home.db)
    with st.run("eval") as run:
        st.add_artifact("k1", "hrnet_w18-int8-minmax-3_224_224-ort-cpu", "artifact", "/x",
                        variant="hrnet_w18", backend="ort-cpu", dtype="int8", calibration="minmax",
                        input_size="224x224", weights="random-init")
        run.metric("hrnet_w18-int8-minmax-3_224_224-ort-cpu", "top1", 75.5, "%", "k1")
        run.metric("torch-eager-fp32", "throughput", 6.0, "img/s")
    rows = {r.build: r for r in st.results()}
    int8 = rows["hrnet_w18-int8-minmax-3_224_224-ort-cpu"]
    assert isinstance(int8, ResultRow) and int8.run_id == run.id and int8.status == "ok"
    assert int8.metrics == {"top1": 75.5} and int8.get("top1") == 75.5 and int8.get("p50_ms") is None
    assert int8.artifact == ArtifactId("hrnet_w18", "int8", "minmax", (224, 224), "ort-cpu")
    assert int8.artifact.name == int8.build  # the columns give back the name; no parsing
    assert rows["torch-eager-fp32"].artifact is None
    # as_dict is the store's own row, so --json and the CSV are unchanged
    assert [r.as_dict() for r in st.results()] == st.leaderboard()
