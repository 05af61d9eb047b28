"""``python -m geo parcels ...`` on a fresh store with the real wards and the demo set.

The 300-parcel demo set is made once per module (``parcels demo``) in a GeoPackage; tests that
change it work on their own copy of that file. One test runs the commands on PostGIS.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo import clearance, vnenc
from geo import io as geo_io
from geo.cli import main
from geo.store import open_store

TODAY = "2025-06-01"
LON0, LAT0, CELL = 106.7145, 10.7705, 0.0002  # inside the old ward Thủ Thiêm
OVERRIDE = "Quyết định cưỡng chế số 5/QĐ-UBND đã thi hành"


def clean_env(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """No developer's gis.toml or GIS_* variables: the default ward and role (editor)."""
    config = folder / "none.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIS_CONFIG", str(config))
    monkeypatch.setenv("GIS_VAR_DIR", str(folder))
    for name in ("GIS_DB", "GIS_WARD", "GIS_ROLE", "GIS_LANG"):
        monkeypatch.delenv(name, raising=False)


def cli(db: str, *argv: str) -> tuple[int, Any]:
    """Run ``python -m geo --db DB --json ...``; the exit code and the parsed output."""
    out = io.StringIO()
    code = main(["--db", db, "--json", *argv], out=out)
    return code, json.loads(out.getvalue()) if code == 0 else None


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A GeoPackage with the real wards and the demo set; and what ``parcels demo`` said."""
    folder = tmp_path_factory.mktemp("cli_parcels")
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_env(monkeypatch, folder)
        path = folder / "demo.gpkg"
        code, report = cli(str(path), "parcels", "demo", "--today", TODAY)
        assert code == 0
        yield path, report


@pytest.fixture
def db(demo_db: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the demo store for one test to change."""
    clean_env(monkeypatch, tmp_path)
    copy = tmp_path / "store.gpkg"
    shutil.copy(demo_db[0], copy)
    return str(copy)


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    clean_env(monkeypatch, tmp_path)
    return str(tmp_path / "empty.gpkg")


def parcels_of(db: str, layer: str = clearance.DEMO_LAYER) -> gpd.GeoDataFrame:
    with open_store(db) as store:
        return store.read_layer(layer)


def first_at(db: str, stage: str) -> dict[str, Any]:
    code, rows = cli(db, "parcels", "list", "--stage", stage)
    assert code == 0 and rows, stage
    return dict(rows[0])


# --- demo, list, show, dashboard -------------------------------------------------------------


def test_demo_command_makes_the_labelled_set(demo_db: tuple[Path, Any]) -> None:
    path, report = demo_db
    assert report["layer"] == "parcels_demo"
    assert report["parcels"] == 300
    assert "DỮ LIỆU MẪU" in report["title"]
    parcels = parcels_of(str(path))
    assert len(parcels) == 300
    assert set(parcels["old_ward"]) == {"Thủ Thiêm"}
    with open_store(str(path)) as store:
        assert not store.has_layer(clearance.PARCELS_LAYER)


def test_demo_twice_is_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", db, "parcels", "demo"], out=io.StringIO()) == 2
    assert "remove the demo set before making a new one" in capsys.readouterr().err


def test_list_with_filters_matches_the_store(demo_db: tuple[Path, Any]) -> None:
    db = str(demo_db[0])
    annotated = clearance.annotate(parcels_of(db), date.fromisoformat(TODAY))
    code, rows = cli(db, "parcels", "list", "--today", TODAY)
    assert code == 0
    assert len(rows) == 300
    assert set(rows[0]) == {
        "fid", "key", "holder", "stage", "responsible", "deadline", "overdue",
        "complaint_open", "area_recovered_m2", "version",
    }  # fmt: skip
    by_fid = {row["fid"]: row for row in rows}
    for fid, rec in annotated.iterrows():
        assert by_fid[fid]["key"] == rec["key"]
        assert by_fid[fid]["version"] == rec["_version"]
    filters: list[tuple[list[str], Callable[[pd.DataFrame], pd.Series]]] = [
        (["--stage", "da_ban_giao"], lambda f: f["stage"] == "da_ban_giao"),
        (["--responsible", "Cán bộ mẫu A"], lambda f: f["responsible"] == "Cán bộ mẫu A"),
        (["--overdue"], lambda f: f["any_overdue"]),
        (["--complaint"], lambda f: f["complaint_open"]),
        (["--stage", "kiem_dem", "--overdue"],
         lambda f: (f["stage"] == "kiem_dem") & f["any_overdue"]),
    ]  # fmt: skip
    for argv, wanted in filters:
        code, rows = cli(db, "parcels", "list", "--today", TODAY, *argv)
        assert code == 0
        expected = sorted(annotated.index[wanted(annotated)].tolist())
        assert sorted(r["fid"] for r in rows) == expected, argv
        assert 0 < len(rows) < 300, argv
    # a deadline is overdue only once passed: judged long before, nothing is late
    code, rows = cli(db, "parcels", "list", "--today", "2024-01-01", "--overdue")
    assert (code, rows) == (0, [])


