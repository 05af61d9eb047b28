"""Tests for the layer registry: discovery, lookups and the completeness of each spec."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import layers
from geo.store import LayerInfo
from layers import LayerSpec, generic, get, registry

LANGS = ("vi", "en")


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    layers._discover.cache_clear()
    yield
    layers._discover.cache_clear()


def test_registry_finds_the_ward_layers_in_drawing_order() -> None:
    ids = [spec.id for spec in registry()]
    assert ids == ["wards_new", "wards_old", "low_ground", "streets", "flood_prone",
                   "low_streets", "flood_state", "parcels", "parcels_demo", "flood_reports",
                   "routes"]
    assert [spec.z for spec in registry()] == sorted(spec.z for spec in registry())


def test_get_returns_the_spec_and_refuses_unknown_ids() -> None:
    assert get("wards_new").id == "wards_new"
    with pytest.raises(KeyError, match="wards_new"):
        get("nope")


@pytest.mark.parametrize("spec", registry(), ids=lambda s: s.id)
def test_every_spec_is_complete_in_both_languages(spec: LayerSpec) -> None:
    assert all(spec.title.get(lang) for lang in LANGS)
    for _, labels in [*spec.popup_fields, *spec.panel_fields]:
        assert all(labels.get(lang) for lang in LANGS)
    assert spec.legend
    for colour, labels in spec.legend:
        assert colour.startswith("#")
        assert all(labels.get(lang) for lang in LANGS)
    assert {"color", "weight"} <= set(spec.style)
    if spec.style.get("fill") is not False:  # an area or point layer says how it is filled
        assert {"fillColor", "fillOpacity"} <= set(spec.style)
    assert spec.source and spec.licence and spec.attribution
    assert spec.popup_fields and spec.panel_fields


def test_wards_new_fields_and_highlight() -> None:
    spec = get("wards_new")
    panel = [name for name, _ in spec.panel_fields]
    assert panel == ["name", "ward_code", "area_km2", "population", "before_merger", "admin_center"]
    assert spec.highlight_field == "name"
    assert spec.highlight_style["color"] != spec.style["color"]
    assert spec.highlight_style["weight"] > spec.style["weight"]
    assert "{ward}" in spec.legend[0][1]["vi"]
    assert spec.attribution == "Ranh giới 2025: vietnam-3d-map / gis.vn / sapnhap.bando.com.vn"


def test_wards_old_is_dashed_outline() -> None:
    spec = get("wards_old")
    assert [name for name, _ in spec.panel_fields] == ["name", "district", "gadm_units"]
    assert spec.style["dashArray"]
    assert spec.style["fill"] is False
    assert spec.attribution == "GADM 4.1 (www.gadm.org), phi thương mại"


def test_fields_lists_each_attribute_once() -> None:
    spec = get("wards_new")
    assert spec.fields[0] == "name"
    assert len(spec.fields) == len(set(spec.fields))
    assert set(spec.fields) == {n for n, _ in spec.popup_fields} | {n for n, _ in spec.panel_fields}


def test_label_falls_back_to_vietnamese() -> None:
    spec = get("wards_new")
    assert spec.label("en") == "New wards (from 1 July 2025)"
    assert spec.label("fr") == spec.title["vi"]


def test_generic_spec_for_imported_layers() -> None:
    spec = generic("osm_wards", "OSM", [f"f{i}" for i in range(8)], source="OpenStreetMap")
    assert spec.id == "osm_wards"
    assert len(spec.popup_fields) == 5
    assert len(spec.panel_fields) == 8
    assert spec.attribution == "OpenStreetMap"
    assert not spec.default_visible


def test_adding_a_module_adds_a_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    (tmp_path / "zz_bus_stops.py").write_text(
        "from layers import LayerSpec\n"
        "LAYER = LayerSpec(id='bus_stops', title={'vi': 'Trạm xe buýt', 'en': 'Bus stops'},\n"
        "    source='s', licence='l', attribution='a',\n"
        "    style={'color': '#000', 'weight': 1, 'fillColor': '#000', 'fillOpacity': 0.1},\n"
        "    popup_fields=[], panel_fields=[], legend=[], z=5)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(layers, "__path__", [*layers.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "layers.zz_bus_stops", raising=False)
    ids = [spec.id for spec in registry()]
    assert ids[:3] == ["bus_stops", "wards_new", "wards_old"]
    assert get("bus_stops").title["en"] == "Bus stops"


def test_a_module_without_layer_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    (tmp_path / "zz_broken.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.setattr(layers, "__path__", [*layers.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "layers.zz_broken", raising=False)
    with pytest.raises(TypeError, match="zz_broken"):
        registry()


def _info(layer_id: str, **meta: object) -> LayerInfo:
    return LayerInfo(
        layer_id=layer_id, title=layer_id.title(), source="osm.geojson", licence="ODbL 1.0",
        geometry_type="Polygon", feature_count=1, bbox=None, updated_at="", updated_by="",
        meta=dict(meta),
    )  # fmt: skip


def test_specs_for_credits_the_data_in_the_store_not_the_module() -> None:
    osm = _info("wards_old", attribution="© OpenStreetMap contributors")
    (spec,) = layers.specs_for([osm])
    assert spec.attribution == "© OpenStreetMap contributors"
    assert (spec.source, spec.licence) == ("osm.geojson", "ODbL 1.0")
    assert spec.style == layers.get("wards_old").style  # the module still styles it


def test_specs_for_gives_imported_layers_a_generic_spec_in_drawing_order() -> None:
    imported = _info("khu_pho", dtypes=[["name", "str"], ["_note", "str"], ["dan_so", "int64"]])
    specs = layers.specs_for([imported, _info("wards_new")])
    assert [s.id for s in specs] == ["wards_new", "khu_pho"]
    assert [name for name, _ in specs[1].panel_fields] == ["name", "dan_so"]
    assert specs[1].attribution == "osm.geojson"  # no recorded attribution: the source


def test_the_registry_stays_light_at_start_up() -> None:
    """Every page imports the registry; the flood and DEM layers must not drag osmnx,
    networkx or rasterio into a process that only shows the ward map."""
    code = (
        "import sys, layers, ui.mapview; layers.registry(); "
        "print(sorted(m for m in ('osmnx', 'networkx', 'rasterio', 'scipy') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"
