"""AppTest runs of the elevation page (views/elevation.py) and its helpers (ui/elevation.py).

The street network is the real OpenStreetMap sample of central HCMC (../shared/data/osm),
stored once per module in a template GeoPackage beside the seeded ward layers and copied for
each test. The elevation models are written here with rasterio over the sample's extent, in
UTM 48N (EPSG:32648) at 10 m: a plane rising from 2 m in the west to 8 m in the east, a 0.5 m
channel three cells wide running from the west edge to the middle (open to the edge, so the
water reaches it), and a 0.5 m pit ringed by high ground in the south-east (enclosed).

Nothing here needs the internet: the GLO-30 "server" is a closed local port.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from geo import raster, streets, wards
from geo.cli_dem import dem_path
from geo.config import Settings, load_settings
from geo.errors import GISInputError, PermissionDeniedError, UploadError
from geo.store import open_store
from tests.accounts import sign_in
from ui import elevation as ui_el
from ui.i18n import fmt_num, t

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGE = "views/elevation.py"
TIMEOUT = 60
UTM = "EPSG:32648"
CELL = 10.0
EXTENT = (106.686, 10.780, 106.697, 10.791)  # lon/lat of the DEMs (the OSM sample's core)
LOW_Z = 0.5  # the channel and the pit
WEST_Z, EAST_Z = 2.0, 8.0  # the plane
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connection refused
GLO30_NAME = "Copernicus_DSM_COG_10_N10_00_E106_00_DEM.tif"

Start = Callable[..., AppTest]


# --- the elevation model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The test DEM: values, transform, and the channel and pit as lon/lat boxes."""

    values: np.ndarray
    transform: Affine
    channel: tuple[slice, slice]
    pit: tuple[slice, slice]

    def lonlat_box(self, cells: tuple[slice, slice]) -> Any:
        rows, cols = cells
        x0, y0 = self.transform @ (cols.start, rows.start)
        x1, y1 = self.transform @ (cols.stop, rows.stop)
        to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
        lon0, lat0 = to_lonlat.transform(x0, y0)
        lon1, lat1 = to_lonlat.transform(x1, y1)
        return box(min(lon0, lon1), min(lat0, lat1), max(lon0, lon1), max(lat0, lat1))


