"""Tests for ui.mapview: what the folium map's HTML must contain (and must not)."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import pytest
from shapely.geometry import box

from layers import generic
from ui.mapview import BASEMAPS, Legend, build_map, js_string, leaflet_assets

GADM_CREDIT = "GADM 4.1 (www.gadm.org), phi thương mại"
NEW_CREDIT = "Ranh giới 2025: vietnam-3d-map / gis.vn / sapnhap.bando.com.vn"
TILE_HOSTS = ("tile.openstreetmap.org", "basemaps.cartocdn.com", "{z}/{x}/{y}")


def _new_wards(name: str = "An Khánh") -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {
            "ward_code": ["27094", "27097"],
            "name": [name, "Bình Trưng"],
            "area_km2": [15.33, 11.2],
            "population": [76967, 80000],
            "before_merger": ["Phường Thảo Điền, Phường An Phú", "Phường An Phú"],
            "admin_center": ["171/1 Lương Định Của", "x"],
        },
        geometry=[box(106.70, 10.76, 106.75, 10.82), box(106.75, 10.76, 106.80, 10.80)],
        crs=4326,
    )
    gdf.index = gdf.index + 1
    gdf.index.name = "fid"
    return gdf


def _old_wards() -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {"name": ["Thảo Điền"], "district": ["Quận 2"], "gadm_units": ["ThảoĐiền"]},
        geometry=[box(106.72, 10.79, 106.75, 10.82)],
        crs=4326,
    )
    gdf.index.name = "fid"
    return gdf


def _html(fmap: folium.Map) -> str:
    """The map's standalone HTML with JSON ``\\uXXXX`` escapes decoded, as a browser reads it."""
    html = fmap.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)


@pytest.fixture
def both() -> dict[str, gpd.GeoDataFrame]:
    return {"wards_new": _new_wards(), "wards_old": _old_wards()}


def test_map_has_legend_scale_layer_control_and_credits(both: dict) -> None:
    html = _html(build_map(both, lang="vi", focus="An Khánh"))
    assert "Chú giải" in html
    assert "Phường An Khánh (mới)" in html
    assert "Phường, xã lân cận (mới)" in html
    assert "Ranh giới phường, xã cũ" in html
    assert "L.control.scale" in html
    assert "L.control.layers" in html
    assert GADM_CREDIT in html
    assert NEW_CREDIT in html
    assert "addAttribution" in html


def test_legend_and_titles_follow_the_language(both: dict) -> None:
    html = _html(build_map(both, lang="en", focus="An Khánh"))
    assert "Legend" in html
    assert "An Khánh ward (new)" in html
    assert "Old ward boundaries" in html
    assert "Chú giải" not in html


def test_legend_lists_only_the_layers_drawn() -> None:
    html = _html(build_map({"wards_new": _new_wards()}, focus="An Khánh"))
    assert "Phường An Khánh (mới)" in html
    assert "Ranh giới phường, xã cũ" not in html
    assert GADM_CREDIT not in html
    assert NEW_CREDIT in html


def test_no_tiles_when_basemap_is_none(both: dict) -> None:
    html = _html(build_map(both, basemap="none"))
    for host in TILE_HOSTS:
        assert host not in html
    assert "L.tileLayer" not in html


@pytest.mark.parametrize(
    ("basemap", "host"), [("osm", "tile.openstreetmap.org"), ("carto", "basemaps.cartocdn.com")]
)
def test_tile_basemaps_carry_their_attribution(both: dict, basemap: str, host: str) -> None:
    html = _html(build_map(both, basemap=basemap))
    assert host in html
    assert "© OpenStreetMap contributors" in html
    assert GADM_CREDIT in html


def test_unknown_basemap_is_refused(both: dict) -> None:
    with pytest.raises(ValueError, match="basemap"):
        build_map(both, basemap="google")


def test_property_values_are_escaped_in_the_map_html() -> None:
    hostile = '<script>alert("pwned")</script>'
    html = _html(build_map({"wards_new": _new_wards(name=hostile)}, focus=hostile))
    raw = build_map({"wards_new": _new_wards(name=hostile)}).get_root().render()
    assert "<script>alert" not in raw
    assert "<script>alert" not in html  # not even once JSON escapes are decoded
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html


