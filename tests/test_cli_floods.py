"""``python -m geo streets|flood|route ...`` on a store holding the real OSM sample (central
HCMC around Nam Kỳ Khởi Nghĩa).

The sample is imported once per module (``streets import``) into a GeoPackage; each test works
on its own copy. One test runs the key commands on PostGIS. Reports meant to be live "now" are
observed an hour ago; reports for time travel are observed at a fixed past moment and read
back with ``--when``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import osmium
import osmnx as ox
import pytest
import requests
from lxml import etree
from shapely.geometry.base import BaseGeometry

from geo import cap, floods, streets
from geo.cli import main
from geo.routing import StreetGraph
from geo.store import open_store

NKKN = "Nam Kỳ Khởi Nghĩa"
PROGRAMME = ["Đường số 12", "Quốc Hương", "Nguyễn Văn Hưởng"]
T0 = "2026-10-14T17:00:00+07:00"
"""A past evening rain, for reports read back with --when."""
# Nam Kỳ Khởi Nghĩa's one-way carriageway from the Trần Quốc Toản crossing to the Điện Biên
# Phủ crossing (OSM node ids); the Võ Thị Sáu and Tú Xương crossings lie between.
TRAN_QUOC_TOAN, VO_THI_SAU, TU_XUONG, DIEN_BIEN_PHU = 2008273910, 2036141704, 2036141730, 411926532
RUN_SEGMENTS = [
    "2008273910-2036141676-0", "2036141676-12181658671-0", "12181658671-2036141704-0",
    "2036141704-12181658670-0", "12181658670-2036141730-0", "2036141730-411926532-0",
]  # fmt: skip
VST_TX = "12181658670-2036141730-0"  # 105.7 m between Võ Thị Sáu and Tú Xương
CAP_NS = {"cap": cap.CAP_NS}
SEGMENTS, LENGTH_KM = 999, 59.24
"""The sample's drivable segments; 999 and 59.24 km once the ways without a highway tag
(ward boundaries) are left out, see test_floods.test_only_highways_are_street_segments."""


def clean_env(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """No developer's gis.toml or GIS_* variables: the default ward and role (editor)."""
    config = folder / "none.toml"
    config.write_text("", encoding="utf-8")
    for name in list(os.environ):
        if name.startswith("GIS_") and not name.startswith("GIS_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIS_CONFIG", str(config))
    monkeypatch.setenv("GIS_VAR_DIR", str(folder))


def cli(db: str, *argv: str) -> tuple[int, Any]:
    """Run ``python -m geo --db DB ... --json`` (--json after the command, as scripts write
    it); the exit code and the parsed output."""
    out = io.StringIO()
    code = main(["--db", db, *argv, "--json"], out=out)
    return code, json.loads(out.getvalue()) if code == 0 else None


def latlon(graph: StreetGraph, node: int) -> str:
    lon, lat = graph.coords[node]
    return f"{lat},{lon}"


def hours_ago(hours: float) -> str:
    return floods.iso(floods.now_local() - timedelta(hours=hours))


@pytest.fixture(scope="module")
def sample(shared_data: Path) -> Path:
    path = shared_data / "osm" / "hcmc_district3_sample.osm"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def streets_db(
    sample: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Any]]:
    """A GeoPackage with the wards and the sample's streets; what ``streets import`` said."""
    folder = tmp_path_factory.mktemp("cli_floods")
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_env(monkeypatch, folder)
        path = folder / "streets.gpkg"
        code, report = cli(str(path), "streets", "import", str(sample))
        assert code == 0
        yield path, report


@pytest.fixture(scope="module")
def graph(streets_db: tuple[Path, Any]) -> StreetGraph:
    with open_store(str(streets_db[0])) as store:
        return StreetGraph(store.read_layer(streets.STREETS_LAYER).drop(columns="_version"))