def test_show_gives_the_record_version_and_history(demo_db: tuple[Path, Any]) -> None:
    db = str(demo_db[0])
    handed = first_at(db, "da_ban_giao")
    code, shown = cli(db, "parcels", "show", handed["key"])
    assert code == 0
    assert (shown["fid"], shown["version"]) == (handed["fid"], handed["version"])
    assert shown["layer"] == "parcels_demo"
    assert shown["record"]["stage"] == "da_ban_giao"
    assert shown["record"]["paid_amount"] > 0
    history = shown["history"]
    assert [h["version"] for h in history] == list(range(1, shown["version"] + 1))
    stages = [h["changes"]["stage"] for h in history if "stage" in h["changes"]]
    assert stages[0] == "thong_bao" and stages[-1] == "da_ban_giao"
    assert all(h["effective_at"] <= TODAY for h in history)
    assert shown["attachments"] == []
    # the key may be written with leading zeros
    sheet, number = handed["key"].split("/")
    code, again = cli(db, "parcels", "show", f"0{sheet}/00{number}")
    assert again["fid"] == shown["fid"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["parcels", "show", "40/9999"], 3, "no parcel 40/9999"),
        (["parcels", "show", "409999"], 2, "expected 'sheet/parcel'"),
        (["parcels", "list", "--layer", "parcels"], 3, "parcels"),
        (["parcels", "import", "missing.geojson"], 2, "missing.geojson"),
    ],
)
def test_bad_requests_give_a_message_and_exit_code(
    demo_db: tuple[Path, Any], capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
    message: str,
) -> None:  # fmt: skip
    assert main(["--db", str(demo_db[0]), *argv], out=io.StringIO()) == code
    assert message in capsys.readouterr().err


def test_dashboard_figures_match_the_store(demo_db: tuple[Path, Any]) -> None:
    db = str(demo_db[0])
    code, board = cli(db, "parcels", "dashboard", "--today", TODAY)
    assert code == 0
    parcels = parcels_of(db)
    assert (board["layer"], board["demo"], board["parcels"]) == ("parcels_demo", True, 300)
    assert board["handed_over_area_pct"] == round(clearance.handed_over_share(parcels) * 100, 1)
    assert sum(row["parcels"] for row in board["stages"]) == 300
    total = next(row for row in board["money"] if row["stage"] == "total")
    assert total["outstanding"] == total["committed"] - total["paid_amount"]
    overdue = clearance.overdue_by_person(parcels, date.fromisoformat(TODAY))
    assert sum(row["total"] for row in board["overdue_by_person"]) == overdue["total"].sum() > 0


# --- set-stage ---------------------------------------------------------------------------