def make_grid() -> Grid:
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    west, south = to_utm.transform(EXTENT[0], EXTENT[1])
    east, north = to_utm.transform(EXTENT[2], EXTENT[3])
    x0, y0 = math.floor(west / CELL) * CELL, math.ceil(north / CELL) * CELL
    width = math.ceil((east - x0) / CELL)
    height = math.ceil((y0 - south) / CELL)
    columns = np.arange(width, dtype=np.float32)
    plane = WEST_Z + (EAST_Z - WEST_Z) * columns / (width - 1)
    values = np.tile(plane, (height, 1)).astype(np.float32)
    middle = height // 2
    channel = (slice(middle - 1, middle + 2), slice(0, width // 2))
    pit = (slice(height * 3 // 4, height * 3 // 4 + 4), slice(width * 3 // 4, width * 3 // 4 + 4))
    values[channel] = LOW_Z
    values[pit] = LOW_Z
    return Grid(values, Affine(CELL, 0.0, x0, 0.0, -CELL, y0), channel, pit)


GRID = make_grid()


def write_tif(path: Path, grid: Grid = GRID, *, tags: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, cols = grid.values.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs=UTM,
        transform=grid.transform,
    ) as dst:  # fmt: skip
        dst.write(grid.values, 1)
        if tags:
            dst.update_tags(**tags)
    return path


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty config file: a developer's own gis.toml stays out of the tests."""
    path = tmp_path_factory.mktemp("config") / "gis.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, config_file: Path, shared_data: Path
) -> Path:
    """The ward layers and the street network of the OSM sample, made once per module."""
    osm = shared_data / "osm" / "hcmc_district3_sample.osm"
    path = tmp_path_factory.mktemp("elevation") / "template.gpkg"
    settings = load_settings({"GIS_CONFIG": str(config_file), "GIS_BASEMAP": "none"})
    edges = streets.edges_frame(streets.read_streets(osm))
    with open_store(str(path)) as store:
        wards.seed_store(store, settings.profile)
        streets.save_streets(store, edges, source=f"OpenStreetMap: {osm.name}", user="test")
    return path


@pytest.fixture(scope="module")
def edges(template: Path) -> gpd.GeoDataFrame:
    """The street segments as the page reads them from the store."""
    with open_store(str(template)) as store:
        return store.read_layer(streets.STREETS_LAYER)


@pytest.fixture
def settings(tmp_path: Path, config_file: Path) -> Settings:
    """The settings the page sees (var_dir in tmp_path)."""
    env = {"GIS_CONFIG": str(config_file), "GIS_VAR_DIR": str(tmp_path / "var"),
           "GIS_DB": str(tmp_path / "ward.gpkg"), "GIS_BASEMAP": "none"}  # fmt: skip
    return load_settings(env)


@pytest.fixture
def dem_file(settings: Settings) -> Path:
    """Where the page keeps the ward's DEM."""
    return dem_path(settings)


@pytest.fixture
def short_http_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "3")
    monkeypatch.setenv("GDAL_HTTP_CONNECTTIMEOUT", "2")
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")


@pytest.fixture
def start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_file: Path, template: Path,
    settings: Settings,
) -> Start:  # fmt: skip
    """Run the app on the elevation page: ``start(lang=, role=, with_streets=, dem=)``;
    ``dem`` is a path already written at the DEM's place, or True to write the test grid."""

    def run(
        *, lang: str = "vi", role: str | None = None, with_streets: bool = True, dem: bool = False
    ) -> AppTest:
        if with_streets:
            shutil.copyfile(template, settings.db_url)
        if dem:
            write_tif(dem_path(settings))
        monkeypatch.setenv("GIS_CONFIG", str(config_file))
        monkeypatch.setenv("GIS_DB", settings.db_url)
        monkeypatch.setenv("GIS_VAR_DIR", str(settings.var_dir))
        monkeypatch.setenv("GIS_BASEMAP", "none")
        for name in ("GIS_LANG", "GIS_WARD", "GIS_ROLE", "GIS_ANONYMOUS_READ"):
            monkeypatch.delenv(name, raising=False)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        _share_components(at)
        sign_in(at, settings.db_url, role or "editor")
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        if lang != "vi":
            at.radio(key="lang").set_value(lang).run()
            assert not at.exception, at.exception
        return at

    return run


# --- helpers ------------------------------------------------------------------------------------


_COMPONENTS: list[Any] = []


def _share_components(at: AppTest) -> None:
    """Scan the installed packages for components once per module, not once per AppTest."""
    if not hasattr(at, "_bidi_component_manager"):
        return
    if not _COMPONENTS:
        from streamlit.components.v2.component_manager import BidiComponentManager

        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        _COMPONENTS.append(manager)
    at._bidi_component_manager = _COMPONENTS[0]


def _texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success",
                 "warning", "error"):  # fmt: skip
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def _metric(at: AppTest, key: str, lang: str = "vi") -> str:
    values = {m.label: m.value for m in at.metric}
    return str(values[t(key, lang)])


def _set(at: AppTest, kind: str, key: str, value: Any) -> AppTest:
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _frame(at: AppTest, column_key: str, lang: str = "vi") -> pd.DataFrame:
    """The dataframe on the page with the column ``t(column_key)``."""
    column = t(column_key, lang)
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _map_text(at: AppTest) -> str:
    """The folium map's HTML and script as the component receives them, ``\\uXXXX`` decoded."""
    (component,) = [
        el
        for el in at.get("component_instance")
        if el.proto.component_name == "streamlit_folium.st_folium"
    ]
    args = json.loads(component.proto.json_args)
    text = "\n".join(str(args[k]) for k in ("header", "html", "script"))
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _stretches(segment_ids: Any, edges: gpd.GeoDataFrame) -> tuple[int, float]:
    """Physical stretches (both directions once) and their length, computed here."""
    rows = edges[edges["segment_id"].isin(set(segment_ids))]
    lengths: dict[tuple[int, int], float] = {}
    for u, v, length in zip(rows["u"], rows["v"], rows["length_m"], strict=True):
        pair = (min(int(u), int(v)), max(int(u), int(v)))
        lengths[pair] = max(lengths.get(pair, 0.0), float(length))
    return len(lengths), sum(lengths.values())