@pytest.fixture
def db(streets_db: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the store with the streets, for one test to change."""
    clean_env(monkeypatch, tmp_path)
    copy = tmp_path / "store.gpkg"
    shutil.copy(streets_db[0], copy)
    return str(copy)


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    clean_env(monkeypatch, tmp_path)
    return str(tmp_path / "empty.gpkg")


def at_segment(graph: StreetGraph, segment: str) -> str:
    """LAT,LON of a segment's middle."""
    line = graph.edges.set_index("segment_id").loc[segment, "geometry"]
    middle = gpd.GeoSeries([line], crs=4326).to_crs("EPSG:9210").interpolate(0.5, normalized=True)
    point = middle.to_crs(4326).iloc[0]
    return f"{point.y},{point.x}"


def report_closed(db: str, graph: StreetGraph, *extra: str) -> dict[str, Any]:
    """Close NKKN between Võ Thị Sáu and Tú Xương (observed an hour ago unless told)."""
    argv = ["flood", "report", "--at", at_segment(graph, VST_TX), "--depth", "40", "--source",
            "camera", "--effect", "closed", *extra]  # fmt: skip
    if "--observed" not in extra:
        argv += ["--observed", hours_ago(1)]
    code, made = cli(db, *argv)
    assert code == 0
    return dict(made)


# --- streets ----------------------------------------------------------------------------------
def test_streets_import_and_info(streets_db: tuple[Path, Any]) -> None:
    path, report = streets_db
    assert report == {"layer": "streets", "segments": SEGMENTS, "length_km": LENGTH_KM,
                      "reports_resnapped": []}
    code, info = cli(str(path), "streets", "info")
    assert code == 0
    assert info["segments"] == SEGMENTS
    assert info["length_km"] == LENGTH_KM
    assert info["source"] == "OpenStreetMap: hcmc_district3_sample.osm"
    assert info["programme"] == [
        {"street": name, "segments": 0, "designated": False} for name in PROGRAMME
    ]
    with open_store(str(path)) as store:
        assert store.layer_info(streets.STREETS_LAYER).licence == "ODbL 1.0"


def test_streets_import_of_a_pbf(sample: Path, empty_db: str, tmp_path: Path) -> None:
    pbf = tmp_path / "q3.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(sample)):
            writer.add(obj)
    code, report = cli(empty_db, "streets", "import", str(pbf))
    assert (code, report["segments"]) == (0, SEGMENTS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("q3.geojson", b"{}", "expected an OpenStreetMap .osm or .osm.pbf file"),
        ("q3.osm.pbf", b"broken", "expected an OpenStreetMap PBF file"),
        ("q3.osm", b"<html></html>", "expected an <osm> document"),
    ],
)
def test_streets_import_refuses_a_bad_file(
    empty_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
    content: bytes, message: str,
) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["--db", empty_db, "streets", "import", str(path)], out=io.StringIO()) == 2
    assert message in capsys.readouterr().err
    with open_store(empty_db) as store:
        assert not store.has_layer(streets.STREETS_LAYER)