def test_set_stage_checks_version_rules_and_role(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = first_at(db, "thong_bao")
    key, version = target["key"], target["version"]
    code, moved = cli(
        db, "parcels", "set-stage", key, "kiem_dem", "--expected-version", str(version),
        "--user", "planner_a", "--today", TODAY, "--reason", "đã kiểm đếm xong",
    )  # fmt: skip
    assert code == 0
    assert moved == {"layer": "parcels_demo", "fid": target["fid"], "key": key,
                     "stage": "kiem_dem", "version": version + 1}  # fmt: skip
    capsys.readouterr()

    def refused(*extra: str) -> int:
        return main(["--db", db, "parcels", "set-stage", key, *extra], out=io.StringIO())

    # a stale version: someone saved in between
    assert refused("pa_du_thao", "--expected-version", str(version)) == 5
    assert "planner_a changed it in between" in capsys.readouterr().err
    # a skipped step
    assert refused("da_ban_giao", "--expected-version", str(version + 1)) == 2
    assert "the next steps are: pa_du_thao, kiem_dem_bb, thong_bao" in capsys.readouterr().err
    # a viewer may not move anything
    assert refused("pa_du_thao", "--expected-version", str(version + 1), "--role", "viewer") == 6
    assert "a viewer may not edit" in capsys.readouterr().err
    # an editor may not override; an approver needs a real reason
    assert (
        refused("da_ban_giao", "--expected-version", str(version + 1), "--override", OVERRIDE) == 6
    )
    assert refused(
        "da_ban_giao", "--expected-version", str(version + 1), "--role", "approver",
        "--override", "vì vậy",
    ) == 2  # fmt: skip
    assert "at least 10 characters" in capsys.readouterr().err
    # nothing of that was written
    code, shown = cli(db, "parcels", "show", key)
    assert (shown["version"], shown["record"]["stage"]) == (version + 1, "kiem_dem")
    # the approver overrides, on the record
    code, moved = cli(
        db, "parcels", "set-stage", key, "da_ban_giao", "--expected-version", str(version + 1),
        "--role", "approver", "--override", OVERRIDE, "--user", "chief", "--today", TODAY,
    )  # fmt: skip
    assert code == 0 and moved["stage"] == "da_ban_giao"
    code, shown = cli(db, "parcels", "show", key)
    last = shown["history"][-1]
    assert last["reason"] == f"[override] {OVERRIDE}"
    assert (last["changed_by"], last["changes"]["stage"]) == ("chief", "da_ban_giao")
    assert shown["record"]["stage_date"] == TODAY


def test_set_stage_records_a_payment_with_the_move(db: str) -> None:
    target = first_at(db, "qd_thu_hoi")
    code, _ = cli(
        db, "parcels", "set-stage", target["key"], "da_chi_tra", "--expected-version",
        str(target["version"]),
    )  # fmt: skip
    assert code == 2  # no payment yet
    code, moved = cli(
        db, "parcels", "set-stage", target["key"], "da_chi_tra", "--expected-version",
        str(target["version"]), "--paid-amount", "1.250.000.000", "--paid-date", "30/05/2025",
    )  # fmt: skip
    assert code == 0
    code, shown = cli(db, "parcels", "show", target["key"])
    assert shown["record"]["paid_amount"] == 1_250_000_000
    assert shown["record"]["paid_date"] == "2025-05-30"
    assert shown["version"] == moved["version"] == target["version"] + 1


# --- export ------------------------------------------------------------------------------


def test_export_to_files_that_read_back(db: str, tmp_path: Path) -> None:
    for name in ("parcels.gpkg", "parcels.zip", "parcels.geojson", "parcels.csv"):
        code, report = cli(db, "parcels", "export", str(tmp_path / name))
        assert code == 0, name
        assert report["features"] == 300
        assert Path(report["file"]).is_file()
    back = gpd.read_file(tmp_path / "parcels.gpkg", engine="pyogrio")
    assert len(back) == 300
    assert "_version" not in back.columns
    assert set(back["old_ward"]) == {"Thủ Thiêm"}
    tasks = [json.loads(t) for t in back["tasks"].dropna()]
    assert tasks and all(isinstance(t, list) and t[0]["task"] for t in tasks)
    shp = geo_io.read_vector(tmp_path / "parcels.zip")
    assert shp.n_features == 300
    assert shp.gdf["holder"].str.contains("mẫu").all()
    with zipfile.ZipFile(tmp_path / "parcels.zip") as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".shx", ".dbf", ".prj"}
    csv = pd.read_csv(tmp_path / "parcels.csv")
    assert len(csv) == 300
    code, report = cli(db, "parcels", "export", str(tmp_path / "bao_cao.xlsx"), "--today", TODAY)
    assert code == 0
    assert report["sheets"] == ["stages", "overdue_by_person", "money", "progress", "parcels"]
    book = openpyxl.load_workbook(tmp_path / "bao_cao.xlsx", read_only=True)
    assert book.sheetnames == report["sheets"]
    assert book["parcels"].max_row == 301
    stages = list(book["stages"].iter_rows(values_only=True))
    assert sum(r[stages[0].index("parcels")] for r in stages[1:]) == 300
    book.close()


