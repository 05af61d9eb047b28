"""Big layers in the browser: the feature group streamlit-folium swaps in, safe for any text."""

from __future__ import annotations

import json
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import streamlit_folium

from bench.mapview import Capture
from geo import clearance, viewport
from geo.viewport import FeatureIndex, View
from layers import LayerSpec, _parcels
from ui import bigmap
from ui.mapview import build_map

HOSTILE = [
    "{{ 7*7 }}",
    "{% raw %}",
    "{# x",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    '</script><img src=x onerror="alert(1)">',
    "a\u2028b",
]


def _sent(fmap: Any, group: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    capture = Capture()
    monkeypatch.setattr(streamlit_folium, "_component_func", capture)
    streamlit_folium.st_folium(fmap, key="t", feature_group_to_add=group)
    return capture.args


def _index(labels: list[str]) -> FeatureIndex:
    n = len(labels)
    x = 106.72 + np.arange(n) * 0.0002
    gdf = gpd.GeoDataFrame(
        {"stage": ["kiem_dem"] * n, "any_overdue": [True] * n, "complaint_open": [False] * n,
         "key": labels},
        geometry=shapely.box(x, 10.78, x + 0.0001, 10.7801),
        index=gpd.pd.Index(np.arange(1, n + 1), name="fid"), crs=4326,
    )  # fmt: skip
    return FeatureIndex.from_frame(
        gdf, category="stage", categories=[s.code for s in clearance.STAGES],
        flags=["any_overdue", "complaint_open"], label="key",
    )  # fmt: skip


def _spec() -> LayerSpec:
    return _parcels.parcel_spec("parcels", {"vi": "Thửa", "en": "Parcels"}, "src", "lic", 40)


def _config(lang: str = "vi") -> dict[str, Any]:
    return bigmap.layer_config(
        _spec(), [(s.code, s.label(lang)) for s in clearance.STAGES],
        [("any_overdue", "{{ 1+1 }} <b>late</b>"), ("complaint_open", "c")], lang,
    )  # fmt: skip


def test_hostile_labels_reach_the_browser_as_data_and_are_never_templated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = _index(HOSTILE)
    content = viewport.view_content(index, View(*index.bounds(), zoom=19))
    fmap = build_map({}, dynamic=[_spec()])
    args = _sent(fmap, bigmap.feature_group(content, _config()), monkeypatch)
    group = str(args["feature_group"])
    for text in HOSTILE:
        assert text not in group  # every one is escaped somewhere
    assert "{{" not in group and "{%" not in group and "{#" not in group
    assert "<img" not in group and "</script>" not in group and "\u2028" not in group
    data = json.loads(re.search(r"var d = (.*?);\n", group).group(1))
    assert sorted(f[3] for f in data["d"]) == sorted(HOSTILE)  # exact text once parsed
    config = json.loads(re.search(r"var cfg = (.*?);\n", group).group(1))
    assert config["flagLabels"][0] == "{{ 1+1 }} <b>late</b>"  # shown with textContent


def test_the_group_draws_shapes_by_fid_with_canvas_and_text_tooltips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = _index(["10/1", "10/2"])
    content = viewport.view_content(index, View(*index.bounds(), zoom=19))
    args = _sent(build_map({}, dynamic=[_spec()]), bigmap.feature_group(content, _config()),
                 monkeypatch)  # fmt: skip
    group = str(args["feature_group"])
    assert "L.canvas" in group and "textContent" in group and "innerHTML" not in group
    assert "properties: {p: f[0], layer: cfg.layer}" in group
    assert "map_div.addLayer(feature_group_feature_group_0)" in group


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_base_map_has_the_layer_legend_and_credit_but_no_parcels(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _sent(build_map({}, lang=lang, dynamic=[_spec()]), None, monkeypatch)
    text = json.dumps(args, ensure_ascii=False)
    for stage in clearance.STAGES:
        assert stage.label(lang) in text
    assert "src" in text  # the credit
    assert args["feature_group"] is None


def test_the_base_map_keeps_its_hash_when_the_window_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    """streamlit-folium keys the component by the base script: it must not change with the
    window, or the browser would rebuild the map (and lose its view) on every pan."""
    index = _index([f"k{i}" for i in range(50)])
    keys = []
    for zoom in (15, 19):
        view = View(*index.bounds(), zoom=zoom)
        content = viewport.view_content(index, view)
        args = _sent(build_map({}, bounds=index.bounds(), dynamic=[_spec()]),
                     bigmap.feature_group(content, _config()), monkeypatch)  # fmt: skip
        keys.append(args["key"])
    assert keys[0] == keys[1]


def test_grid_cells_have_counts_and_zoom_in_on_click(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index([f"k{i}" for i in range(200)])
    content = viewport.view_content(index, View(*index.bounds(), zoom=14), max_features=10)
    assert content.mode == "grid"
    group = str(_sent(build_map({}, dynamic=[_spec()]), bigmap.feature_group(content, _config()),
                      monkeypatch)["feature_group"])  # fmt: skip
    assert "fitBounds" in group and "cellTitle" in group


@pytest.mark.parametrize("text", HOSTILE)
def test_text_in_any_layer_or_legend_is_never_run_as_a_template(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """branca re-reads rendered scripts as Jinja templates: ``{{ ... }}`` in a feature's
    attribute, a layer title, a legend label or a credit would run on the server, and
    ``{% raw`` would crash the page. All of them are escaped before folium sees them."""
    gdf = gpd.GeoDataFrame({"name": [text]}, geometry=[shapely.box(106.7, 10.7, 106.71, 10.71)],
                           crs=4326)  # fmt: skip
    spec = LayerSpec(
        id="imported", title={"vi": text, "en": text}, source=text, licence="l",
        attribution=text, style={}, popup_fields=[("name", {"vi": text, "en": text})],
        panel_fields=[], legend=[("#ff0000", {"vi": text, "en": text})],
    )  # fmt: skip
    args = _sent(build_map({"imported": gdf}, specs=[spec]), None, monkeypatch)
    sent = json.dumps(args, ensure_ascii=False)
    for opener in ("{{", "{%", "{#"):
        assert opener not in sent
    assert "#123;" in sent or "{" not in text  # the entity (its & may be \\u0026 in JS)
