"""Importing cadastral parcel files (``geo.parcel_import``) on real ward boundaries.

Small files are written in ``tmp_path`` the way cadastral offices hand them over: GeoJSON in
WGS 84, GeoPackage and zipped Shapefile in VN-2000 (EPSG:9210), Shapefiles whose DBF text is
in TCVN3, VNI or Windows-1258. Parcels lie inside the old ward Thủ Thiêm (new ward An Khánh).
Tests taking ``store`` run on GeoPackage and PostGIS.

Every bug these tests found is fixed; the tests stay.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo import clearance, io, parcel_import, vnenc, wards
from geo.clearance import DEMO_LAYER, PARCELS_LAYER
from geo.config import WardProfile, load_settings
from geo.crs import from_wgs84
from geo.errors import ConflictError, GISInputError, PermissionDeniedError
from geo.store import Store

MEASURE_CRS = "EPSG:9210"
# The south-west corner of a 220 m square well inside the old ward Thủ Thiêm.
LON0, LAT0, CELL = 106.7145, 10.7705, 0.0002
HOLDERS = ["Nguyễn Văn Hưởng", "Trần Thị Ngọc Lan", "Lê Đức Thọ", "Phạm Thị Hằng",
           "Võ Văn Kiệt", "Đặng Thị Mỹ Dung"]  # fmt: skip
ADDRESSES = ["Phường Thủ Thiêm", "Đường Lương Định Của", "Khu phố 3, Thủ Thiêm",
             "Hẻm 12 Trần Não", "Đường số 9", "Bến Thủ Thiêm"]  # fmt: skip
CADASTRAL_COLUMNS = ["SO_TO", "SO_THUA", "CHU_SU_DUNG", "DIA_CHI", "LOAI_DAT", "DIEN_TICH"]
EXPECTED_MAPPING = {
    "map_sheet": "SO_TO", "parcel_no": "SO_THUA", "holder": "CHU_SU_DUNG",
    "address": "DIA_CHI", "land_type": "LOAI_DAT", "area_total_m2": "DIEN_TICH",
}  # fmt: skip
# dBase field names hold at most 10 characters: the holder column of the Shapefiles.
SHP_HOLDER = "TEN_CHU"


# --- data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profile() -> WardProfile:
    return load_settings({"GIS_WARD": "an-khanh"}).profile


@dataclass(frozen=True)
class Wards:
    old: gpd.GeoDataFrame
    new: gpd.GeoDataFrame
    extent: BaseGeometry


@pytest.fixture(scope="module")
def ward_layers(profile: WardProfile) -> Wards:
    old, new = wards.load_old_wards(profile), wards.load_new_wards(profile)
    extent = parcel_import.ward_extent(new, profile)
    assert extent is not None
    return Wards(old, new, extent)


def square(i: int) -> Polygon:
    """The ``i``-th 18 m square of a 10 × 10 grid inside Thủ Thiêm (EPSG:4326)."""
    col, row = i % 10, (i // 10) % 10
    x, y = LON0 + col * CELL, LAT0 + row * CELL
    pad = CELL / 10
    return box(x + pad, y + pad, x + CELL - pad, y + CELL - pad)


def metric_parcels(n: int) -> list[Polygon]:
    """``n`` parcels drawn in VN-2000 metres inside Thủ Thiêm: 20 × 25 m rectangles (500 m²)
    and, every third one, an L of 20 × 25 m less a 5 × 10 m corner (450 m²)."""
    origin = from_wgs84(gpd.GeoSeries([Point(LON0, LAT0)], crs=4326), MEASURE_CRS).iloc[0]
    out = []
    for i in range(n):
        x, y = origin.x + 10 + (i % 6) * 32, origin.y + 10 + (i // 6) * 32
        if i % 3 == 2:
            out.append(Polygon([(x, y), (x + 20, y), (x + 20, y + 15), (x + 15, y + 15),
                                (x + 15, y + 25), (x, y + 25)]))  # fmt: skip
        else:
            out.append(box(x, y, x + 20, y + 25))
    return out


def cadastre(n: int, *, crs: str = "EPSG:4326", holder: str = "CHU_SU_DUNG") -> gpd.GeoDataFrame:
    """A cadastral extract of ``n`` parcels on map sheet 12, as an office would send it."""
    geoms: Sequence[BaseGeometry] = (
        metric_parcels(n) if crs == MEASURE_CRS else [square(i) for i in range(n)]
    )
    return gpd.GeoDataFrame(
        {
            "SO_TO": ["12"] * n,
            "SO_THUA": [str(i + 1) for i in range(n)],
            holder: [HOLDERS[i % len(HOLDERS)] for i in range(n)],
            "DIA_CHI": [ADDRESSES[i % len(ADDRESSES)] for i in range(n)],
            "LOAI_DAT": ["ODT" if i % 2 else "CLN" for i in range(n)],
            "DIEN_TICH": [round(300.0 + 10.5 * i, 1) for i in range(n)],
        },
        geometry=list(geoms),
        crs=crs,
    )


def write_geojson(path: Path, gdf: gpd.GeoDataFrame) -> Path:
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def write_shapefile(folder: Path, gdf: gpd.GeoDataFrame, encoding: str = "utf-8") -> Path:
    """A zipped Shapefile whose DBF text is in ``encoding``, without a .cpg to give it away."""
    folder.mkdir(parents=True, exist_ok=True)
    out = gdf.copy()
    if encoding != "utf-8":
        for column in out.columns:
            if column != out.geometry.name and out[column].map(lambda v: isinstance(v, str)).any():
                out[column] = out[column].map(
                    lambda v: (
                        vnenc.encode(v, encoding).decode("latin1") if isinstance(v, str) else v
                    )
                )
    out.to_file(
        folder / "thua_dat.shp", driver="ESRI Shapefile", engine="pyogrio",
        encoding="latin1" if encoding != "utf-8" else "UTF-8",
    )  # fmt: skip
    (folder / "thua_dat.cpg").unlink(missing_ok=True)
    assert (folder / "thua_dat.prj").exists()
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, part.name)
    return archive


def same_shape(a: BaseGeometry, b: BaseGeometry) -> bool:
    """The same polygon up to vertex order and 1e-9° (GeoJSON keeps 15 significant digits)."""
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 1e-9))


def plan_for(
    path: Path,
    ward_layers: Wards,
    existing: gpd.GeoDataFrame | None = None,
    *,
    role: str = "editor",
    mapping: dict[str, str] | None = None,
    override_reason: str | None = None,
    **read: Any,
) -> tuple[io.ImportResult, parcel_import.ImportPlan]:
    result = io.read_vector(path, keep_bad_rows=True, **read)
    columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
    plan = parcel_import.build_plan(
        result, mapping or parcel_import.suggest_mapping(columns), existing,
        measure_crs=MEASURE_CRS, old_wards=ward_layers.old, new_wards=ward_layers.new,
        extent=ward_layers.extent, role=role, override_reason=override_reason,
    )  # fmt: skip
    return result, plan


def seeded(store: Store, profile: WardProfile) -> Wards:
    wards.seed_store(store, profile)
    new = store.read_layer(wards.NEW_LAYER)
    extent = parcel_import.ward_extent(new, profile)
    assert extent is not None
    return Wards(store.read_layer(wards.OLD_LAYER), new, extent)


def import_file(
    store: Store, path: Path, layers: Wards, *, role: str = "editor", **read: Any
) -> parcel_import.ImportPlan:
    existing = store.read_layer(PARCELS_LAYER) if store.has_layer(PARCELS_LAYER) else None
    _, plan = plan_for(path, layers, existing, role=role, **read)
    parcel_import.apply_plan(
        store, PARCELS_LAYER, plan, user="importer", source=path.name, licence="nội bộ",
        role=role,
    )  # fmt: skip
    return plan


def stored_by_key(store: Store) -> gpd.GeoDataFrame:
    frame = store.read_layer(PARCELS_LAYER)
    frame["key"] = [
        clearance.parcel_key(s, n)
        for s, n in zip(frame["map_sheet"], frame["parcel_no"], strict=True)
    ]
    return frame.reset_index().set_index("key")


# --- mapping ---------------------------------------------------------------------------------


def test_suggest_mapping_knows_vietnamese_cadastral_columns() -> None:
    assert parcel_import.suggest_mapping([*CADASTRAL_COLUMNS, "GHI_CHU", "OBJECTID"]) == {
        **EXPECTED_MAPPING, "note": "GHI_CHU",
    }  # fmt: skip
    assert parcel_import.suggest_mapping(
        ["Số tờ", "Số thửa", "Tên chủ sử dụng", "Diện tích thu hồi", "Giai đoạn", "Đã chi trả"]
    ) == {
        "map_sheet": "Số tờ", "parcel_no": "Số thửa", "holder": "Tên chủ sử dụng",
        "area_recovered_m2": "Diện tích thu hồi", "stage": "Giai đoạn",
        "paid_amount": "Đã chi trả",
    }  # fmt: skip
    # the record's own names map to themselves
    assert parcel_import.suggest_mapping(["map_sheet", "parcel_no", "decision_no"]) == {
        "map_sheet": "map_sheet", "parcel_no": "parcel_no", "decision_no": "decision_no",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"map_sheet": "SO_TO", "owner": "CHU_SU_DUNG", "parcel_no": "SO_THUA"}, "unknown record"),
        ({"map_sheet": "SO_TO", "parcel_no": "SO_THUA", "holder": "TEN"}, r"no columns \['TEN'\]"),
        ({"map_sheet": "SO_TO", "parcel_no": "SO_TO"}, "mapped to more than one field"),
        ({"map_sheet": "SO_TO", "parcel_no": None}, "expected a column for parcel_no"),
        ({"parcel_no": "SO_THUA", "area_measured_m2": "DIEN_TICH"}, "unknown record fields"),
    ],
)  # fmt: skip
def test_check_mapping_refuses(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(GISInputError, match=message):
        parcel_import.check_mapping(mapping, CADASTRAL_COLUMNS)


def test_the_apps_own_shapefile_export_maps_back(tmp_path: Path) -> None:
    parcels = cadastral_records(3)
    frame = clearance.export_frame(parcels, shapefile=True)
    assert max(len(c) for c in frame.columns) <= 10
    exported = io.write_vector(frame, tmp_path / "parcels.zip")
    result = io.read_vector(exported)
    columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
    mapping = parcel_import.suggest_mapping(columns)
    wanted = set(parcel_import.IMPORTABLE) - {"tasks"}
    assert wanted - set(mapping) == set()
    assert (
        parcel_import.suggest_mapping(["SO_TO", "SO_THUA", "CHU_SU_DUN"])["holder"] == "CHU_SU_DUN"
    )


def cadastral_records(n: int) -> gpd.GeoDataFrame:
    """``n`` complete parcel records (every field set), as the store would hold them."""
    rows = [
        clearance.normalize_record({
            "map_sheet": "12", "parcel_no": str(i + 1), "holder": HOLDERS[i],
            "holder_kind": "ho_gia_dinh", "address": ADDRESSES[i], "land_type": "ODT",
            "area_total_m2": 320.5, "area_recovered_m2": 300.25, "stage": "da_chi_tra",
            "stage_date": "2025-05-02", "notice_date": "2024-09-01", "decision_no": "12/QĐ",
            "decision_date": "2025-03-01", "comp_land": 900_000_000, "comp_assets": 10_000_000,
            "comp_support": 5_000_000, "paid_amount": 915_000_000, "paid_date": "2025-05-02",
            "resettlement": True, "responsible": "Cán bộ An", "task": "Vận động bàn giao",
            "unit": "Tổ công tác 1", "deadline": "2025-06-30", "result": "Đang làm",
            "authority": "UBND phường", "complaint_filed": "2025-01-02",
            "complaint_resolved": "2025-02-02", "complaint_note": "Giá đất", "note": "ghi chú",
        })
        for i in range(n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(
        pd.DataFrame.from_records(rows), geometry=[square(i) for i in range(n)], crs=4326
    )


# --- formats ---------------------------------------------------------------------------------


def test_geojson_in_wgs84_is_measured_and_joined_to_the_wards(
    tmp_path: Path, ward_layers: Wards
) -> None:
    source = cadastre(5)
    result, plan = plan_for(write_geojson(tmp_path / "thua.geojson", source), ward_layers)
    assert result.source_crs == "EPSG:4326"
    assert plan.mapping == EXPECTED_MAPPING
    assert plan.counts == {"new": 5, "updated": 0, "unchanged": 0, "rejected": 0}
    inserts = plan.inserts
    assert inserts["holder"].tolist() == HOLDERS[:5]
    assert inserts["address"].tolist() == ADDRESSES[:5]
    assert set(inserts["old_ward"]) == {"Thủ Thiêm"}
    assert set(inserts["new_ward"]) == {"An Khánh"}
    assert set(inserts["stage"]) == {"thong_bao"}
    assert inserts["area_total_m2"].tolist() == [300.0, 310.5, 321.0, 331.5, 342.0]
    metric = from_wgs84(source[["geometry"]], MEASURE_CRS).area
    np.testing.assert_allclose(inserts["area_measured_m2"], metric, atol=0.06)
    assert plan.preview["action"].tolist() == ["new"] * 5
    assert plan.preview["key"].tolist() == [f"12/{i}" for i in range(1, 6)]


def test_geopackage_in_vn2000_keeps_its_areas(tmp_path: Path, ward_layers: Wards) -> None:
    source = cadastre(6, crs=MEASURE_CRS)
    path = tmp_path / "thua.gpkg"
    source.to_file(path, driver="GPKG", engine="pyogrio")
    result, plan = plan_for(path, ward_layers)
    assert result.source_crs == MEASURE_CRS
    assert plan.counts["new"] == 6
    expected = [500.0, 500.0, 450.0, 500.0, 500.0, 450.0]
    assert source.area.round(6).tolist() == expected
    np.testing.assert_allclose(plan.inserts["area_measured_m2"], expected, atol=0.5)
    assert set(plan.inserts["old_ward"]) == {"Thủ Thiêm"}
    assert plan.inserts.crs.to_epsg() == 4326


def test_zipped_shapefile_in_vn2000_with_a_prj(tmp_path: Path, ward_layers: Wards) -> None:
    source = cadastre(6, crs=MEASURE_CRS, holder=SHP_HOLDER)
    archive = write_shapefile(tmp_path / "thua", source)
    result, plan = plan_for(archive, ward_layers)
    assert result.source_crs == MEASURE_CRS
    assert result.encoding == "utf-8"
    assert plan.mapping["holder"] == SHP_HOLDER
    assert plan.counts["new"] == 6
    np.testing.assert_allclose(
        plan.inserts["area_measured_m2"], [500, 500, 450, 500, 500, 450], atol=0.5
    )
    assert plan.inserts["holder"].tolist() == HOLDERS[:6]


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "cp1258"])
def test_legacy_shapefile_text_is_detected(
    tmp_path: Path, ward_layers: Wards, encoding: str
) -> None:
    source = cadastre(6, crs=MEASURE_CRS, holder=SHP_HOLDER)
    archive = write_shapefile(tmp_path / "thua", source, encoding)
    raw = (tmp_path / "thua" / "thua_dat.dbf").read_bytes()
    assert vnenc.encode("Hưởng", encoding) in raw  # really written in the legacy encoding
    assert "Hưởng".encode() not in raw
    result, plan = plan_for(archive, ward_layers)
    assert result.encoding == encoding
    assert any(vnenc.LABELS[encoding] in w for w in result.warnings), result.warnings
    assert result.gdf[SHP_HOLDER].tolist() == HOLDERS[:6]
    assert result.gdf["DIA_CHI"].tolist() == ADDRESSES[:6]
    assert plan.inserts["holder"].tolist()[0] == "Nguyễn Văn Hưởng"
    assert plan.inserts["address"].tolist()[0] == "Phường Thủ Thiêm"
    # the same file with its encoding chosen by hand
    chosen = io.read_vector(archive, keep_bad_rows=True, encoding=encoding)
    assert chosen.encoding == encoding
    assert chosen.gdf[SHP_HOLDER].tolist() == HOLDERS[:6]
    assert chosen.gdf["DIA_CHI"].tolist() == ADDRESSES[:6]


def test_a_wrong_encoding_chosen_by_hand_garbles_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    archive = write_shapefile(tmp_path / "thua", cadastre(3, holder=SHP_HOLDER), "vni")
    wrong = io.read_vector(archive, keep_bad_rows=True, encoding="tcvn3")
    assert wrong.gdf[SHP_HOLDER].tolist() != HOLDERS[:3]
    with pytest.raises(GISInputError, match="encoding: expected one of"):
        io.read_vector(archive, encoding="latin-9")


# --- rejected rows ---------------------------------------------------------------------------


def bad_rows_file(tmp_path: Path) -> Path:
    """Two good parcels, and one row for each way a row can be bad."""
    bow_tie = Polygon([(LON0 + 0.001, LAT0 + 0.001), (LON0 + 0.0012, LAT0 + 0.0012),
                       (LON0 + 0.0012, LAT0 + 0.001), (LON0 + 0.001, LAT0 + 0.0012)])  # fmt: skip
    far = box(106.6000, 10.8000, 106.6002, 10.8002)  # Tân Bình, 12 km away
    table: list[tuple[Any, ...]] = [  # SO_TO, SO_THUA, DIEN_TICH, DT_THU_HOI, GIAI_DOAN
        ("12", "1", "120,5", "100", "kiem_dem", square(0)),
        (None, "2", "100", None, None, square(1)),
        ("12", "  ", "100", None, None, square(2)),
        ("12", "4", "khoảng 100", None, None, square(3)),
        ("12", "5", "100", "150", None, square(4)),
        ("12", "6", "100", None, "xong rồi", square(5)),
        ("12", "7", "100", None, None, bow_tie),
        ("12", "8", "100", None, None, far),
        ("12", "9", "100", None, None, None),
        ("12", "001", "99", None, None, square(8)),
        ("12", "11", "1.234,5", "1.000,0", "Đã chi trả", square(9)),
        ("12", "12", "1.234,5", "1.000,0", "Kiểm đếm", square(10)),
        ("12", "13", "12.345", "100", None, square(11)),
    ]
    columns = ["SO_TO", "SO_THUA", "DIEN_TICH", "DT_THU_HOI", "GIAI_DOAN"]
    frame = pd.DataFrame([row[:5] for row in table], columns=columns)
    gdf = gpd.GeoDataFrame(frame, geometry=[row[5] for row in table], crs=4326)
    return write_geojson(tmp_path / "loi.geojson", gdf)


BAD_REASONS = {
    2: "map_sheet: required, got nothing",
    3: "parcel_no: required, got nothing",
    4: "area_total_m2: expected a number, got 'khoảng 100'",
    5: "area_recovered_m2: expected at most the parcel's area 100.0 m², got 150.0 m²",
    6: "stage: expected a stage",
    7: "invalid geometry: Self-intersection",
    8: "outside the ward",
    9: "no geometry (missing or empty)",
    10: "duplicate of row 1 (same sheet and parcel 12/1)",
    11: "da_chi_tra needs a payment record",  # a new record too must have what its stage needs
    13: "'12.345' is ambiguous",  # twelve thousand or twelve point three: refused, not guessed
}


def test_bad_rows_are_rejected_each_with_its_reason(tmp_path: Path, ward_layers: Wards) -> None:
    _, plan = plan_for(bad_rows_file(tmp_path), ward_layers)
    rejected = plan.rejected.set_index("row")
    assert sorted(rejected.index) == sorted(BAD_REASONS)
    for row, reason in BAD_REASONS.items():
        assert reason in str(rejected.loc[row, "reason"]), (row, rejected.loc[row, "reason"])
    assert (rejected.loc[4, "map_sheet"], rejected.loc[4, "parcel_no"]) == ("12", "4")
    # the good rows of the same file still go in, with their values converted
    assert plan.counts == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 11}
    good = plan.inserts.set_index("parcel_no")
    assert good.loc["1", "area_total_m2"] == 120.5
    assert good.loc["12", ["area_total_m2", "area_recovered_m2"]].tolist() == [1234.5, 1000.0]
    assert good.loc["12", "stage"] == "kiem_dem"  # a new parcel may start at any stage
    assert plan.preview["row"].tolist() == [1, 12]


def test_a_bow_tie_is_imported_when_repair_is_asked(tmp_path: Path, ward_layers: Wards) -> None:
    _, plan = plan_for(bad_rows_file(tmp_path), ward_layers, repair=True)
    assert 7 not in set(plan.rejected["row"])
    repaired = plan.inserts.set_index("parcel_no").loc["7"]
    assert repaired.geometry.is_valid
    assert repaired.geometry.geom_type == "MultiPolygon"


def test_a_point_among_polygons_is_rejected_not_fatal(tmp_path: Path, ward_layers: Wards) -> None:
    rows = [
        {"SO_TO": "12", "SO_THUA": "1", "geometry": square(0)},
        {"SO_TO": "12", "SO_THUA": "2", "geometry": Point(LON0 + 0.0005, LAT0 + 0.0005)},
    ]
    path = write_geojson(tmp_path / "diem.geojson", gpd.GeoDataFrame(rows, crs=4326))
    _, plan = plan_for(path, ward_layers)
    assert plan.rejected["reason"].tolist() == ["expected a polygon, got a Point"]
    assert plan.counts["new"] == 1


def test_a_point_row_is_rejected_without_ward_layers(tmp_path: Path) -> None:
    rows = [
        {"SO_TO": "12", "SO_THUA": "1", "geometry": square(0)},
        {"SO_TO": "12", "SO_THUA": "2", "geometry": Point(LON0 + 0.0005, LAT0 + 0.0005)},
    ]
    path = write_geojson(tmp_path / "diem.geojson", gpd.GeoDataFrame(rows, crs=4326))
    result = io.read_vector(path, keep_bad_rows=True)
    plan = parcel_import.build_plan(
        result, {"map_sheet": "SO_TO", "parcel_no": "SO_THUA"}, None, measure_crs=MEASURE_CRS
    )
    assert plan.rejected.to_dict("records") == [
        {"row": 2, "map_sheet": "12", "parcel_no": "2", "reason": "expected a polygon, got a Point"}
    ]
    assert plan.counts["new"] == 1


def test_ward_extent_is_the_ward_with_a_margin(ward_layers: Wards, profile: WardProfile) -> None:
    extent = ward_layers.extent
    an_khanh = ward_layers.new.loc[ward_layers.new["name"] == "An Khánh"].to_crs(4326)
    assert extent.contains(an_khanh.geometry.union_all())
    assert extent.contains(Point(106.7155, 10.7715))
    assert not extent.contains(Point(106.6001, 10.8001))
    grown = from_wgs84(gpd.GeoSeries([extent], crs=4326), MEASURE_CRS).area.iloc[0]
    ward = from_wgs84(an_khanh[["geometry"]], MEASURE_CRS).area.sum()
    assert grown > ward + 2000 * 4 * 3000  # at least a 2 km band around an 18 km² ward
    assert parcel_import.ward_extent(ward_layers.new.iloc[0:0], profile) is None


# --- into the store: upsert by sheet and parcel ----------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    path = write_geojson(tmp_path / "thua.geojson", cadastre(6))
    first = import_file(store, path, layers)
    assert first.counts["new"] == 6
    history = store.history(PARCELS_LAYER)
    assert history["action"].tolist() == ["insert"] * 6
    assert set(history["reason"]) == {"import: thua.geojson"}
    info = store.layer_info(PARCELS_LAYER)
    assert (info.source, info.licence, info.meta["demo"]) == ("thua.geojson", "nội bộ", False)
    second = import_file(store, path, layers)
    assert second.counts == {"new": 0, "updated": 0, "unchanged": 6, "rejected": 0}
    assert set(second.preview["action"]) == {"unchanged"}
    stored = store.read_layer(PARCELS_LAYER)
    assert len(stored) == 6
    assert set(stored["_version"]) == {1}
    assert len(store.history(PARCELS_LAYER)) == 6
    assert sorted(stored["parcel_no"].astype(int)) == [1, 2, 3, 4, 5, 6]


def test_a_changed_attribute_updates_exactly_those_parcels(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(6)
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    before = stored_by_key(store)
    changed = source.copy()
    changed.loc[1, "CHU_SU_DUNG"] = "Bà Nguyễn Thị Sáu"
    changed.loc[4, "DIEN_TICH"] = 999.9
    changed["SO_THUA"] = ["001", "002", "003", "004", "005", "006"]  # written with zeros
    changed["SO_TO"] = "012"
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", changed), layers)
    assert plan.counts == {"new": 0, "updated": 2, "unchanged": 4, "rejected": 0}
    after = stored_by_key(store)
    assert len(after) == 6
    assert after.loc["12/2", "holder"] == "Bà Nguyễn Thị Sáu"
    assert after.loc["12/5", "area_total_m2"] == 999.9
    assert after["_version"].to_dict() == {
        k: 2 if k in ("12/2", "12/5") else 1 for k in after.index
    }
    assert after.loc["12/2", "fid"] == before.loc["12/2", "fid"]
    updates = store.history(PARCELS_LAYER)
    updates = updates[updates["action"] == "update"].sort_values("fid")
    assert updates["fid"].tolist() == sorted([before.loc["12/2", "fid"], before.loc["12/5", "fid"]])
    assert updates["after"].tolist() == [{"holder": "Bà Nguyễn Thị Sáu"}, {"area_total_m2": 999.9}]
    assert updates["before"].tolist() == [{"holder": "Trần Thị Ngọc Lan"}, {"area_total_m2": 342.0}]
    assert set(updates["reason"]) == {"import: v2.geojson"}


def test_a_moved_boundary_updates_the_geometry_and_its_measure(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(3)
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    moved = source.copy()
    moved.loc[0, "geometry"] = box(LON0 + CELL / 10, LAT0 + CELL / 10, LON0 + CELL, LAT0 + CELL)
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", moved), layers)
    assert plan.counts == {"new": 0, "updated": 1, "unchanged": 2, "rejected": 0}
    assert "geometry" in str(plan.preview.loc[0, "changes"])
    after = stored_by_key(store)
    assert same_shape(after.loc["12/1"].geometry, moved.geometry.iloc[0])
    metric = from_wgs84(moved[["geometry"]].iloc[[0]], MEASURE_CRS).area.iloc[0]
    assert after.loc["12/1", "area_measured_m2"] == pytest.approx(metric, abs=0.06)


def test_the_same_parcels_from_a_shapefile_are_unchanged(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(4, holder=SHP_HOLDER)
    import_file(store, write_geojson(tmp_path / "thua.geojson", source), layers)
    plan = import_file(store, write_shapefile(tmp_path / "thua", source), layers)
    assert plan.counts == {"new": 0, "updated": 0, "unchanged": 4, "rejected": 0}
    assert len(store.history(PARCELS_LAYER)) == 4


def test_a_stage_jump_in_the_file_is_rejected_for_an_editor(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(3)
    source["GIAI_DOAN"] = ["Thông báo thu hồi"] * 3
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    source["GIAI_DOAN"] = ["Đã bàn giao mặt bằng", "Kiểm đếm", "thong_bao"]
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", source), layers)
    assert plan.counts == {"new": 0, "updated": 1, "unchanged": 1, "rejected": 1}
    assert plan.rejected["row"].tolist() == [1]
    after = stored_by_key(store)
    assert after["stage"].to_dict() == {
        "12/1": "thong_bao",
        "12/2": "kiem_dem",
        "12/3": "thong_bao",
    }
    assert after.loc["12/2", "stage_date"] is not None
    moved = store.history(PARCELS_LAYER)
    moved = moved[moved["action"] == "update"]
    assert moved["after"].map(lambda a: a["stage"]).tolist() == ["kiem_dem"]
    assert moved["reason"].tolist() == ["import: v2.geojson"]


def test_a_rejected_stage_jump_says_which_move_is_wrong(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(1)
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    source["GIAI_DOAN"] = ["da_ban_giao"]
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", source), layers)
    (reason,) = plan.rejected["reason"].tolist()
    assert "thong_bao → da_ban_giao is not a step of the process" in reason


def test_an_approver_import_may_jump_a_stage_as_a_recorded_override(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(2)
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    source["GIAI_DOAN"] = ["da_ban_giao", "kiem_dem"]
    path = write_geojson(tmp_path / "v2.geojson", source)
    refused = import_file(store, path, layers, role="approver")  # no reason: like anyone's
    assert refused.counts["updated"] == 1 and "override reason" in refused.rejected["reason"][0]
    why = "Bàn giao theo biên bản ngày 20/11/2025"
    plan = import_file(store, path, layers, role="approver", override_reason=why)
    assert plan.counts["updated"] == 1
    assert plan.preview["action"].tolist() == ["update (override)", "unchanged"]
    history = store.history(PARCELS_LAYER)
    reasons = history.loc[history["action"] == "update", "reason"].tolist()
    assert reasons == ["import: v2.geojson", f"[override] {why}"]
    assert stored_by_key(store).loc["12/1", "stage"] == "da_ban_giao"


def test_a_new_parcel_with_a_blank_stage_cell_starts_at_the_notice(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(2)
    source["GIAI_DOAN"] = ["kiem_dem", None]
    plan = import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    assert plan.preview["stage"].tolist() == ["kiem_dem", "thong_bao"]
    assert stored_by_key(store)["stage"].tolist() == ["kiem_dem", "thong_bao"]


def test_a_blank_stage_cell_does_not_erase_a_stored_stage(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(2)
    source["GIAI_DOAN"] = ["kiem_dem", "thong_bao"]
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    source["GIAI_DOAN"] = [None, None]
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", source), layers)
    assert stored_by_key(store)["stage"].tolist() == ["kiem_dem", "thong_bao"]
    assert plan.counts["updated"] == 0


def test_an_edit_between_plan_and_apply_is_a_conflict_and_nothing_is_written(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(3)
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    changed = pd.concat([source, cadastre(5).iloc[[4]]], ignore_index=True)  # one new parcel
    changed.loc[0, "CHU_SU_DUNG"] = "Ông Lý Văn Bảy"
    _, plan = plan_for(
        write_geojson(tmp_path / "v2.geojson", gpd.GeoDataFrame(changed, crs=4326)), layers,
        store.read_layer(PARCELS_LAYER),
    )  # fmt: skip
    assert plan.counts == {"new": 1, "updated": 1, "unchanged": 2, "rejected": 0}
    fid = stored_by_key(store).loc["12/1", "fid"]
    clearance.edit_parcel(
        store, PARCELS_LAYER, int(fid), {"note": "đã hẹn làm việc"}, expected_version=1,
        user="planner", role="editor",
    )  # fmt: skip
    history_before = store.history(PARCELS_LAYER)
    with pytest.raises(ConflictError, match="planner changed it in between"):
        parcel_import.apply_plan(store, PARCELS_LAYER, plan, user="importer", source="v2.geojson")
    after = stored_by_key(store)
    assert len(after) == 3  # the new parcel was not written either
    assert after.loc["12/1", "holder"] == HOLDERS[0]
    assert after.loc["12/1", "note"] == "đã hẹn làm việc"
    pd.testing.assert_frame_equal(store.history(PARCELS_LAYER), history_before)


def test_apply_plan_refuses_the_demo_layer_a_viewer_and_no_source(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    _, plan = plan_for(write_geojson(tmp_path / "v1.geojson", cadastre(2)), layers)
    with pytest.raises(GISInputError, match="never into the demo set"):
        parcel_import.apply_plan(store, DEMO_LAYER, plan, user="importer", source="x")
    with pytest.raises(PermissionDeniedError, match="a viewer may not import"):
        parcel_import.apply_plan(
            store, PARCELS_LAYER, plan, user="guest", source="x", role="viewer"
        )
    with pytest.raises(GISInputError, match="source: expected where the records come from"):
        parcel_import.apply_plan(store, PARCELS_LAYER, plan, user="importer", source="  ")
    with pytest.raises(GISInputError, match="layer_id: expected one of"):
        parcel_import.apply_plan(store, wards.NEW_LAYER, plan, user="importer", source="x")
    assert not store.has_layer(PARCELS_LAYER)
    assert not store.has_layer(DEMO_LAYER)


def test_an_import_into_an_existing_layer_keeps_its_records_readable(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    import_file(store, write_geojson(tmp_path / "v1.geojson", cadastre(2)), layers)
    import_file(store, write_geojson(tmp_path / "v2.geojson", cadastre(4)), layers)
    stored = store.read_layer(PARCELS_LAYER)
    assert len(stored) == 4
    annotated = clearance.annotate(stored, pd.Timestamp("2025-06-01").date())
    assert set(annotated["stage"]) == {"thong_bao"}
    assert sorted(annotated["key"]) == ["12/1", "12/2", "12/3", "12/4"]
    assert all(same_shape(g, square(i)) for i, g in enumerate(stored.geometry))


# --- found in review ------------------------------------------------------------------------


def test_column_names_with_spaces_and_accents_are_read(tmp_path: Path, ward_layers: Wards) -> None:
    source = cadastre(2).rename(
        columns={"SO_TO": "Số tờ", "SO_THUA": "Số thửa", "CHU_SU_DUNG": "Chủ sử dụng",
                 "DIEN_TICH": "Diện tích (m2)"}
    )  # fmt: skip
    mapping = {"map_sheet": "Số tờ", "parcel_no": "Số thửa", "holder": "Chủ sử dụng",
               "area_total_m2": "Diện tích (m2)"}  # fmt: skip
    _, plan = plan_for(write_geojson(tmp_path / "co-dau.geojson", source), ward_layers,
                       mapping=mapping)  # fmt: skip
    assert plan.counts["new"] == 2 and plan.rejected.empty
    assert plan.inserts["holder"].tolist() == HOLDERS[:2]
    assert plan.inserts["area_total_m2"].tolist() == [300.0, 310.5]


def test_an_import_cannot_erase_the_payment_of_a_paid_parcel(
    store: Store, profile: WardProfile, tmp_path: Path
) -> None:
    layers = seeded(store, profile)
    source = cadastre(1)
    source["GIAI_DOAN"] = ["da_chi_tra"]
    source["DA_CHI_TRA"] = [900_000_000]
    source["NGAY_CHI_TRA"] = ["2025-05-02"]
    import_file(store, write_geojson(tmp_path / "v1.geojson", source), layers)
    source["DA_CHI_TRA"] = [0]
    plan = import_file(store, write_geojson(tmp_path / "v2.geojson", source), layers)
    assert plan.counts["updated"] == 0
    assert "needs a payment record" in plan.rejected["reason"][0]
    assert stored_by_key(store).loc["12/1", "paid_amount"] == 900_000_000