# --- import ------------------------------------------------------------------------------


def cadastral_file(folder: Path, n: int = 4, *, holder: str = "CHU_SU_DUNG") -> gpd.GeoDataFrame:
    pad = CELL / 10
    return gpd.GeoDataFrame(
        {
            "SO_TO": ["12"] * n,
            "SO_THUA": [f"{i + 1:03d}" for i in range(n)],
            holder: ["Nguyễn Văn Hưởng", "Lê Đức Thọ", "Phạm Thị Hằng", "Võ Văn Tần"][:n],
            "DIEN_TICH": [350.5 + i for i in range(n)],
        },
        geometry=[
            box(LON0 + i * CELL + pad, LAT0 + pad, LON0 + (i + 1) * CELL - pad, LAT0 + CELL - pad)
            for i in range(n)
        ],
        crs=4326,
    )


def test_import_dry_run_then_import_then_again(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = cadastral_file(tmp_path)
    source.loc[3, "geometry"] = Point(106.60, 10.80).buffer(0.0001)  # far outside the ward
    path = tmp_path / "so_dia_chinh.geojson"
    source.to_file(path, driver="GeoJSON", engine="pyogrio")
    code, dry = cli(db, "parcels", "import", str(path), "--dry-run")
    assert code == 0
    assert (dry["dry_run"], dry["layer"], dry["new"], dry["rejected"]) == (True, "parcels", 3, 1)
    assert dry["mapping"] == {"map_sheet": "SO_TO", "parcel_no": "SO_THUA",
                              "holder": "CHU_SU_DUNG", "area_total_m2": "DIEN_TICH"}  # fmt: skip
    assert dry["rejected_rows"][0]["row"] == 4
    assert "outside the ward" in dry["rejected_rows"][0]["reason"]
    with open_store(db) as store:
        assert not store.has_layer(clearance.PARCELS_LAYER)
    code, done = cli(
        db, "parcels", "import", str(path), "--user", "importer", "--licence", "nội bộ"
    )
    assert code == 0
    assert (done["dry_run"], done["new"], done["rejected"]) == (False, 3, 1)
    real = parcels_of(db, clearance.PARCELS_LAYER)
    assert sorted(real["parcel_no"]) == ["1", "2", "3"]
    assert set(real["old_ward"]) == {"Thủ Thiêm"}
    # with real records present, they are what the commands show by default
    code, rows = cli(db, "parcels", "list")
    assert code == 0 and sorted(r["key"] for r in rows) == ["12/1", "12/2", "12/3"]
    code, again = cli(db, "parcels", "import", str(path))
    assert (code, again["new"], again["unchanged"], again["updated"]) == (0, 0, 3, 0)
    # a viewer may not import; a --map without '=' is refused
    capsys.readouterr()
    assert (
        main(["--db", db, "parcels", "import", str(path), "--role", "viewer"], out=io.StringIO())
        == 6
    )
    assert (
        main(["--db", db, "parcels", "import", str(path), "--map", "holder"], out=io.StringIO())
        == 2
    )
    assert "expected FIELD=COLUMN" in capsys.readouterr().err
    assert len(parcels_of(db, clearance.PARCELS_LAYER)) == 3


def test_import_a_vni_shapefile_with_a_mapping_given(db: str, tmp_path: Path) -> None:
    source = cadastral_file(tmp_path, 3, holder="NGUOI_SD")
    for column in ("NGUOI_SD",):
        source[column] = source[column].map(lambda v: vnenc.encode(v, "vni").decode("latin1"))
    folder = tmp_path / "shp"
    folder.mkdir()
    source.to_file(
        folder / "thua.shp", driver="ESRI Shapefile", encoding="latin1", engine="pyogrio"
    )
    (folder / "thua.cpg").unlink(missing_ok=True)
    archive = tmp_path / "thua.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    code, report = cli(
        db, "parcels", "import", str(archive), "--map", "holder=NGUOI_SD", "--encoding", "vni",
    )  # fmt: skip
    assert code == 0
    assert (report["encoding"], report["new"], report["mapping"]["holder"]) == (
        "vni",
        3,
        "NGUOI_SD",
    )
    real = parcels_of(db, clearance.PARCELS_LAYER)
    assert sorted(real["holder"]) == ["Lê Đức Thọ", "Nguyễn Văn Hưởng", "Phạm Thị Hằng"]


