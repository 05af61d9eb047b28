"""The command line, ``python -m geo``, on the real ward data in a fresh store."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Polygon

from geo.cli import main
from geo.config import ROOT
from geo.crs import from_wgs84


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.gpkg"
    monkeypatch.setenv("GIS_DB", str(path))
    monkeypatch.setenv("GIS_ROLE", "admin")  # importing whole layers is an admin's work
    monkeypatch.setenv("GIS_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    return path


def run(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    code = main(["--json", *argv], out=out)
    return code, json.loads(out.getvalue()) if code == 0 else None


def test_wards_lists_the_ward_and_its_neighbours(db: Path) -> None:
    code, rows = run("wards")
    assert code == 0
    names = {row["name"] for row in rows}  # type: ignore[attr-defined]
    assert {"An Khánh", "Bình Trưng", "Thạnh Mỹ Tây"} <= names
    assert len(names) < 30
    code, every = run("wards", "--all")
    assert len(every) == 168  # type: ignore[arg-type]


def test_wards_composition_of_an_khanh(db: Path) -> None:
    code, ward = run("wards", "--ward", "An Khánh")
    assert code == 0
    assert isinstance(ward, dict)
    assert ward["measured_area_km2"] == pytest.approx(18.2, abs=0.1)
    assert ward["area_flag"] is True
    members = {r["old_ward"] for r in ward["composition"] if not r["sliver"]}
    assert members == {"Thủ Thiêm", "An Lợi Đông", "Thảo Điền", "An Khánh", "An Phú"}
    an_phu = [r for r in ward["splits"] if r["old_ward"] == "An Phú"]
    assert sum(r["share"] for r in an_phu) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["thao dien", "ThảoĐiền", "Phường Thảo Điền"])
def test_lookup_by_name(db: Path, name: str) -> None:
    code, results = run("lookup", name)
    assert code == 0
    assert results[0]["old_ward"] == "Thảo Điền"  # type: ignore[index]
    assert results[0]["new_wards"][0][0] == "An Khánh"  # type: ignore[index]


def test_lookup_by_point_latitude_first(db: Path) -> None:
    code, hit = run("lookup", "--point", "10.7725,106.7215")
    assert code == 0
    assert hit == {
        "lon": 106.7215, "lat": 10.7725, "old_ward": "Thủ Thiêm",
        "old_district": "Quận 2", "new_ward": "An Khánh",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["lookup", "xyzzy"], 3, "no old ward named 'xyzzy'"),
        (["lookup"], 2, "expected an old ward's name or --point"),
        (["lookup", "--point", "north"], 2, "--point: expected LAT,LON"),
        (["lookup", "--point", "106.72,10.77"], 2, "looks swapped"),
        (["wards", "--ward", "Atlantis"], 3, "no new ward named 'Atlantis'"),
        (["export", "nope", "x.geojson"], 3, "no layer 'nope'"),
    ],
)
def test_bad_input_gives_a_clear_message_and_exit_code(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    assert main(argv, out=io.StringIO()) == code
    assert message in capsys.readouterr().err


def test_import_then_export_round_trip(db: Path, tmp_path: Path) -> None:
    wards = gpd.read_file(ROOT / "data/wards/hcmc_wards_2025_new.geojson")
    subset = wards[wards["name"].isin(["An Khánh", "Bình Trưng"])][["name", "geometry"]]
    src = tmp_path / "in.gpkg"
    from_wgs84(subset, "EPSG:9210").to_file(src, engine="pyogrio")  # VN-2000 input
    code, report = run("import", str(src), "--layer", "my_wards", "--title", "Thử")
    assert code == 0
    assert report == {"layer": "my_wards", "features": 2, "source_crs": "EPSG:9210",
                      "warnings": []}  # fmt: skip
    out = tmp_path / "out.geojson"
    code, _ = run("export", "my_wards", str(out))
    assert code == 0
    back = gpd.read_file(out).set_index("name").sort_index()
    assert list(back.index) == ["An Khánh", "Bình Trưng"]
    expected = subset.set_index("name").sort_index()
    assert back.geom_equals_exact(expected.geometry, tolerance=1e-7).all()  # ≈1 cm
    code, layers = run("layers")
    assert {row["layer_id"] for row in layers} == {"my_wards", "wards_new", "wards_old"}  # type: ignore[union-attr]


def test_refused_import_leaves_the_store_unchanged(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bowtie = Polygon([(106.72, 10.77), (106.73, 10.78), (106.73, 10.77), (106.72, 10.78)])
    src = tmp_path / "bad.geojson"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[bowtie], crs=4326).to_file(src)
    _, before = run("layers")
    assert main(["import", str(src), "--layer", "wards_new"], out=io.StringIO()) == 2
    assert "Self-intersection" in capsys.readouterr().err
    _, after = run("layers")
    assert after == before
    code, report = run("import", str(src), "--layer", "fixed", "--repair")
    assert code == 0 and report["warnings"]  # type: ignore[index]


def test_python_dash_m_geo_runs(db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "geo", "--json", "lookup", "An Loi Dong"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["new_wards"][0][0] == "An Khánh"


def test_replacing_a_ward_layer_with_bare_boundaries_keeps_the_analysis_working(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's own (or OpenStreetMap's) boundaries carry only a name: that is enough."""
    wards = gpd.read_file(ROOT / "data/wards/hcmc_wards_2025_new.geojson")
    bare = wards[["name", "geometry"]]
    src = tmp_path / "osm_like.geojson"
    bare.to_file(src)
    code, _ = run("import", str(src), "--layer", "wards_new", "--mode", "replace")
    assert code == 0
    code, ward = run("wards", "--ward", "An Khánh")
    assert code == 0
    assert ward["measured_area_km2"] == pytest.approx(18.2, abs=0.1)  # type: ignore[index]
    assert ward["before_merger"] == []  # type: ignore[index]
    nameless = tmp_path / "nameless.geojson"
    wards[["ward_code", "geometry"]].to_file(nameless)
    assert main(["import", str(nameless), "--layer", "wards_new"], out=io.StringIO()) == 2
    assert "needs a 'name' column" in capsys.readouterr().err
