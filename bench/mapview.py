"""Map view of 100,000 parcels: server build time and payload per window, against inlining all.

"Payload" is what streamlit-folium sends to the browser for one rerun: the JSON of the
component's arguments (map script, HTML, header, feature group, asset links), captured by
standing in for its component function. "Build" is the server's time from the window to
those arguments: the tree query, encoding, the base map and streamlit-folium's rendering.
The naive approach is folium's GeoJson with every parcel inlined, styled per feature.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import streamlit_folium

from bench.common import heading, row
from geo import clearance, synthetic, viewport, wards
from geo.config import load_settings
from geo.viewport import FeatureIndex, View
from layers import _parcels
from ui import bigmap
from ui.mapview import build_map

WIDTH, HEIGHT = 1000, 600
ZOOMS = (13, 14, 15, 16, 17, 18)
PER_ZOOM = 6
TODAY = date(2026, 11, 22)


def ward_parcels(n: int = 100_000, seed: int = 5) -> gpd.GeoDataFrame:
    """``n`` synthetic parcels across the configured ward, indexed by fid like the store's."""
    settings = load_settings({})
    new = wards.load_new_wards(settings.profile)
    area = new[new["name"] == settings.profile.name].to_crs(4326).geometry.union_all()
    gdf = synthetic.scale_parcels(area, settings.profile.measure_crs, n, seed=seed, today=TODAY)
    gdf.index = np.arange(1, len(gdf) + 1)
    gdf.index.name = "fid"
    return gdf


class Capture:
    """Stands in for streamlit-folium's component: keeps the arguments it would send."""

    def __init__(self) -> None:
        self.args: dict[str, Any] = {}

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("on_change", None)
        self.args = kwargs
        return {}

    def payload(self) -> int:
        """Bytes of the arguments as JSON, as the browser receives them."""
        return len(json.dumps(self.args, ensure_ascii=False).encode("utf-8"))


def _send(fmap: folium.Map, group: folium.FeatureGroup | None, capture: Capture) -> int:
    saved = streamlit_folium._component_func
    streamlit_folium._component_func = capture
    try:
        streamlit_folium.st_folium(
            fmap, key="bench", feature_group_to_add=group, use_container_width=True,
            height=HEIGHT, returned_objects=["last_active_drawing", "bounds", "zoom"],
        )  # fmt: skip
    finally:
        streamlit_folium._component_func = saved
    return capture.payload()


def page_build(
    index: FeatureIndex, spec: Any, config: dict[str, Any], view: View
) -> tuple[float, int, viewport.ViewContent]:
    """Seconds and bytes for one window, as the clearance page builds it."""
    capture = Capture()
    start = time.perf_counter()
    content = viewport.view_content(index, view)
    fmap = build_map({}, lang="vi", bounds=index.bounds(), popups=False, height_px=HEIGHT,
                     dynamic=[spec])  # fmt: skip
    size = _send(fmap, bigmap.feature_group(content, config), capture)
    return time.perf_counter() - start, size, content


def naive_build(parcels: gpd.GeoDataFrame, spec: Any) -> tuple[float, int]:
    """Seconds and bytes with every parcel inlined as GeoJSON (sheet/parcel, holder, stage),
    coloured by stage with folium's per-feature style function."""
    colours = {code: style["fillColor"] for code, style in spec.style_values.items()}
    frame = parcels[["key", "holder", "stage", "geometry"]]
    capture = Capture()
    start = time.perf_counter()
    fmap = folium.Map(location=[10.79, 106.73], zoom_start=14, tiles=None)
    folium.GeoJson(
        frame,
        style_function=lambda f: {"fillColor": colours.get(f["properties"]["stage"], "#ccc"),
                                  "color": "#555", "weight": 0.8, "fillOpacity": 0.75},
    ).add_to(fmap)  # fmt: skip
    size = _send(fmap, None, capture)
    return time.perf_counter() - start, size


def run(parcels: gpd.GeoDataFrame | None = None, naive: bool = True) -> dict[str, float]:
    """Every zoom from the ward to a block, several windows each; the naive map once."""
    heading("Map view of 100,000 parcels (clearance page)")
    if parcels is None:
        parcels = ward_parcels()
    start = time.perf_counter()
    annotated = clearance.annotate(parcels, TODAY)
    index = FeatureIndex.from_frame(
        annotated, category="stage", categories=[s.code for s in clearance.STAGES],
        flags=["any_overdue", "complaint_open"], label="key",
    )  # fmt: skip
    prepare_s = time.perf_counter() - start
    spec = _parcels.parcel_spec(clearance.DEMO_LAYER, {"vi": "Thửa", "en": "Parcels"}, "bench",
                                "bench", 41)  # fmt: skip
    config = bigmap.layer_config(
        spec, [(s.code, s.label("vi")) for s in clearance.STAGES],
        [("any_overdue", "Quá hạn"), ("complaint_open", "Khiếu nại")], "vi",
    )  # fmt: skip
    print(f"  {len(index):,} parcels; annotate + index once per change: {prepare_s:.2f} s")
    rng = np.random.default_rng(11)
    page_build(index, spec, config, View.around(106.73, 10.79, 16, WIDTH, HEIGHT))  # warm-up
    worst_s, worst_b = 0.0, 0
    per_zoom: list[tuple[int, float, int, str, int]] = []
    for zoom in ZOOMS:
        z_s, z_b, modes, shapes = 0.0, 0, set(), 0
        for _ in range(PER_ZOOM):
            i = int(rng.integers(len(index)))
            view = View.around(float(index.x[i]), float(index.y[i]), zoom, WIDTH, HEIGHT)
            seconds, size, content = page_build(index, spec, config, view)
            z_s, z_b = max(z_s, seconds), max(z_b, size)
            modes.add(content.mode)
            shapes = max(shapes, content.shapes)
        per_zoom.append((zoom, z_s, z_b, "/".join(sorted(modes)), shapes))
        worst_s, worst_b = max(worst_s, z_s), max(worst_b, z_b)
    for zoom, seconds, size, mode, shapes in per_zoom:
        print(f"  zoom {zoom}: worst build {seconds * 1000:6.0f} ms, payload "
              f"{size / 1e6:5.2f} MB, {mode} (up to {shapes:,} shapes)")  # fmt: skip
    result: dict[str, float] = {"build_s": worst_s, "payload_mb": worst_b / 1e6,
                                "prepare_s": prepare_s}  # fmt: skip
    if naive:
        naive_s, naive_b = naive_build(annotated, spec)
        result |= {"naive_build_s": naive_s, "naive_payload_mb": naive_b / 1e6}
        result["build_ratio"] = row("server build, worst window", worst_s, naive_s, "s",
                                    "≤ 0.3 s, ≥ 50×") or 0.0  # fmt: skip
        result["payload_ratio"] = row("payload, worst window", worst_b / 1e6, naive_b / 1e6,
                                      "MB", "≤ 1.5 MB, ≥ 50×") or 0.0  # fmt: skip
    else:
        row("server build, worst window", worst_s, None, "s", "≤ 0.3 s")
        row("payload, worst window", worst_b / 1e6, None, "MB", "≤ 1.5 MB")
    return result


if __name__ == "__main__":
    print(run())