def test_demo_remove_in_one_call(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = cli(db, "parcels", "demo", "--remove")
    assert (code, report) == (0, {"removed": 300})
    code, report = cli(db, "parcels", "demo", "--remove")
    assert (code, report) == (0, {"removed": 0})
    capsys.readouterr()
    assert main(["--db", db, "parcels", "list"], out=io.StringIO()) == 2
    assert "no parcel layer yet" in capsys.readouterr().err


def test_commands_on_an_empty_store_say_what_to_do(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["list"], ["dashboard"], ["show", "1/1"], ["export", "x.gpkg"]):
        assert main(["--db", empty_db, "parcels", *argv], out=io.StringIO()) == 2, argv
        assert "import records ('parcels import FILE')" in capsys.readouterr().err


# --- PostGIS -------------------------------------------------------------------------------


@pytest.mark.postgis
def test_parcels_commands_on_postgis(
    pg_database: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    clean_env(monkeypatch, tmp_path)
    url = pg_database()
    code, report = cli(url, "parcels", "demo", "--n", "40", "--today", TODAY)
    assert (code, report["parcels"]) == (0, 40)
    code, rows = cli(url, "parcels", "list", "--today", TODAY)
    assert code == 0 and len(rows) == 40
    target = next(r for r in rows if r["stage"] == "thong_bao")
    argv = ["parcels", "set-stage", target["key"], "kiem_dem", "--expected-version"]
    code, moved = cli(url, *argv, str(target["version"]))
    assert (code, moved["version"]) == (0, target["version"] + 1)
    assert main(["--db", url, *argv, str(target["version"])], out=io.StringIO()) == 5
    path = tmp_path / "thua.geojson"
    cadastral_file(tmp_path, 2).to_file(path, driver="GeoJSON", engine="pyogrio")
    code, done = cli(url, "parcels", "import", str(path))
    assert (code, done["new"]) == (0, 2)
    code, out = cli(url, "parcels", "export", str(tmp_path / "out.gpkg"))
    assert (code, out["layer"], out["features"]) == (0, "parcels", 2)
    code, removed = cli(url, "parcels", "demo", "--remove")
    assert removed == {"removed": 40}
    with open_store(url) as store:
        assert not store.has_layer(clearance.DEMO_LAYER)
        assert len(store.read_layer(clearance.PARCELS_LAYER)) == 2


def test_the_role_comes_from_gis_role_by_default(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = first_at(db, "thong_bao")
    argv = ["parcels", "set-stage", target["key"], "kiem_dem", "--expected-version"]
    monkeypatch.setenv("GIS_ROLE", "viewer")
    assert main(["--db", db, *argv, str(target["version"])], out=io.StringIO()) == 6
    assert "a viewer may not edit" in capsys.readouterr().err
    code, moved = cli(db, *argv, str(target["version"]), "--role", "editor")
    assert (code, moved["stage"]) == (0, "kiem_dem")


def test_import_of_a_file_with_a_point_rejects_that_row(db: str, tmp_path: Path) -> None:
    source = cadastral_file(tmp_path, 3)
    source.loc[2, "geometry"] = Point(LON0 + 0.0005, LAT0 + 0.0005)
    path = tmp_path / "co_diem.geojson"
    source.to_file(path, driver="GeoJSON", engine="pyogrio")
    code, report = cli(db, "parcels", "import", str(path))
    assert (code, report["new"], report["rejected"]) == (0, 2, 1)