def _area(area_m2: float, lang: str = "vi") -> str:
    return (f"{fmt_num(area_m2 / 1e6, lang, 2)} km²" if area_m2 >= 1e6
            else f"{fmt_num(area_m2 / 1e4, lang, 2)} ha")  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """What geo.raster computes for the test DEM and the sample streets."""

    dem: raster.Dem
    samples: pd.DataFrame
    measure: str

    def low(self, threshold: float) -> pd.DataFrame:
        return raster.low_segments(self.samples, threshold)

    def inundation(self, level: float, connected: bool = True) -> raster.Inundation:
        return raster.inundation(self.dem, level, connected_only=connected,
                                 measure_crs=self.measure)  # fmt: skip

    def flooded(self, edges: gpd.GeoDataFrame, level: float, connected: bool = True) -> Any:
        return raster.flooded_segments(edges, self.dem, self.inundation(level, connected),
                                       measure_crs=self.measure)  # fmt: skip


@pytest.fixture
def expected(edges: gpd.GeoDataFrame, settings: Settings, tmp_path: Path) -> Expected:
    dem = raster.read_dem(write_tif(tmp_path / "expected" / "dem.tif"))
    measure = settings.profile.measure_crs
    return Expected(dem, raster.sample_segments(edges, dem, measure_crs=measure), measure)


# --- without a DEM ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_without_a_dem_the_page_explains_and_offers_upload_and_fetch(
    start: Start, lang: str, dem_file: Path
) -> None:
    at = start(lang=lang)
    assert at.title[0].value == t("el.title", lang)
    assert [i.value for i in at.info] == [t("el.no_dem", lang)]
    assert "EGM2008" in at.info[0].value and "Hòn Dấu" in at.info[0].value
    assert len(at.get("file_uploader")) == 1
    assert at.button(key="el_new_fetch").label == t("el.fetch", lang)
    assert at.button(key="el_new_save").disabled  # nothing uploaded yet
    assert not at.metric and not at.slider  # it stops there
    assert not dem_file.exists()


@pytest.mark.usefixtures("short_http_timeouts")
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_fetching_offline_says_so_and_points_to_the_upload(
    start: Start, monkeypatch: pytest.MonkeyPatch, dem_file: Path, lang: str
) -> None:
    monkeypatch.setattr(raster, "GLO30_URL", UNREACHABLE + "/{name}.tif")
    at = start(lang=lang)
    at.button(key="el_new_fetch").click().run()
    assert not at.exception, at.exception
    (error,) = at.error
    start_of_message = t("el.e.offline", lang, error="\x00").split("\x00")[0]
    assert error.value.startswith(start_of_message)
    assert ("tải lên ở trên" if lang == "vi" else "upload it above") in error.value
    assert f"{UNREACHABLE}/Copernicus_DSM_COG_10_N10_00_E106_00_DEM.tif" in error.value
    assert not dem_file.exists() and not dem_file.parent.exists()
    assert [i.value for i in at.info] == [t("el.no_dem", lang)]  # the choices are still there


def test_a_viewer_may_neither_fetch_nor_remove(
    start: Start, monkeypatch: pytest.MonkeyPatch, dem_file: Path
) -> None:
    monkeypatch.setattr(raster, "GLO30_URL", UNREACHABLE + "/{name}.tif")
    at = start(role="viewer")
    assert t("el.viewer_note", "vi") in _texts(at)
    at.button(key="el_new_fetch").click().run()
    assert [e.value for e in at.error] == [t("el.e.viewer", "vi")]
    assert not dem_file.exists()

    write_tif(dem_file)
    before = dem_file.read_bytes()
    at.run()
    _set(at, "checkbox", "el_remove_sure", True)
    at.button(key="el_remove").click().run()
    assert [e.value for e in at.error] == [t("el.e.viewer", "vi")]
    assert dem_file.read_bytes() == before
    at.button(key="el_replace_fetch").click().run()
    assert [e.value for e in at.error] == [t("el.e.viewer", "vi")]
    assert dem_file.read_bytes() == before


# --- the upload helper ---------------------------------------------------------------------------