def test_legend_and_credit_text_are_escaped() -> None:
    legend = Legend("<b>x</b>", [({"color": "#123456"}, "<img src=x onerror=alert(1)>")])
    assert "<img" not in legend.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in legend.html
    assert "<" not in legend.html_js.replace("\\u003c", "")


def test_js_string_cannot_close_the_script_tag() -> None:
    text = js_string("</script><script>alert(1)</script>\u2028")
    assert "</script>" not in text
    assert json.loads(text.replace("\\u003c", "<").replace("\\u003e", ">")) == (
        "</script><script>alert(1)</script>\u2028"
    )


def test_focus_ward_gets_the_highlight_style(both: dict) -> None:
    html = _html(build_map(both, focus="An Khánh"))
    assert '"color": "#c0392b"' in html
    assert '"weight": 4' in html
    plain = _html(build_map(both, focus=None))
    assert '"color": "#c0392b"' not in plain
    assert "Phường  (mới)" not in plain


def test_opacity_scales_line_and_fill(both: dict) -> None:
    full = _html(build_map(both, focus="An Khánh"))
    half = _html(build_map(both, focus="An Khánh", opacity={"wards_new": 0.5}))
    assert '"fillOpacity": 0.12' in full
    assert '"fillOpacity": 0.06' in half
    assert '"fillOpacity": 0.12' not in half


def test_features_carry_fid_and_layer_and_only_spec_fields(both: dict) -> None:
    fmap = build_map(both)
    layers_ = [c for c in fmap._children.values() if isinstance(c, folium.GeoJson)]
    assert len(layers_) == 2
    for layer in layers_:
        for feature in layer.data["features"]:
            props = feature["properties"]
            assert props["layer"] in ("wards_new", "wards_old")
            assert isinstance(props["fid"], int)
    new = next(layer for layer in layers_ if layer.data["features"][0]["properties"]["layer"]
               == "wards_new")  # fmt: skip
    assert set(new.data["features"][0]["properties"]) == {
        "name", "ward_code", "area_km2", "population", "before_merger", "admin_center",
        "fid", "layer",
    }  # fmt: skip


def test_tooltips_always_popups_on_request(both: dict) -> None:
    with_popups = _html(build_map(both))
    without = _html(build_map(both, popups=False))
    assert "bindTooltip" in with_popups and "bindTooltip" in without
    assert "bindPopup" in with_popups
    assert "bindPopup" not in without


def test_projected_input_is_reprojected_for_the_map() -> None:
    fmap = build_map({"wards_new": _new_wards().to_crs("EPSG:9210")})
    layer = next(c for c in fmap._children.values() if isinstance(c, folium.GeoJson))
    x, y = layer.data["features"][0]["geometry"]["coordinates"][0][0]
    assert 106.6 < x < 106.9 and 10.7 < y < 10.9


def test_map_is_fitted_to_the_given_bounds(both: dict) -> None:
    html = _html(build_map(both, bounds=(106.70, 10.76, 106.75, 10.82)))
    assert re.search(r"fitBounds\(\s*\[\[10\.76, 106\.7\], \[10\.82, 106\.75\]\]", html)


def test_generic_specs_draw_layers_outside_the_registry() -> None:
    gdf = _old_wards()
    spec = generic("osm_import", "OSM <ranh giới>", ["name"], source="© OpenStreetMap")
    html = _html(build_map({"osm_import": gdf}, specs=[spec]))
    assert "OSM &lt;ranh giới&gt;" in html
    assert "© OpenStreetMap" in html


def test_leaflet_is_served_inline_so_the_map_works_offline(both: dict) -> None:
    pytest.importorskip("js_lib_leaflet", reason="django-js-lib-leaflet ships Leaflet locally")
    assert leaflet_assets() is not None
    html = _html(build_map(both))
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert sources and all(src.startswith("data:") for src in sources)
    assert "cdn.jsdelivr.net/npm/leaflet" not in html


def test_basemap_registry_has_none_first() -> None:
    assert next(iter(BASEMAPS)) == "none"
    assert BASEMAPS["none"] is None