def test_a_viewer_cannot_import_streets(
    empty_db: str, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--db", empty_db, "streets", "import", str(sample), "--role", "viewer"]
    assert main(argv, out=io.StringIO()) == 6
    assert "a viewer may not import streets" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["streets", "info"], ["flood", "state"], ["route", "10.785,106.689", "10.783,106.690"],
     ["flood", "report", "--at", "10.785,106.689", "--source", "camera"]],
)  # fmt: skip
def test_without_streets_the_commands_say_how_to_get_them(
    empty_db: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(["--db", empty_db, *argv], out=io.StringIO()) == 3
    assert "python -m geo streets import FILE.osm" in capsys.readouterr().err


def test_streets_fetch_offline_exits_7(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    asked: list[BaseGeometry] = []

    def offline(polygon: BaseGeometry, **kwargs: Any) -> nx.MultiDiGraph:
        asked.append(polygon)
        raise requests.ConnectionError("Failed to resolve 'overpass-api.de'")

    monkeypatch.setattr(ox, "graph_from_polygon", offline)
    use_cache = ox.settings.use_cache
    assert main(["--db", db, "streets", "fetch"], out=io.StringIO()) == 7
    err = capsys.readouterr().err
    assert "OpenStreetMap could not be reached" in err
    assert "offline" in err
    assert "Import an .osm or .osm.pbf extract" in err
    assert len(asked) == 1
    assert 106.6 < asked[0].centroid.x < 106.8 and 10.7 < asked[0].centroid.y < 10.9  # An Khánh
    assert not (work / "cache").exists()
    assert list(work.iterdir()) == []
    assert ox.settings.use_cache == use_cache
    code, info = cli(db, "streets", "info")
    assert (code, info["segments"]) == (0, SEGMENTS)  # the stored network is untouched


# --- reports ----------------------------------------------------------------------------------
def test_report_list_state_end(db: str, graph: StreetGraph) -> None:
    made = report_closed(db, graph)
    assert made["fid"] == 1
    assert made["segments"] == [VST_TX]
    assert made["street"] == NKKN
    assert made["depth_cm"] == 40
    assert made["depth_class"] == "10-70"
    assert made["snapped_m"] < 1
    code, rows = cli(db, "flood", "list")
    assert code == 0
    assert [(r["fid"], r["status"], r["street"], r["depth_cm"], r["effect"], r["source"],
             r["confirmed"], r["_version"]) for r in rows] == [
        (1, "live", NKKN, 40.0, "closed", "camera", False, 1)]  # fmt: skip
    code, state = cli(db, "flood", "state")
    assert code == 0
    assert [(s["segment_id"], s["depth_cm"], s["depth_class"], s["closed"], s["reports"])
            for s in state] == [(VST_TX, 40.0, "10-70", True, 1)]  # fmt: skip
    code, ended = cli(db, "flood", "end", "1", "--expected-version", "1")
    assert (code, ended) == (0, {"fid": 1, "ended": True})
    assert cli(db, "flood", "state") == (0, [])
    code, rows = cli(db, "flood", "list")
    assert [r["status"] for r in rows] == ["ended"]
    assert cli(db, "flood", "list", "--live") == (0, [])


def test_stale_versions_and_roles(
    db: str, graph: StreetGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    at = at_segment(graph, VST_TX)
    viewer = ["--db", db, "flood", "report", "--at", at, "--source", "camera", "--role", "viewer"]
    assert main(viewer, out=io.StringIO()) == 6
    assert "a viewer may not mark floods" in capsys.readouterr().err
    report_closed(db, graph)
    confirm = ["--db", db, "flood", "confirm", "1", "--expected-version", "1"]
    assert main([*confirm, "--role", "editor"], out=io.StringIO()) == 6
    assert "editor may not confirm" in capsys.readouterr().err
    code, done = cli(db, "flood", "confirm", "1", "--expected-version", "1", "--role",
                     "approver", "--user", "binh")  # fmt: skip
    assert (code, done) == (0, {"fid": 1, "confirmed": True})
    end = ["--db", db, "flood", "end", "1", "--expected-version", "1"]
    assert main(end, out=io.StringIO()) == 5
    assert capsys.readouterr().err.startswith("error: ")
    code, rows = cli(db, "flood", "list")
    assert (rows[0]["status"], rows[0]["confirmed"], rows[0]["_version"]) == ("live", True, 2)
    assert cli(db, "flood", "end", "1", "--expected-version", "2")[0] == 0


def test_the_role_comes_from_gis_role(
    db: str, graph: StreetGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_closed(db, graph)
    monkeypatch.setenv("GIS_ROLE", "approver")
    code, done = cli(db, "flood", "confirm", "1", "--expected-version", "1")
    assert (code, done) == (0, {"fid": 1, "confirmed": True})


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--depth", "abc"], 2, "depth_cm: expected a number"),
        (["--depth", "600"], 2, "depth_cm: expected 0 to 500"),
        (["--observed", "2999-01-01T00:00+07:00"], 2, "expected a time not in the future"),
        (["--observed", T0, "--until", "2026-10-14T16:00+07:00"], 2, "expected after"),
        (["--supersedes", "9", "--expected-version", "1"], 3, "no feature 9"),
        (["--supersedes", "9"], 2, "expected --expected-version too"),
    ],
)
def test_bad_reports_exit_with_a_reason(
    db: str, graph: StreetGraph, capsys: pytest.CaptureFixture[str], extra: list[str],
    code: int, message: str,
) -> None:  # fmt: skip
    argv = ["--db", db, "flood", "report", "--at", at_segment(graph, VST_TX), "--source",
            "camera", *extra]  # fmt: skip
    assert main(argv, out=io.StringIO()) == code
    assert message in capsys.readouterr().err
    assert cli(db, "flood", "list") == (0, [])


@pytest.mark.parametrize(
    ("where", "code", "message"),
    [("10.70,106.80", 3, "expected a click within 40 m of a street, the nearest is"),
     ("106.689,10.785", 2, "give latitude first"),
     ("10.785", 2, "expected LAT,LON")],
)  # fmt: skip
def test_a_report_away_from_the_streets_is_refused(
    db: str, capsys: pytest.CaptureFixture[str], where: str, code: int, message: str
) -> None:
    argv = ["--db", db, "flood", "report", "--at", where, "--source", "camera"]
    assert main(argv, out=io.StringIO()) == code
    assert message in capsys.readouterr().err
    assert cli(db, "flood", "list") == (0, [])


def test_report_along_a_drawn_line(db: str, graph: StreetGraph) -> None:
    line = ";".join(latlon(graph, n) for n in (VO_THI_SAU, TU_XUONG))
    code, made = cli(db, "flood", "report", "--along", line, "--depth", "90", "--source",
                     "field_officer", "--observed", hours_ago(1))  # fmt: skip
    assert code == 0
    assert made["street"] == NKKN
    assert VST_TX in made["segments"]
    assert made["depth_class"] == "71-150"
    assert made["snapped_m"] == 0.0
    with open_store(db) as store:
        assert store.get_feature(floods.REPORTS_LAYER, made["fid"]).props["marked_as"] == "line"
    code, state = cli(db, "flood", "state")
    assert sorted(s["segment_id"] for s in state) == sorted(made["segments"])


def test_state_and_list_at_a_past_moment(db: str, graph: StreetGraph) -> None:
    report_closed(db, graph, "--observed", T0, "--until", "2026-10-14T21:00:00+07:00")
    code, state = cli(db, "flood", "state", "--when", "2026-10-14T18:00+07:00")
    assert code == 0
    assert [(s["segment_id"], s["since"], s["until"]) for s in state] == [
        (VST_TX, T0, "2026-10-14T21:00:00+07:00")]  # fmt: skip
    assert cli(db, "flood", "state", "--when", "2026-10-14T21:00+07:00") == (0, [])
    assert cli(db, "flood", "state") == (0, [])  # long over now
    code, rows = cli(db, "flood", "list", "--when", "2026-10-14T16:59+07:00")
    assert [r["status"] for r in rows] == ["future"]


# --- routes -----------------------------------------------------------------------------------
def route(db: str, graph: StreetGraph, *extra: str, json_first: bool = False) -> tuple[int, Any]:
    """``route`` from the Trần Quốc Toản crossing to the Điện Biên Phủ crossing, in the
    issue's form: ``route A B --avoid-flooded --vehicle motorbike --json``."""
    ends = [latlon(graph, TRAN_QUOC_TOAN), latlon(graph, DIEN_BIEN_PHU)]
    argv = ["route", *ends, "--avoid-flooded", "--vehicle", "motorbike", *extra]
    out = io.StringIO()
    full = ["--db", db, "--json", *argv] if json_first else ["--db", db, *argv, "--json"]
    code = main(full, out=out)
    return code, json.loads(out.getvalue()) if code == 0 else None


def test_route_without_floods_follows_nkkn(db: str, graph: StreetGraph) -> None:
    code, found = route(db, graph)
    assert code == 0
    assert found["segments"] == RUN_SEGMENTS
    assert found["streets"] == [NKKN]
    assert isinstance(found["length_m"], float)
    assert found["length_m"] == pytest.approx(469.3, abs=0.1)
    assert found["shortest_length_m"] == found["length_m"]
    assert found["detour_m"] == 0
    assert found["avoided_segments"] == []
    assert (found["vehicle"], found["max_depth_cm"]) == ("motorbike", 20.0)


def test_route_avoids_a_closed_stretch_of_nkkn(db: str, graph: StreetGraph) -> None:
    # both carriageways closed between the Võ Thị Sáu and Tú Xương crossings, drawn as a line
    line = ";".join(latlon(graph, n) for n in (VO_THI_SAU, TU_XUONG))
    code, made = cli(db, "flood", "report", "--along", line, "--depth", "90", "--source",
                     "field_officer", "--effect", "closed", "--observed", hours_ago(1))
    assert code == 0
    _, state = cli(db, "flood", "state")
    flooded = {s["segment_id"] for s in state}
    assert flooded == set(made["segments"])
    code, found = route(db, graph)  # the exact form, --json after the command
    assert code == 0
    assert set(found) >= {"segments", "streets", "length_m", "shortest_length_m", "detour_m"}
    assert isinstance(found["segments"], list) and isinstance(found["length_m"], float)
    assert not flooded & set(found["segments"])
    assert found["avoided_segments"] == RUN_SEGMENTS[1:5]
    assert found["shortest_length_m"] == pytest.approx(469.3, abs=0.1)
    assert found["detour_m"] == pytest.approx(304.9, abs=0.1)
    assert found["length_m"] == pytest.approx(found["shortest_length_m"] + found["detour_m"],
                                              abs=0.1)  # fmt: skip
    assert found["streets"] == [NKKN, "Võ Thị Sáu", "Lê Quý Đôn", "Tú Xương", NKKN]
    lengths = graph.edges.set_index("segment_id")["length_m"]
    assert sum(lengths[s] for s in found["segments"]) == pytest.approx(found["length_m"], abs=0.5)
    assert route(db, graph, json_first=True) == (0, found)  # --json before works the same
    # without --avoid-flooded the plain shortest route, through the water
    code, plain = cli(db, "route", latlon(graph, TRAN_QUOC_TOAN), latlon(graph, DIEN_BIEN_PHU))
    assert (code, plain["segments"], plain["avoid_flooded"]) == (0, RUN_SEGMENTS, False)


def test_route_avoids_a_segment_closed_at_a_point(db: str, graph: StreetGraph) -> None:
    report_closed(db, graph)  # one segment of the carriageway, Võ Thị Sáu to Tú Xương
    code, found = route(db, graph)
    assert code == 0
    assert VST_TX not in found["segments"]
    assert found["avoided_segments"] == [VST_TX]
    assert found["detour_m"] > 0  # by the parallel lane of the same street
    assert found["streets"] == [NKKN]


@pytest.mark.parametrize(("vehicle", "detours"), [("motorbike", True), ("car", False)])
def test_route_by_vehicle_depth(
    db: str, graph: StreetGraph, vehicle: str, detours: bool
) -> None:
    code, _ = cli(db, "flood", "report", "--at", at_segment(graph, VST_TX), "--depth", "25",
                  "--source", "sensor", "--observed", hours_ago(1))  # fmt: skip
    assert code == 0
    ends = [latlon(graph, TRAN_QUOC_TOAN), latlon(graph, DIEN_BIEN_PHU)]
    code, found = cli(db, "route", *ends, "--avoid-flooded", "--vehicle", vehicle)
    assert code == 0
    assert (found["detour_m"] > 0) is detours
    assert (VST_TX in found["segments"]) is not detours
    code, custom = cli(db, "route", *ends, "--avoid-flooded", "--max-depth", "30")
    assert (code, custom["detour_m"], custom["max_depth_cm"]) == (0, 0, 30.0)


def test_route_at_a_past_moment(db: str, graph: StreetGraph) -> None:
    report_closed(db, graph, "--observed", T0)
    code, then = route(db, graph, "--when", "2026-10-14T18:00+07:00")
    assert code == 0 and then["detour_m"] > 0
    code, now = route(db, graph)
    assert code == 0 and now["detour_m"] == 0  # the report expired long ago


def test_route_with_swapped_coordinates_exits_2(
    db: str, graph: StreetGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    lon, lat = graph.coords[TRAN_QUOC_TOAN]
    argv = ["--db", db, "route", f"{lon},{lat}", latlon(graph, DIEN_BIEN_PHU), "--json"]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "looks like LON,LAT" in err
    assert "give latitude first" in err


def test_route_when_every_way_is_closed_exits_3(
    db: str, graph: StreetGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    into = graph.edges.loc[graph.edges["v"] == DIEN_BIEN_PHU, "segment_id"].tolist()
    with open_store(db) as store:
        index = floods.SegmentIndex(store.read_layer(streets.STREETS_LAYER))
        floods.add_report(store, index.from_segments(into), user="an", role="editor",
                          depth_cm=None, observed_at=hours_ago(1), source="field_officer",
                          effect="closed")  # fmt: skip
    code, _ = route(db, graph)
    assert code == 3
    err = capsys.readouterr().err
    assert "no route avoids the floods for a motorbike" in err


# --- the feed ---------------------------------------------------------------------------------
def test_cap_feed_to_a_file(db: str, graph: StreetGraph, tmp_path: Path) -> None:
    line = ";".join(latlon(graph, n) for n in (VO_THI_SAU, TU_XUONG))
    code, made = cli(db, "flood", "report", "--along", line, "--depth", "160", "--source",
                     "sensor", "--observed", T0)  # fmt: skip
    assert code == 0
    report_closed(db, graph, "--observed", T0)
    when = "2026-10-14T18:00:00+07:00"
    _, state = cli(db, "flood", "state", "--when", when)
    assert len(state) == len(made["segments"]) >= 3
    target = tmp_path / "canh-bao.xml"
    code, written = cli(db, "flood", "feed", "--format", "cap", "--when", when, "-o", str(target))
    assert code == 0
    assert written == {"file": str(target), "format": "cap", "floods": len(state)}
    data = target.read_bytes()
    cap.validate_cap(data)
    root = etree.fromstring(data)
    infos = root.findall("cap:info", CAP_NS)
    assert len(infos) == 2 * len(state)
    assert [i.findtext("cap:language", namespaces=CAP_NS) for i in infos[:2]] == [
        "vi-VN", "en-US"]  # fmt: skip
    ids = [p.findtext("cap:value", namespaces=CAP_NS) for i in infos
           for p in i.findall("cap:parameter", CAP_NS)
           if p.findtext("cap:valueName", namespaces=CAP_NS) == "segment_id"]  # fmt: skip
    assert sorted(ids) == sorted([s["segment_id"] for s in state] * 2)
    assert root.findtext("cap:sent", namespaces=CAP_NS) == when
    severities = {i.findtext("cap:severity", namespaces=CAP_NS) for i in infos}
    assert severities == {"Extreme"}  # 160 cm is the deepest on every segment


def test_geojson_feed_to_stdout(
    db: str, graph: StreetGraph, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    report_closed(db, graph)
    assert main(["--db", db, "flood", "feed"], out=io.StringIO()) == 0
    feed = json.loads(capsysbinary.readouterr().out.decode("utf-8"))
    assert feed["type"] == "FeatureCollection"
    assert feed["count"] == 1
    assert feed["ward"] == "Phường An Khánh"
    [feature] = feed["features"]
    assert feature["id"] == VST_TX
    assert feature["properties"]["depth_class"] == "10-70"
    assert feature["properties"]["closed"] is True
    assert feature["properties"]["name"] == NKKN
    assert feature["geometry"]["type"] == "LineString"


def test_empty_cap_feed_is_valid(db: str, tmp_path: Path) -> None:
    target = tmp_path / "none.xml"
    code, written = cli(db, "flood", "feed", "--format", "cap", "-o", str(target))
    assert (code, written["floods"]) == (0, 0)
    data = target.read_bytes()
    cap.validate_cap(data)
    assert etree.fromstring(data).findall("cap:info", CAP_NS) == []


# --- flood-prone streets ----------------------------------------------------------------------
def test_designate_a_street_and_record_works(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, made = cli(db, "flood", "prone", NKKN, "--reason", "ngập khi triều cường")
    assert (code, made) == (0, {"fid": 1, "street": NKKN, "segments": 33})
    assert main(["--db", db, "flood", "prone", "nam ky khoi nghia"], out=io.StringIO()) == 2
    assert "already flood-prone (record 1)" in capsys.readouterr().err
    assert main(["--db", db, "flood", "prone", "Quốc Hương"], out=io.StringIO()) == 3
    assert "import the ward's streets" in capsys.readouterr().err
    assert main(["--db", db, "flood", "prone"], out=io.StringIO()) == 2
    assert "expected a street name (or --list)" in capsys.readouterr().err
    code, rows = cli(db, "flood", "prone", "--list")
    assert (code, rows) == (0, [{"fid": 1, "street": NKKN, "scope": "street", "segments": 33,
                                 "works": 0, "_version": 1}])  # fmt: skip
    code, works = cli(db, "flood", "works", "1", "--expected-version", "1", "--name",
                      "Nâng cấp cống", "--status", "in_progress", "--start", "2026-01-05")
    assert code == 0
    assert works == {"fid": 1, "works": [{"name": "Nâng cấp cống", "status": "in_progress",
                                          "start": "2026-01-05", "end": None, "note": ""}]}
    code, rows = cli(db, "flood", "prone", "--list")
    assert (rows[0]["works"], rows[0]["_version"]) == (1, 2)
    stale = ["--db", db, "flood", "works", "1", "--expected-version", "1", "--name", "x"]
    assert main(stale, out=io.StringIO()) == 5
    bad = ["--db", db, "flood", "works", "1", "--expected-version", "2", "--name", "x",
           "--start", "2026-03-01", "--end", "2026-02-01"]  # fmt: skip
    assert main(bad, out=io.StringIO()) == 2
    assert "expected on or after 2026-03-01" in capsys.readouterr().err
    code, info = cli(db, "streets", "info")
    assert info["programme"] == [
        {"street": name, "segments": 0, "designated": False} for name in PROGRAMME
    ]


def test_designate_segments_and_viewer(
    db: str, graph: StreetGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    viewer = ["--db", db, "flood", "prone", NKKN, "--role", "viewer"]
    assert main(viewer, out=io.StringIO()) == 6
    assert "a viewer may not designate" in capsys.readouterr().err
    code, made = cli(db, "flood", "prone", "Phạm Ngọc Thạch", "--segments",
                     "411926597-5842295441-0")  # fmt: skip
    assert (code, made["segments"]) == (0, 2)  # and its other direction
    code, rows = cli(db, "flood", "prone", "--list")
    assert [(r["scope"], r["segments"]) for r in rows] == [("segments", 2)]


# --- PostGIS ----------------------------------------------------------------------------------
@pytest.mark.postgis
def test_flood_commands_on_postgis(
    pg_database: Callable[..., str], sample: Path, graph: StreetGraph, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    clean_env(monkeypatch, tmp_path)
    url = pg_database()
    code, done = cli(url, "streets", "import", str(sample))
    assert (code, done["segments"]) == (0, SEGMENTS)
    code, info = cli(url, "streets", "info")
    assert [p["segments"] for p in info["programme"]] == [0, 0, 0]
    made = report_closed(url, graph)
    assert made["segments"] == [VST_TX]
    code, state = cli(url, "flood", "state")
    assert [(s["segment_id"], s["closed"]) for s in state] == [(VST_TX, True)]
    code, found = route(url, graph)
    assert code == 0
    assert VST_TX not in found["segments"]
    assert found["detour_m"] > 0
    assert main(["--db", url, "flood", "end", "1", "--expected-version", "2"],
                out=io.StringIO()) == 5  # fmt: skip
    assert cli(url, "flood", "end", "1", "--expected-version", "1")[0] == 0
    assert cli(url, "flood", "state") == (0, [])
    code, found = route(url, graph)
    assert (code, found["detour_m"]) == (0, 0)
    code, made = cli(url, "flood", "prone", NKKN)
    assert (code, made["segments"]) == (0, 33)
    code, works = cli(url, "flood", "works", "1", "--expected-version", "1", "--name",
                      "Nâng cấp cống", "--status", "in_progress", "--start", "2026-01-05")
    assert code == 0 and works["works"][0]["status"] == "in_progress"
    target = tmp_path / "feed.xml"
    assert cli(url, "flood", "feed", "--format", "cap", "-o", str(target))[0] == 0
    cap.validate_cap(target.read_bytes())