def test_an_uploaded_geotiff_becomes_the_wards_dem(settings: Settings, tmp_path: Path) -> None:
    data = write_tif(tmp_path / "upload" / "khao-sat-2024.tif").read_bytes()
    dem = ui_el.store_upload(data, "C:\\fakepath\\..\\khao-sat-2024.tif", settings, "editor")
    assert dem.source == "khao-sat-2024.tif"
    stored = raster.read_dem(dem_path(settings))
    np.testing.assert_array_equal(stored.elevation, GRID.values)
    assert stored.transform == GRID.transform and stored.crs.to_epsg() == 32648
    assert stored.source == "khao-sat-2024.tif"  # kept in the GeoTIFF's tags
    assert not ui_el.is_glo30(stored.source)
    assert ui_el.credit(stored) == "DEM: khao-sat-2024.tif"


def test_replacing_and_removing_the_dem_is_in_the_audit_log(
    settings: Settings, tmp_path: Path
) -> None:
    """The DEM is a file beside the store: the store's audit log records who changed it."""
    data = write_tif(tmp_path / "upload" / "khao-sat-2024.tif").read_bytes()
    with open_store(str(tmp_path / "audit.gpkg")) as store:
        ui_el.store_upload(data, "khao-sat-2024.tif", settings, "editor", store=store, user="lan")
        assert ui_el.remove_dem(settings, "approver", store=store, user="binh")
        assert not ui_el.remove_dem(settings, "approver", store=store, user="binh")  # nothing
        rows = store.audit(action="dem.")
    assert rows[["actor", "role", "action"]].values.tolist() == [
        ["binh", "approver", "dem.remove"], ["lan", "editor", "dem.replace"],
    ]  # fmt: skip
    assert rows["detail"].iloc[1] == {"via": "upload: khao-sat-2024.tif"}


def test_an_uploaded_glo30_tile_keeps_the_copernicus_credit(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_tif(tmp_path / "upload" / GLO30_NAME).read_bytes()
    stored = ui_el.store_upload(data, GLO30_NAME, settings, "approver")
    assert ui_el.is_glo30(stored.source)
    assert raster.GLO30_ATTRIBUTION in ui_el.credit(stored)
    assert {s.id: s.attribution for s in ui_el.specs_for(stored)} == {
        "low_ground": ui_el.credit(stored), "low_streets": ui_el.credit(stored)
    }


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"this is not a raster", "dem.tif", "dem.tif: expected a GeoTIFF"),
        (b"%PDF-1.4\n%%EOF\n", "report.pdf", "report.pdf: expected a GeoTIFF (.tif or .tiff)"),
        (b"", "", "file: expected a GeoTIFF"),
    ],
    ids=["garbage", "pdf", "nameless"],
)
def test_a_file_that_is_not_a_dem_is_refused_and_nothing_written(
    settings: Settings, data: bytes, name: str, message: str
) -> None:
    with pytest.raises(UploadError, match=re.escape(message)):
        ui_el.store_upload(data, name, settings, "editor")
    assert not dem_path(settings).exists()


def test_an_image_is_refused_with_the_reason(settings: Settings, tmp_path: Path) -> None:
    image = tmp_path / "photo.tif"
    with rasterio.open(
        image, "w", driver="GTiff", width=4, height=4, count=3, dtype="uint8", crs=UTM,
        transform=GRID.transform, photometric="RGB",
    ) as dst:  # fmt: skip
        dst.write(np.full((3, 4, 4), 200, dtype=np.uint8))
    with pytest.raises(GISInputError, match="red channel of an image"):
        ui_el.store_upload(image.read_bytes(), image.name, settings, "editor")
    assert not dem_path(settings).exists()


def test_an_upload_over_the_limit_is_refused(
    config_file: Path, tmp_path: Path
) -> None:
    settings = load_settings({"GIS_CONFIG": str(config_file), "GIS_VAR_DIR": str(tmp_path),
                              "GIS_MAX_UPLOAD_MB": "1"})  # fmt: skip
    with pytest.raises(UploadError, match="at most 1 MB"):
        ui_el.store_upload(b"\0" * (1024 * 1024 + 1), "big.tif", settings, "editor")
    assert not dem_path(settings).exists()


def test_a_viewer_may_not_upload(settings: Settings, tmp_path: Path) -> None:
    data = write_tif(tmp_path / "upload" / "dem.tif").read_bytes()
    with pytest.raises(PermissionDeniedError):
        ui_el.store_upload(data, "dem.tif", settings, "viewer")
    with pytest.raises(PermissionDeniedError), open_store(settings.db_url) as store:
        ui_el.fetch_glo30(settings, store, "viewer")
    with pytest.raises(PermissionDeniedError):
        ui_el.remove_dem(settings, "viewer")
    assert not dem_path(settings).exists()


# --- with a DEM and the streets ------------------------------------------------------------------


def test_the_figures_are_those_geo_raster_computes(
    start: Start, edges: gpd.GeoDataFrame, expected: Expected
) -> None:
    at = start(dem=True)
    valid = expected.samples["elev_min"].dropna().to_numpy()
    threshold = round(float(np.percentile(valid, 10)), 1)
    assert at.number_input(key="el_threshold").value == pytest.approx(threshold)
    assert at.slider(key="el_level").value == pytest.approx(threshold)
    assert at.toggle(key="el_connected").value is True
    assert at.slider(key="el_level").min == pytest.approx(LOW_Z)
    assert at.slider(key="el_level").max == pytest.approx(EAST_Z)

    _set(at, "number_input", "el_threshold", 1.0)
    _set(at, "slider", "el_level", 1.0)
    low = expected.low(1.0)
    n_low, low_length = _stretches(low["segment_id"], edges)
    flooded = expected.flooded(edges, 1.0)
    assert n_low > 0 and len(flooded) > 0
    assert _metric(at, "el.m.low") == fmt_num(n_low, "vi")
    assert _metric(at, "el.m.low_length") == f"{fmt_num(low_length, 'vi')} m"
    assert _metric(at, "el.m.area") == _area(expected.inundation(1.0).area_m2)
    assert _metric(at, "el.m.flooded") == fmt_num(_stretches(flooded["segment_id"], edges)[0])

    caption = _texts(at)
    assert t("el.dem.caption", "vi", source="an-khanh.tif",
             cols=fmt_num(GRID.values.shape[1]), rows=fmt_num(GRID.values.shape[0]),
             cell="10,0", low="0,5", high="8,0") in caption  # fmt: skip
    assert t("el.water_edge", "vi") in caption
    assert "DEM: an-khanh.tif" in caption  # the map's sources name the DEM
    assert "© OpenStreetMap contributors" in caption


def test_the_water_level_and_the_connected_switch(
    start: Start, edges: gpd.GeoDataFrame, expected: Expected
) -> None:
    at = start(dem=True)
    _set(at, "slider", "el_level", 1.0)
    channel = expected.inundation(1.0)
    assert _metric(at, "el.m.area") == _area(channel.area_m2)
    # the channel (three rows from the west edge to the middle) floods; the pit stays dry
    rows, cols = GRID.channel
    assert channel.area_m2 == pytest.approx((rows.stop - rows.start) * cols.stop * 100, rel=0.02)

    _set(at, "slider", "el_level", 3.0)
    higher = expected.inundation(3.0)
    assert higher.area_m2 > channel.area_m2
    assert _metric(at, "el.m.area") == _area(higher.area_m2)

    _set(at, "slider", "el_level", 1.0)
    _set(at, "toggle", "el_connected", False)
    everything = expected.inundation(1.0, connected=False)
    assert everything.area_m2 == pytest.approx(channel.area_m2 + 16 * 100, rel=0.02)
    assert _metric(at, "el.m.area") == _area(everything.area_m2)
    text = _map_text(at)  # both shades, with their legend rows
    assert "#9ecae1" in text and "#2166ac" in text
    assert html.escape(t("el.area.enclosed", "vi")) in text or t("el.area.enclosed") in text


def test_the_tables_list_the_segments_over_the_channel(
    start: Start, edges: gpd.GeoDataFrame, expected: Expected
) -> None:
    at = start(dem=True)
    _set(at, "number_input", "el_threshold", 1.0)
    _set(at, "slider", "el_level", 1.0)
    low = _frame(at, "el.col.elev_min")
    listed = set(low[t("el.col.segment", "vi")])
    assert len(listed) == _stretches(expected.low(1.0)["segment_id"], edges)[0]
    assert listed <= set(expected.low(1.0)["segment_id"])
    channel = GRID.lonlat_box(GRID.channel).buffer(1e-4)
    over = edges[edges["segment_id"].isin(listed)]
    assert over.geometry.intersects(channel).all()
    assert (low[t("el.col.elev_min", "vi")] == LOW_Z).all()
    names = set(low[t("el.col.name", "vi")])
    assert names and names <= {*edges["name"].dropna(), t("el.unnamed", "vi")}

    flooded = _frame(at, "el.col.depth")
    ids = set(flooded[t("el.col.segment", "vi")])
    assert ids and ids <= set(expected.flooded(edges, 1.0)["segment_id"])
    assert (flooded[t("el.col.depth", "vi")] == 0.5).all()  # 1.0 m of water over 0.5 m ground
    assert flooded[t("el.col.share", "vi")].between(1, 100).all()
    assert len(at.get("download_button")) == 2

    text = _map_text(at)
    assert t("el.area.connected", "vi") in text
    assert "#e08214" in text and "#253494" in text  # low and flooded streets


def test_the_page_in_english(start: Start) -> None:
    at = start(dem=True, lang="en")
    assert at.title[0].value == t("el.title", "en")
    assert at.slider(key="el_level").label == t("el.level", "en")
    assert {m.label for m in at.metric} == {
        t(k, "en") for k in ("el.m.low", "el.m.low_length", "el.m.area", "el.m.flooded")
    }
    _set(at, "toggle", "el_connected", False)
    assert t("el.col.elev_min", "en") in _frame(at, "el.col.elev_min", "en").columns


def test_a_glo30_dem_is_credited(start: Start, dem_file: Path) -> None:
    write_tif(dem_file, tags={raster.SOURCE_TAG: raster.GLO30_URL.format(name=GLO30_NAME[:-4])})
    at = start()
    text = _texts(at)
    assert t("el.dem.glo30_source", "vi", n=1) in text
    assert t("el.dem.glo30_note", "vi", credit=raster.GLO30_ATTRIBUTION) in text
    assert t("map.sources", "vi", sources="").rstrip(".") in text
    sources = next(c.value for c in at.caption if c.value.startswith("Nguồn dữ liệu"))
    assert raster.GLO30_ATTRIBUTION in sources
    assert raster.GLO30_ATTRIBUTION in _map_text(at)


def test_without_streets_the_flood_map_still_shows(start: Start) -> None:
    at = start(dem=True, with_streets=False)
    assert t("el.no_streets", "vi") in [i.value for i in at.info]
    assert at.button(key="el_streets_fetch")  # the street import panel
    assert _metric(at, "el.m.low") == "–" and _metric(at, "el.m.flooded") == "–"
    _set(at, "slider", "el_level", 1.0)
    assert _metric(at, "el.m.area") != _area(0.0)
    assert "low_ground" in _map_text(at)
    assert not at.dataframe


def test_removing_the_dem_asks_for_confirmation(start: Start, dem_file: Path) -> None:
    at = start(dem=True)
    assert at.button(key="el_remove").disabled
    _set(at, "checkbox", "el_remove_sure", True)
    at.button(key="el_remove").click().run()
    assert not at.exception, at.exception
    assert not dem_file.exists()
    assert t("el.removed", "vi") in [s.value for s in at.success]
    assert [i.value for i in at.info] == [t("el.no_dem", "vi")]


def test_a_replaced_dem_resets_the_controls(start: Start, dem_file: Path) -> None:
    at = start(dem=True)
    _set(at, "slider", "el_level", 7.5)
    higher = Grid(GRID.values + 10.03, GRID.transform, GRID.channel, GRID.pit)
    write_tif(dem_file, higher)
    at.run()
    assert not at.exception, at.exception
    level = at.slider(key="el_level")
    assert level.min == pytest.approx(LOW_Z + 10) and level.max == pytest.approx(EAST_Z + 10.1)
    assert level.min <= level.value <= level.max
    _set(at, "slider", "el_level", LOW_Z + 10)  # below every cell: nothing floods
    assert _metric(at, "el.m.area") == _area(0.0) == "0,00 ha"
    assert _metric(at, "el.m.flooded") == "0"
    assert t("el.flooded.none", "vi") in _texts(at)


def test_a_broken_stored_dem_can_be_replaced(start: Start, dem_file: Path) -> None:
    dem_file.parent.mkdir(parents=True)
    dem_file.write_bytes(b"not a tiff")
    at = start()
    (error,) = at.error
    assert error.value.startswith(t("el.e.stored", "vi", error="\x00").split("\x00")[0])
    assert at.button(key="el_bad_fetch") and at.button(key="el_remove")
