"""Flooded streets on the real OSM sample (central HCMC, Nam Kỳ Khởi Nghĩa): .osm.pbf import,
snapping clicks to segments, the report lifecycle on both stores, the state at past moments,
routes around floods, flood-prone streets and fetching streets offline.

Times are fixed Vietnam times in the past (``T0`` = 2026-10-14 17:00 +07:00, the evening rain)
so that every state is reproducible; only the "observed in the future" check uses the clock.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import osmium
import osmnx as ox
import pandas as pd
import pytest
import requests
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geo import floods, routing, streets
from geo.errors import (
    ConflictError,
    FetchError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    RuleError,
    UploadError,
)
from geo.routing import Flood, StreetGraph
from geo.store import Feature, Store

NKKN = "Nam Kỳ Khởi Nghĩa"
PNT = "Phạm Ngọc Thạch"  # two-way
MEASURE = "EPSG:9210"  # VN-2000 / TM-3 105-45, metres
T0 = datetime(2026, 10, 14, 17, 0, tzinfo=floods.TIMEZONE)
"""The evening rain: every report is observed at T0 plus some hours."""

# Nam Kỳ Khởi Nghĩa's south-east carriageway (one way) from the Trần Quốc Toản crossing to
# the Điện Biên Phủ crossing, over the Võ Thị Sáu and Tú Xương crossings: OSM node ids.
TRAN_QUOC_TOAN, VO_THI_SAU, TU_XUONG, DIEN_BIEN_PHU = 2008273910, 2036141704, 2036141730, 411926532
RUN = [TRAN_QUOC_TOAN, 2036141676, 12181658671, VO_THI_SAU, 12181658670, TU_XUONG, DIEN_BIEN_PHU]
PNT_SEGMENT = "411926597-5842295441-0"  # 95.65 m of Phạm Ngọc Thạch, twin 5842295441-411926597-0
PNT_TWIN = "5842295441-411926597-0"
PROGRAMME = ["Đường số 12", "Quốc Hương", "Nguyễn Văn Hưởng"]  # in Thảo Điền, not here
SEGMENTS = 999
"""Drivable segments of the sample (1,303 edges less footways and steps); 999 once the ways
without a highway tag are left out (see test_only_highways_are_street_segments)."""


def at(hours: float) -> datetime:
    """T0 plus ``hours``."""
    return T0 + timedelta(hours=hours)


# --- the network, built once ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(shared_data: Path) -> Path:
    path = shared_data / "osm" / "hcmc_district3_sample.osm"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def edges(sample: Path) -> gpd.GeoDataFrame:
    return streets.edges_frame(streets.read_osm(sample))


@pytest.fixture(scope="module")
def graph(edges: gpd.GeoDataFrame) -> StreetGraph:
    return StreetGraph(edges)


@pytest.fixture(scope="module")
def index(edges: gpd.GeoDataFrame) -> floods.SegmentIndex:
    return floods.SegmentIndex(edges, MEASURE)


@pytest.fixture(scope="module")
def by_id(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return edges.set_index("segment_id")


@pytest.fixture(scope="module")
def run_segments(edges: gpd.GeoDataFrame) -> list[str]:
    """The six segments of the one-way carriageway between Trần Quốc Toản and Điện Biên Phủ."""
    uv = {(int(u), int(v)): sid for sid, u, v in edges[["segment_id", "u", "v"]].itertuples(
        index=False)}  # fmt: skip
    ids = [uv[pair] for pair in itertools.pairwise(RUN)]
    assert set(edges.set_index("segment_id").loc[ids, "name"]) == {NKKN}
    return ids


@pytest.fixture(scope="module")
def ends(graph: StreetGraph) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lon, lat) of the Trần Quốc Toản and Điện Biên Phủ crossings."""
    return graph.coords[TRAN_QUOC_TOAN], graph.coords[DIEN_BIEN_PHU]


def metric(geom: BaseGeometry) -> BaseGeometry:
    return gpd.GeoSeries([geom], crs=4326).to_crs(MEASURE).iloc[0]


def lonlat(point: Point) -> Point:
    out = gpd.GeoSeries([point], crs=MEASURE).to_crs(4326).iloc[0]
    assert isinstance(out, Point)
    return out


def beside(line: BaseGeometry, metres: float) -> tuple[float, float]:
    """(lon, lat) of a point ``metres`` to the left of a segment's middle."""
    m = metric(line)
    assert isinstance(m, LineString)
    a, b = m.interpolate(m.length / 2 - 1), m.interpolate(m.length / 2 + 1)
    mid = m.interpolate(m.length / 2)
    dx, dy = b.x - a.x, b.y - a.y
    norm = (dx * dx + dy * dy) ** 0.5
    point = lonlat(Point(mid.x - dy / norm * metres, mid.y + dx / norm * metres))
    return point.x, point.y


def report(index: floods.SegmentIndex, ids: list[str], **fields: Any) -> dict[str, Any]:
    """A validated report's attributes on some segments (an editor's field report)."""
    values: dict[str, Any] = {"depth_cm": 30, "observed_at": T0, "source": "field_officer",
                              "user": "an", "role": "editor", **fields}  # fmt: skip
    return floods.report_props(index.from_segments(ids), **values)


def reports_frame(*props: dict[str, Any]) -> gpd.GeoDataFrame:
    """Reports as the store returns them: indexed by fid from 1."""
    frame = gpd.GeoDataFrame(list(props), geometry=[Point(106.69, 10.78)] * len(props), crs=4326)
    frame.index = pd.RangeIndex(1, len(props) + 1, name="fid")
    return frame


# --- .osm.pbf import --------------------------------------------------------------------------
def test_a_pbf_extract_gives_the_same_segments_as_the_xml(
    sample: Path, edges: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    pbf = tmp_path / "x.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(sample)):
            writer.add(obj)
    assert pbf.read_bytes()[4:15] == b"\n\tOSMHeader"  # really PBF, not XML
    from_pbf = streets.edges_frame(streets.read_streets(pbf))
    assert len(from_pbf) == SEGMENTS
    assert sorted(from_pbf["segment_id"]) == sorted(edges["segment_id"])
    lengths = from_pbf.set_index("segment_id")["length_m"]
    assert lengths.sort_index().tolist() == pytest.approx(
        edges.set_index("segment_id")["length_m"].sort_index().tolist()
    )


@pytest.mark.parametrize("name", ["streets.geojson", "streets.osm.gz", "streets.pbf.zip", "osm"])
def test_a_file_of_another_type_is_refused(sample: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(sample.read_bytes()[:2000])
    with pytest.raises(UploadError, match=r"expected an OpenStreetMap \.osm or \.osm\.pbf file"):
        streets.read_streets(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pbf at all", "invalid BlobHeader size"),
        (b"", "no data"),
        (b"<osm version='0.6'></osm>", "expected an OpenStreetMap PBF file"),  # XML renamed
        (None, "unexpected EOF"),  # a real extract cut short
    ],
)
def test_a_broken_pbf_is_refused_not_a_crash(
    sample: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    if content is None:
        whole = tmp_path / "whole.osm.pbf"
        with osmium.SimpleWriter(str(whole)) as writer:
            for obj in osmium.FileProcessor(str(sample)):
                writer.add(obj)
        content = whole.read_bytes()[:5000]
    path = tmp_path / "broken.osm.pbf"
    path.write_bytes(content)
    with pytest.raises(UploadError, match=message):
        streets.read_streets(path)


def test_a_missing_pbf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match=r"expected an existing \.osm\.pbf file"):
        streets.read_streets(tmp_path / "none.osm.pbf")


def test_only_highways_are_street_segments(edges: gpd.GeoDataFrame) -> None:
    untagged = edges[edges["highway"].isna()]
    assert len(untagged) == 0, f"{len(untagged)} segments, {untagged['length_m'].sum():.0f} m"
    # the ward boundary (way 1458628923) drawn along Nam Kỳ Khởi Nghĩa is no street
    assert "13377192421-13377192422-0" not in set(edges["segment_id"])


# --- the network in the store -----------------------------------------------------------------
def test_save_streets_round_trips_ids_lengths_names_and_licence(
    store: Store, edges: gpd.GeoDataFrame, index: floods.SegmentIndex
) -> None:
    assert streets.save_streets(store, edges, source="OpenStreetMap: sample", user="an") == SEGMENTS
    back = store.read_layer(streets.STREETS_LAYER).set_index("segment_id")
    mine = edges.set_index("segment_id")
    assert sorted(back.index) == sorted(mine.index)
    assert back.loc[mine.index, "length_m"].tolist() == pytest.approx(mine["length_m"].tolist())
    names = back.loc[mine.index, "name"].map(lambda v: None if pd.isna(v) else v)
    assert names.tolist() == mine["name"].tolist()
    first = f"{TRAN_QUOC_TOAN}-2036141676-0"
    assert back.loc[first, "name"] == NKKN
    assert back.loc[first, "length_m"] == pytest.approx(192.32)
    info = store.layer_info(streets.STREETS_LAYER)
    assert info.licence == "ODbL 1.0"
    assert info.attribution == "© OpenStreetMap contributors"
    assert info.feature_count == SEGMENTS
    # a store's network snaps like the file's
    stored = floods.SegmentIndex(back.reset_index().drop(columns="_version"), MEASURE)
    assert sorted(stored.street(NKKN)) == sorted(index.street(NKKN))
    assert len(stored.street(NKKN)) == 33


def test_the_shipped_sample_is_the_real_file_and_labelled_as_not_the_ward(
    store: Store, sample: Path, edges: gpd.GeoDataFrame
) -> None:
    assert streets.SAMPLE_OSM.read_bytes() == sample.read_bytes()  # shipped unmodified
    assert streets.save_sample(store, user="an") == SEGMENTS
    info = store.layer_info(streets.STREETS_LAYER)
    assert streets.is_sample(info)
    assert "không phải phường" in info.source and "SAMPLE" in info.source
    streets.save_streets(store, edges, source="OpenStreetMap: an-khanh.osm.pbf", user="an")
    assert not streets.is_sample(store.layer_info(streets.STREETS_LAYER))


def test_save_streets_refuses_a_frame_that_is_not_segments(store: Store) -> None:
    frame = gpd.GeoDataFrame({"name": ["x"]}, geometry=[LineString([(0, 0), (1, 1)])], crs=4326)
    with pytest.raises(GISInputError, match="missing columns"):
        streets.save_streets(store, frame, source="x", user="an")
    assert not store.has_layer(streets.STREETS_LAYER)


# --- snapping ---------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [5.0, -5.0])
def test_a_click_beside_a_two_way_street_floods_both_directions(
    index: floods.SegmentIndex, by_id: gpd.GeoDataFrame, side: float
) -> None:
    lon, lat = beside(by_id.loc[PNT_SEGMENT, "geometry"], side)
    snap = index.snap(lon, lat)
    assert sorted(snap.segment_ids) == sorted([PNT_SEGMENT, PNT_TWIN])
    assert snap.name == PNT
    assert snap.distance_m == pytest.approx(5.0, abs=0.2)
    on_line = metric(snap.point).distance(metric(by_id.loc[PNT_SEGMENT, "geometry"]))
    assert on_line < 0.5
    assert metric(snap.point).distance(metric(Point(lon, lat))) == pytest.approx(5.0, abs=0.2)


def test_a_click_on_one_way_nkkn_gives_one_segment(
    index: floods.SegmentIndex, by_id: gpd.GeoDataFrame, run_segments: list[str]
) -> None:
    line = by_id.loc[run_segments[0], "geometry"]
    lon, lat = beside(line, 0.0)
    snap = index.snap(lon, lat)
    assert snap.segment_ids == [run_segments[0]]
    assert snap.name == NKKN
    assert snap.distance_m < 0.5
    assert metric(snap.point).distance(metric(line)) < 0.5


@pytest.mark.parametrize(
    "where",
    [(106.6995942 + 0.0030, 10.7850), (106.80, 10.70)],
    ids=["east-of-the-sample", "far-outside"],
)
def test_a_click_far_from_any_street_is_not_found_with_the_distance(
    index: floods.SegmentIndex, where: tuple[float, float]
) -> None:
    lon, lat = where
    here = metric(Point(lon, lat))
    nearest = min(g.distance(here) for g in index.metric)
    assert nearest > floods.SNAP_MAX_M
    with pytest.raises(NotFoundError, match=rf"the nearest is {nearest:.0f} m away"):
        index.snap(lon, lat)
    # with a wider tolerance the same click snaps
    assert index.snap(lon, lat, max_m=nearest + 1).distance_m == pytest.approx(nearest, abs=0.1)


def test_a_click_200_m_away_is_refused(
    index: floods.SegmentIndex, by_id: gpd.GeoDataFrame
) -> None:
    # 200 m west of the sample's west-most point, in open space beyond its edge
    lon0, lat0 = min((xy for g in by_id.geometry for xy in g.coords), key=lambda xy: xy[0])
    start = metric(Point(lon0, lat0))
    assert isinstance(start, Point)
    click = lonlat(Point(start.x - 200, start.y))
    nearest = min(g.distance(metric(click)) for g in index.metric)
    assert 195 < nearest <= 200.1
    with pytest.raises(NotFoundError, match=rf"nearest is {nearest:.0f} m away"):
        index.snap(click.x, click.y)


def test_swapped_lat_lon_is_explained(index: floods.SegmentIndex, graph: StreetGraph) -> None:
    lon, lat = graph.coords[VO_THI_SAU]
    with pytest.raises(GISInputError, match="swapped"):
        index.snap(lat, lon)


@pytest.mark.parametrize("bad", [(float("nan"), 10.78), ("x", 10.78), (200.0, 10.78)])
def test_unusable_click_coordinates_are_input_errors(
    index: floods.SegmentIndex, bad: tuple[Any, Any]
) -> None:
    with pytest.raises(GISInputError, match="point: expected"):
        index.snap(*bad)


def test_a_line_drawn_along_nkkn_gives_its_segments_not_the_crossings(
    index: floods.SegmentIndex, graph: StreetGraph, by_id: gpd.GeoDataFrame,
    run_segments: list[str],
) -> None:  # fmt: skip
    snap = index.along(LineString([graph.coords[n] for n in RUN]))
    assert snap.name == NKKN
    assert set(run_segments) <= set(snap.segment_ids)
    found = by_id.loc[snap.segment_ids]
    roads = found[found["highway"].notna()]
    assert (roads["name"] == NKKN).sum() >= 14  # both carriageways
    # of the crossing streets only the links across the median (shorter than the 20 m
    # buffer) are taken, never the streets leading away
    crossing = roads[roads["name"] != NKKN]
    assert set(crossing["name"]) <= {"Võ Thị Sáu", "Tú Xương", "Trần Quốc Toản"}
    assert (crossing["length_m"] < 20).all(), crossing[["name", "length_m"]]
    away = by_id[(by_id["name"].isin(["Võ Thị Sáu", "Tú Xương", "Điện Biên Phủ"]))
                 & (by_id["length_m"] > 40)]  # fmt: skip
    assert not set(away.index) & set(snap.segment_ids)
    assert metric(snap.point).distance(metric(LineString([graph.coords[n] for n in RUN]))) < 0.5


def test_a_line_off_the_streets_is_not_found(index: floods.SegmentIndex) -> None:
    with pytest.raises(NotFoundError, match="expected a line drawn along a street"):
        index.along(LineString([(106.80, 10.70), (106.801, 10.701)]))
    with pytest.raises(GISInputError, match="two or more points"):
        index.along(LineString())


def test_two_clicks_on_a_street_mark_the_stretch_between_them(
    index: floods.SegmentIndex, graph: StreetGraph, by_id: gpd.GeoDataFrame,
    run_segments: list[str], ends: tuple[tuple[float, float], tuple[float, float]],
) -> None:  # fmt: skip
    first, last = (by_id.loc[s, "geometry"].interpolate(0.5, normalized=True)
                   for s in (run_segments[0], run_segments[-1]))  # fmt: skip
    clicks = [index.snap(p.x, p.y).segment_ids for p in (first, last)]
    assert clicks == [[run_segments[0]], [run_segments[-1]]]
    ids = routing.stretch(graph, *clicks)
    assert ids == run_segments
    assert sum(by_id.loc[ids, "length_m"]) == pytest.approx(469.3, abs=0.1)
    snap = index.from_segments(ids)
    assert snap.segment_ids == run_segments  # one way: no twins
    assert snap.name == NKKN
    assert metric(snap.point).distance(metric(by_id.loc[ids, "geometry"].union_all())) < 0.5
    # clicked in the other order, the same stretch
    assert sorted(routing.stretch(graph, clicks[1], clicks[0])) == sorted(run_segments)
    with pytest.raises(NotFoundError, match="expected segments of the network"):
        index.from_segments(["1-2-0"])


def test_a_stretch_keeps_the_clicked_segments_even_off_the_routable_core(
    index: floods.SegmentIndex, graph: StreetGraph, by_id: gpd.GeoDataFrame
) -> None:
    """Review finding: two clicks on Trương Định snapped to routable nodes elsewhere and
    marked Võ Thị Sáu and Trần Quốc Thảo instead of the clicked street."""
    street = by_id[by_id["name"] == "Trương Định"]
    outside = street[[graph.ends(s)[0] not in graph.core or graph.ends(s)[1] not in graph.core
                      for s in street.index]]  # fmt: skip
    assert len(outside)
    segment = str(outside["length_m"].idxmax())
    line = by_id.loc[segment, "geometry"]
    a, b = (line.interpolate(f, normalized=True) for f in (0.2, 0.8))
    ids = routing.stretch(graph, index.snap(a.x, a.y).segment_ids,
                          index.snap(b.x, b.y).segment_ids)  # fmt: skip
    assert segment in ids
    assert set(by_id.loc[ids, "name"]) == {"Trương Định"}


def test_a_two_way_stretch_includes_both_directions(index: floods.SegmentIndex) -> None:
    snap = index.from_segments([PNT_SEGMENT])
    assert sorted(snap.segment_ids) == sorted([PNT_SEGMENT, PNT_TWIN])
    assert index.with_twins([PNT_TWIN]) == sorted([PNT_SEGMENT, PNT_TWIN])


# --- street names -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "written",
    [
        "nam ky khoi nghia",
        "Nam Kỳ Khởi Nghĩa",
        "NAM KỲ KHỞI NGHĨA",
        pytest.param("Đường Nam Kỳ Khởi Nghĩa"),
    ],
)  # fmt: skip
def test_a_street_matches_however_it_is_written(
    index: floods.SegmentIndex, edges: gpd.GeoDataFrame, written: str
) -> None:
    expected = edges.loc[edges["name"].fillna("").str.split(" / ").map(lambda p: NKKN in p),
                         "segment_id"].tolist()  # fmt: skip
    assert len(expected) == 33  # 31 named NKKN, 2 shared with the crossing street
    assert index.street(written) == expected
    assert "Hẻm 193 Nam Kỳ Khởi Nghĩa" not in set(edges.set_index("segment_id").loc[
        index.street(written), "name"])  # fmt: skip


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("Đường số 12", "duong so 12", True),
        ("Nam Kỳ Khởi Nghĩa", "nam ky khoi nghia", True),
        ("Nam Kỳ Khởi Nghĩa", "Hẻm 193 Nam Kỳ Khởi Nghĩa", False),
        ("Quốc Hương", "Quốc Hưng", False),
        pytest.param("Đường số 12", "số 12", True),
        pytest.param("Đường Hai Bà Trưng", "Hai Bà Trưng", True),
    ],
)  # fmt: skip
def test_street_key(one: str, other: str, same: bool) -> None:
    assert (floods.street_key(one) == floods.street_key(other)) is same


def test_a_street_written_with_the_eth_look_alike_is_found(
    index: floods.SegmentIndex, edges: gpd.GeoDataFrame
) -> None:
    eth = edges[edges["name"] == "\u00d0inh Công Tráng"]
    assert len(eth) == 10
    assert index.street("Đinh Công Tráng") == eth["segment_id"].tolist()


@pytest.mark.parametrize("name", ["", "   ", "(Q.3)", " - "])
def test_an_empty_street_name_is_an_input_error(index: floods.SegmentIndex, name: str) -> None:
    with pytest.raises(GISInputError, match="expected a street name"):
        index.street(name)


# --- depth classes and validation --------------------------------------------------------------
@pytest.mark.parametrize(
    ("depth", "klass"),
    [(None, "unknown"), (float("nan"), "unknown"), (5, "10-70"), (70, "10-70"),
     (71, "71-150"), (150, "71-150"), (151, "150+"), (500, "150+")],
)  # fmt: skip
def test_depth_classes(depth: Any, klass: str) -> None:
    assert floods.depth_class(depth) == klass


@pytest.mark.parametrize(("value", "depth"), [("25,5", 25.5), ("40", 40.0), (0, 0.0),
                                               (None, None), ("", None), (12.345, 12.3)])
def test_depth_is_read_in_centimetres(value: Any, depth: float | None) -> None:
    assert floods.check_depth(value) == depth


# --- the report lifecycle ---------------------------------------------------------------------
def test_a_report_expires_after_the_default_hours_unless_an_end_is_expected(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    snap = index.from_segments(run_segments[:2])
    plain = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                              observed_at=T0, source="camera")  # fmt: skip
    short = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                              observed_at=T0, source="camera", hours=2)  # fmt: skip
    ends = floods.add_report(store, snap, user="an", role="editor", depth_cm="45,5",
                             observed_at="2026-10-14T17:00", source="sensor", hours=2,
                             expected_end=at(9))  # fmt: skip
    props = {fid: store.get_feature(floods.REPORTS_LAYER, fid).props
             for fid in (plain, short, ends)}  # fmt: skip
    assert props[plain]["observed_at"] == "2026-10-14T17:00:00+07:00"
    assert props[plain]["expires_at"] == "2026-10-14T23:00:00+07:00"
    assert props[plain]["expected_end"] is None
    assert props[short]["expires_at"] == "2026-10-14T19:00:00+07:00"
    assert props[ends]["expires_at"] == props[ends]["expected_end"] == "2026-10-15T02:00:00+07:00"
    assert props[ends]["depth_cm"] == 45.5
    assert props[ends]["observed_at"] == "2026-10-14T17:00:00+07:00"  # naive = Vietnam time
    assert floods.segment_list(props[plain]["segment_ids"]) == run_segments[:2]
    assert props[plain]["street"] == NKKN
    assert props[plain]["reporter"] == "an"
    assert store.get_feature(floods.REPORTS_LAYER, plain).version == 1


STATUS_AT = [(at(-0.5), "future"), (at(0), "live"), (at(3), "live"), (at(5.99), "live"),
             (at(6), "expired"), (at(30), "expired")]  # fmt: skip


def test_report_status_at_moments(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    floods.add_report(store, index.from_segments(run_segments[:1]), user="an", role="editor",
                      depth_cm=20, observed_at=T0, source="camera")  # fmt: skip
    reports = floods.read_reports(store)
    seen = [floods.report_status(reports, moment)["status"].tolist() for moment, _ in STATUS_AT]
    assert seen == [[status] for _, status in STATUS_AT]
    ends = floods.report_status(reports, at(1))["ends_at"].tolist()
    assert ends == ["2026-10-14T23:00:00+07:00"]


def test_confirm_end_and_correct_a_report(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    fid = floods.add_report(store, index.from_segments(run_segments[:1]), user="an",
                            role="editor", depth_cm=40, observed_at=T0,
                            source="resident_call")  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="editor may not confirm"):
        floods.confirm_report(store, fid, expected_version=1, user="an", role="editor")
    floods.confirm_report(store, fid, expected_version=1, user="binh", role="approver", at=at(1))
    with pytest.raises(RuleError, match="already confirmed by binh"):
        floods.confirm_report(store, fid, expected_version=2, user="binh", role="approver")
    with pytest.raises(GISInputError, match="reason: expected why"):
        floods.correct_report(store, fid, expected_version=2, user="binh", role="approver",
                              reason="sai", depth_cm=60)  # fmt: skip
    text = "camera shows 60 cm, the caller guessed"
    floods.correct_report(store, fid, expected_version=2, user="binh", role="approver",
                          reason=text, depth_cm=60, effect="closed")  # fmt: skip
    floods.end_report(store, fid, expected_version=3, user="an", role="editor", at=at(4))
    with pytest.raises(RuleError, match="already ended"):
        floods.end_report(store, fid, expected_version=4, user="an", role="editor", at=at(5))
    feature = store.get_feature(floods.REPORTS_LAYER, fid)
    assert feature.version == 4
    assert feature.props["confirmed_at"] == "2026-10-14T18:00:00+07:00"
    assert feature.props["confirmed_by"] == "binh"
    assert (feature.props["depth_cm"], feature.props["effect"]) == (60, "closed")
    assert feature.props["ended_at"] == "2026-10-14T21:00:00+07:00"
    assert feature.props["end_reason"] == "water receded"
    history = store.history(floods.REPORTS_LAYER, fid)
    assert history["version"].tolist() == [1, 2, 3, 4]
    assert history["action"].tolist()[0] == "insert"
    assert history["reason"].tolist()[1:] == ["confirmed", text, "water receded"]
    assert history["after"].iloc[2]["depth_cm"] == 60
    assert history["before"].iloc[2]["depth_cm"] == 40
    status = floods.report_status(floods.read_reports(store), at(4)).loc[fid]
    assert (status["status"], status["ends_at"]) == ("ended", "2026-10-14T21:00:00+07:00")
    assert floods.report_status(floods.read_reports(store), at(3.99)).loc[fid, "status"] == "live"


def test_roles_are_checked_in_the_functions(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    snap = index.from_segments(run_segments[:1])
    base: dict[str, Any] = {"depth_cm": 30, "observed_at": T0, "source": "camera"}
    with pytest.raises(PermissionDeniedError, match="a viewer may not mark floods"):
        floods.add_report(store, snap, user="x", role="viewer", **base)
    with pytest.raises(PermissionDeniedError, match="editor may not confirm"):
        floods.add_report(store, snap, user="x", role="editor", confirmed=True, **base)
    with pytest.raises(GISInputError, match="role: expected one of"):
        floods.add_report(store, snap, user="x", role="boss", **base)
    assert not store.has_layer(floods.REPORTS_LAYER)
    fid = floods.add_report(store, snap, user="x", role="approver", confirmed=True, **base)
    assert store.get_feature(floods.REPORTS_LAYER, fid).props["confirmed_by"] == "x"
    with pytest.raises(PermissionDeniedError, match="a viewer may not end"):
        floods.end_report(store, fid, expected_version=1, user="x", role="viewer", at=at(1))
    with pytest.raises(PermissionDeniedError, match="a viewer may not correct"):
        floods.correct_report(store, fid, expected_version=1, user="x", role="viewer",
                              reason="wrong street, it was next door", depth_cm=5)  # fmt: skip
    assert store.get_feature(floods.REPORTS_LAYER, fid).version == 1


def test_a_new_observation_supersedes_the_old_in_one_transaction(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    snap = index.from_segments(run_segments[:2])
    old = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                            observed_at=T0, source="camera")  # fmt: skip
    new = floods.add_report(store, snap, user="an", role="editor", depth_cm=80,
                            observed_at=at(1.5), source="camera", effect="closed",
                            supersedes=old)  # fmt: skip
    before = store.get_feature(floods.REPORTS_LAYER, old)
    assert before.version == 2
    assert before.props["ended_at"] == "2026-10-14T18:30:00+07:00"
    assert before.props["end_reason"] == "superseded"
    assert int(store.get_feature(floods.REPORTS_LAYER, new).props["supersedes"]) == old
    history = store.history(floods.REPORTS_LAYER)
    assert list(zip(history["fid"], history["version"], history["action"], strict=True))[1:] == [
        (new, 1, "insert"), (old, 2, "update")]  # fmt: skip
    last = history.iloc[1:]
    assert last["changed_at"].nunique() == 1  # written together
    assert last["reason"].tolist() == ["flood reported", "superseded by a new observation"]
    assert set(last["effective_at"].astype(str)) == {"2026-10-14T18:30:00+07:00"}
    # the state at past moments keeps what was seen then
    state = floods.segment_state(index.segments, floods.read_reports(store), at(1))
    assert state["depth_cm"].tolist() == [30.0, 30.0]
    state = floods.segment_state(index.segments, floods.read_reports(store), at(2))
    assert state["depth_cm"].tolist() == [80.0, 80.0]
    assert state["report_ids"].tolist() == [str(new), str(new)]
    with pytest.raises(RuleError, match=f"report {old} has already ended"):
        floods.add_report(store, snap, user="an", role="editor", depth_cm=10,
                          observed_at=at(3), source="camera", supersedes=old)  # fmt: skip
    with pytest.raises(NotFoundError):
        floods.add_report(store, snap, user="an", role="editor", depth_cm=10,
                          observed_at=at(3), source="camera", supersedes=999)  # fmt: skip
    assert len(store.history(floods.REPORTS_LAYER)) == 3  # nothing more written


def test_a_supersede_that_conflicts_writes_neither_row(
    store: Store, index: floods.SegmentIndex, run_segments: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Someone confirms the old report between our read and our write: the new report must
    not be stored without the old one being ended (one transaction)."""
    snap = index.from_segments(run_segments[:1])
    old = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                            observed_at=T0, source="camera")  # fmt: skip
    read = store.get_feature
    raced: list[int] = []

    def read_then_confirmed(layer_id: str, fid: int) -> Feature:
        feature = read(layer_id, fid)
        if not raced:  # the other officer's confirmation lands after our read
            raced.append(fid)
            floods.confirm_report(store, fid, expected_version=feature.version, user="binh",
                                  role="approver", at=at(0.5))  # fmt: skip
        return feature

    monkeypatch.setattr(store, "get_feature", read_then_confirmed)
    with pytest.raises(ConflictError):
        floods.add_report(store, snap, user="an", role="editor", depth_cm=80,
                          observed_at=at(1), source="camera", supersedes=old)  # fmt: skip
    monkeypatch.undo()
    assert raced == [old]
    assert floods.read_reports(store).index.tolist() == [old]
    assert store.get_feature(floods.REPORTS_LAYER, old).props["ended_at"] is None
    assert store.history(floods.REPORTS_LAYER)["action"].tolist() == ["insert", "update"]


def test_a_report_cannot_supersede_one_observed_later(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    snap = index.from_segments(run_segments[:1])
    later = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                              observed_at=at(2), source="camera")  # fmt: skip
    with pytest.raises(GISInputError):
        floods.add_report(store, snap, user="an", role="editor", depth_cm=50,
                          observed_at=at(1), source="camera", supersedes=later)  # fmt: skip
    assert store.get_feature(floods.REPORTS_LAYER, later).props["ended_at"] is None


def test_a_stale_version_is_a_conflict_and_writes_nothing(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    fid = floods.add_report(store, index.from_segments(run_segments[:1]), user="an",
                            role="editor", depth_cm=30, observed_at=T0, source="camera")
    floods.confirm_report(store, fid, expected_version=1, user="binh", role="approver", at=at(1))
    rows = len(store.history(floods.REPORTS_LAYER))
    with pytest.raises(ConflictError) as caught:
        floods.end_report(store, fid, expected_version=1, user="an", role="editor", at=at(2))
    assert caught.value.current_version == 2
    with pytest.raises(ConflictError):
        floods.correct_report(store, fid, expected_version=1, user="an", role="editor",
                              reason="depth was misread", depth_cm=10)  # fmt: skip
    feature = store.get_feature(floods.REPORTS_LAYER, fid)
    assert feature.version == 2
    assert feature.props["ended_at"] is None
    assert feature.props["depth_cm"] == 30
    assert len(store.history(floods.REPORTS_LAYER)) == rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depth_cm": -1}, "depth_cm: expected 0 to 500"),
        ({"depth_cm": 600}, "depth_cm: expected 0 to 500"),
        ({"depth_cm": "abc"}, "depth_cm: expected a number"),
        ({"depth_cm": float("inf")}, "depth_cm: expected 0 to 500"),
        ({"source": "facebook"}, "source: expected one of field_officer"),
        ({"effect": "flooded"}, "effect: expected one of passable, closed"),
        ({"expected_end": T0 - timedelta(minutes=1)}, "expected_end: expected after"),
        ({"expected_end": T0}, "expected_end: expected after"),
        ({"observed_at": "14/10/2026 17:00"}, "observed_at: expected a date-time"),
        ({"observed_at": None}, "observed_at: expected a date-time"),
        ({"hours": 0}, "hours: expected 0 to 336"),
        ({"hours": 400}, "hours: expected 0 to 336"),
        ({"marked_as": "polygon"}, "marked_as: expected one of point, line"),
        ({"note": "x" * 1001}, "note: expected at most 1000 characters"),
    ],
)
def test_invalid_reports_are_refused(
    index: floods.SegmentIndex, run_segments: list[str], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(GISInputError, match=message):
        report(index, run_segments[:1], **change)


def test_an_invalid_report_writes_nothing(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    snap = index.from_segments(run_segments[:1])
    for change in ({"depth_cm": -1}, {"depth_cm": 600}, {"depth_cm": "abc"},
                   {"source": "facebook"}, {"effect": "flooded"},
                   {"expected_end": at(-1)}):  # fmt: skip
        fields: dict[str, Any] = {"depth_cm": 30, "observed_at": T0, "source": "camera", **change}
        with pytest.raises(GISInputError):
            floods.add_report(store, snap, user="an", role="editor", **fields)
    assert not store.has_layer(floods.REPORTS_LAYER)
    fid = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                            observed_at=T0, source="camera")  # fmt: skip
    with pytest.raises(GISInputError):
        floods.add_report(store, snap, user="an", role="editor", depth_cm=-5,
                          observed_at=T0, source="camera")  # fmt: skip
    assert floods.read_reports(store).index.tolist() == [fid]
    assert len(store.history(floods.REPORTS_LAYER)) == 1


def test_an_observation_in_the_future_is_refused(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    soon = floods.now_local() + timedelta(hours=1)
    with pytest.raises(GISInputError, match="observed_at: expected a time not in the future"):
        floods.add_report(store, index.from_segments(run_segments[:1]), user="an",
                          role="editor", depth_cm=30, observed_at=soon, source="camera")
    assert not store.has_layer(floods.REPORTS_LAYER)
    # a clock a few minutes fast is tolerated
    fid = floods.add_report(store, index.from_segments(run_segments[:1]), user="an",
                            role="editor", depth_cm=30, source="camera",
                            observed_at=floods.now_local() + timedelta(minutes=5))
    assert fid >= 1


def test_ending_before_the_observation_is_refused(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    fid = floods.add_report(store, index.from_segments(run_segments[:1]), user="an",
                            role="editor", depth_cm=30, observed_at=T0, source="camera")
    with pytest.raises(GISInputError, match="at: expected after the observation"):
        floods.end_report(store, fid, expected_version=1, user="an", role="editor",
                          at=at(-1))  # fmt: skip
    with pytest.raises(GISInputError, match="expected_end: expected after the observation"):
        floods.correct_report(store, fid, expected_version=1, user="an", role="editor",
                              reason="the end was mistyped", expected_end=at(-2))  # fmt: skip
    assert store.get_feature(floods.REPORTS_LAYER, fid).version == 1


# --- the state at past moments ----------------------------------------------------------------
@pytest.fixture
def two_reports(
    store: Store, index: floods.SegmentIndex, run_segments: list[str]
) -> tuple[Store, int, int]:
    """r1: 30 cm passable on segments 0-1 from T0 (expires T0+6h), confirmed at T0+2.5h;
    r2: 80 cm closed on segments 1-2 from T0+2h until T0+10h, ended at T0+8h."""
    r1 = floods.add_report(store, index.from_segments(run_segments[0:2]), user="an",
                           role="editor", depth_cm=30, observed_at=T0, source="camera")
    r2 = floods.add_report(store, index.from_segments(run_segments[1:3]), user="an",
                           role="editor", depth_cm=80, observed_at=at(2), source="sensor",
                           effect="closed", expected_end=at(10))  # fmt: skip
    floods.confirm_report(store, r1, expected_version=1, user="binh", role="approver",
                          at=at(2.5))  # fmt: skip
    floods.end_report(store, r2, expected_version=1, user="an", role="editor", at=at(8))
    return store, r1, r2


def test_the_state_at_past_moments(
    two_reports: tuple[Store, int, int], index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    store, r1, r2 = two_reports
    reports = floods.read_reports(store)
    s0, s1, s2 = run_segments[:3]

    def state(hours: float) -> pd.DataFrame:
        frame = floods.segment_state(index.segments, reports, at(hours))
        assert list(frame.columns) == [*floods.STATE_COLUMNS, "geometry"]
        assert frame.crs.to_epsg() == 4326
        return frame.set_index("segment_id")

    before = floods.segment_state(index.segments, reports, at(-1))
    assert before.empty
    t1 = state(1)  # only r1
    assert sorted(t1.index) == sorted([s0, s1])
    assert t1["depth_cm"].tolist() == [30.0, 30.0]
    assert not t1["closed"].any()
    assert t1["reports"].tolist() == [1, 1]
    assert t1.loc[s0, "since"] == "2026-10-14T17:00:00+07:00"
    assert t1.loc[s0, "until"] == "2026-10-14T23:00:00+07:00"
    assert t1.loc[s0, "sources"] == "camera"
    assert t1.loc[s0, "depth_class"] == "10-70"
    assert t1.loc[s0, "name"] == NKKN

    t2 = state(3)  # both live
    assert sorted(t2.index) == sorted([s0, s1, s2])
    assert t2.loc[s1, "depth_cm"] == 80.0  # the deepest
    assert t2.loc[s1, "depth_class"] == "71-150"
    assert bool(t2.loc[s1, "closed"]) is True  # closed if any closes it
    assert t2.loc[s1, "reports"] == 2
    assert t2.loc[s1, "report_ids"] == f"{r1},{r2}"
    assert t2.loc[s1, "sources"] == "camera, sensor"
    assert t2.loc[s1, "since"] == "2026-10-14T17:00:00+07:00"
    assert t2.loc[s1, "until"] == "2026-10-15T01:00:00+07:00"  # r2 ends at T0+8h (ended)
    assert (t2.loc[s0, "depth_cm"], bool(t2.loc[s0, "closed"])) == (30.0, False)
    assert (t2.loc[s2, "depth_cm"], bool(t2.loc[s2, "closed"])) == (80.0, True)

    t3 = state(7)  # r1 expired at T0+6h
    assert sorted(t3.index) == sorted([s1, s2])
    assert t3["reports"].tolist() == [1, 1]
    assert t3["report_ids"].tolist() == [str(r2), str(r2)]
    assert t3["closed"].all()

    after = state(9)  # r2 ended at T0+8h, before its expected end
    assert after.empty
    assert list(after.reset_index().columns) == [*floods.STATE_COLUMNS, "geometry"]
    assert floods.floods_for_routing(after.reset_index()) == {}


def test_confirmation_shows_from_when_it_was_given(
    two_reports: tuple[Store, int, int], index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    store, r1, _ = two_reports
    reports = floods.read_reports(store)
    for hours, confirmed in ((0, False), (2, False), (2.49, False), (2.5, True), (5, True)):
        state = floods.segment_state(index.segments, reports, at(hours)).set_index("segment_id")
        assert bool(state.loc[run_segments[0], "confirmed"]) is confirmed, hours
        assert bool(floods.report_status(reports, at(hours)).loc[r1, "confirmed"]) is confirmed


def test_street_events_lists_the_streets_reports_oldest_first(
    two_reports: tuple[Store, int, int], index: floods.SegmentIndex, run_segments: list[str]
) -> None:
    store, r1, r2 = two_reports
    other = floods.add_report(store, index.from_segments([PNT_SEGMENT]), user="an",
                              role="editor", depth_cm=None, observed_at=at(-3),
                              source="field_officer")  # fmt: skip
    earlier = floods.add_report(store, index.from_segments(run_segments[4:5]), user="an",
                                role="editor", depth_cm=160, observed_at=at(-1),
                                source="sensor")  # fmt: skip
    events = floods.street_events(floods.read_reports(store), index.street(NKKN))
    assert events["fid"].tolist() == [earlier, r1, r2]
    assert other not in events["fid"].tolist()
    assert events["depth_class"].tolist() == ["150+", "10-70", "71-150"]
    assert events["depth_cm"].tolist() == [160.0, 30.0, 80.0]
    assert events["observed_at"].tolist() == [
        "2026-10-14T16:00:00+07:00", "2026-10-14T17:00:00+07:00", "2026-10-14T19:00:00+07:00"]
    assert events["confirmed"].tolist() == [False, True, False]
    assert events["ends_at"].tolist()[1:] == ["2026-10-14T23:00:00+07:00",
                                              "2026-10-15T01:00:00+07:00"]  # fmt: skip
    assert events["effect"].tolist() == ["passable", "passable", "closed"]
    pnt = floods.street_events(floods.read_reports(store), index.street(PNT))
    assert pnt["fid"].tolist() == [other]
    assert pnt["depth_class"].tolist() == ["unknown"]
    assert floods.street_events(floods.read_reports(store), []).empty


# --- routing around floods --------------------------------------------------------------------
def flood_state(index: floods.SegmentIndex, ids: list[str], **fields: Any) -> pd.DataFrame:
    reports = reports_frame(report(index, ids, **fields))
    return floods.segment_state(index.segments, reports, at(1))


def test_a_closed_stretch_of_nkkn_forces_a_detour(
    graph: StreetGraph, index: floods.SegmentIndex, run_segments: list[str],
    ends: tuple[tuple[float, float], tuple[float, float]],
) -> None:  # fmt: skip
    middle = run_segments[1:-1]
    state = flood_state(index, middle, depth_cm=40, effect="closed")
    closures = floods.floods_for_routing(state)
    assert closures == {s: Flood(40.0, True) for s in middle}
    comparison = routing.compare(graph, *ends, floods=closures, max_depth_cm=20)
    assert comparison.shortest.segment_ids == run_segments
    assert comparison.shortest.length_m == pytest.approx(469.3, abs=0.1)
    assert comparison.blocked == middle
    assert comparison.safe is not None
    assert not set(comparison.safe.segment_ids) & set(state["segment_id"])
    assert comparison.detour_m is not None and comparison.detour_m > 0
    assert comparison.detour_m == pytest.approx(
        comparison.safe.length_m - comparison.shortest.length_m, abs=0.1)
    assert {n for n in comparison.safe.names if n} - {NKKN}  # it leaves the street


@pytest.mark.parametrize(("vehicle", "detours"), [("motorbike", True), ("car", False),
                                                  ("truck", False)])  # fmt: skip
def test_25_cm_stops_a_motorbike_not_a_car(
    graph: StreetGraph, index: floods.SegmentIndex, run_segments: list[str],
    ends: tuple[tuple[float, float], tuple[float, float]], vehicle: str, detours: bool,
) -> None:  # fmt: skip
    closures = floods.floods_for_routing(flood_state(index, run_segments[1:-1], depth_cm=25))
    limit = routing.VEHICLE_DEPTH_CM[vehicle]
    comparison = routing.compare(graph, *ends, floods=closures, max_depth_cm=limit)
    assert comparison.safe is not None
    assert bool(comparison.blocked) is detours
    assert (comparison.detour_m > 0) is detours  # type: ignore[operator]
    crosses = bool(set(comparison.safe.segment_ids) & set(closures))
    assert crosses is not detours


def test_unknown_depth_is_avoided_by_vehicles_with_a_limit(
    graph: StreetGraph, index: floods.SegmentIndex, run_segments: list[str],
    ends: tuple[tuple[float, float], tuple[float, float]],
) -> None:  # fmt: skip
    closures = floods.floods_for_routing(flood_state(index, run_segments[1:-1], depth_cm=None))
    assert set(closures.values()) == {Flood(None, False)}
    assert routing.compare(graph, *ends, floods=closures, max_depth_cm=50).detour_m > 0  # type: ignore[operator]
    assert routing.compare(graph, *ends, floods=closures, max_depth_cm=None).detour_m == 0


def test_a_closure_that_cuts_every_way_leaves_no_safe_route(
    graph: StreetGraph, index: floods.SegmentIndex, edges: gpd.GeoDataFrame,
    ends: tuple[tuple[float, float], tuple[float, float]],
) -> None:  # fmt: skip
    into = edges.loc[edges["v"] == DIEN_BIEN_PHU, "segment_id"].tolist()
    assert len(into) >= 2
    closures = floods.floods_for_routing(flood_state(index, into, effect="closed"))
    comparison = routing.compare(graph, *ends, floods=closures, max_depth_cm=None)
    assert comparison.safe is None
    assert comparison.detour_m is None
    assert comparison.blocked == [comparison.shortest.segment_ids[-1]]


# --- summary ----------------------------------------------------------------------------------
def test_summary_counts_both_directions_once(
    index: floods.SegmentIndex, edges: gpd.GeoDataFrame, run_segments: list[str]
) -> None:
    reports = reports_frame(
        report(index, [PNT_SEGMENT], depth_cm=20, effect="closed"),
        report(index, run_segments[:1], depth_cm=120),
    )
    state = floods.segment_state(index.segments, reports, at(1))
    assert sorted(state["segment_id"]) == sorted([PNT_SEGMENT, PNT_TWIN, run_segments[0]])
    figures = floods.summary(state, edges)
    assert figures == {"segments": 2, "streets": 2, "closed": 1, "deepest_cm": 120.0,
                       "length_m": pytest.approx(95.65 + 192.32, abs=0.05)}  # fmt: skip
    nothing = floods.segment_state(index.segments, reports, at(-1))
    assert floods.summary(nothing, edges) == {"segments": 0, "streets": 0, "closed": 0,
                                              "deepest_cm": None, "length_m": 0.0}  # fmt: skip


# --- flood-prone streets ----------------------------------------------------------------------
def test_designate_a_whole_street_by_name(store: Store, index: floods.SegmentIndex) -> None:
    fid = floods.designate(store, index, street=NKKN, reason="ngập khi mưa lớn",
                           programme="Chống ngập 2026", user="an", role="editor")  # fmt: skip
    feature = store.get_feature(floods.PRONE_LAYER, fid)
    assert feature.version == 1
    assert feature.props["scope"] == "street"
    assert sorted(floods.segment_list(feature.props["segment_ids"])) == sorted(index.street(NKKN))
    assert len(floods.segment_list(feature.props["segment_ids"])) == 33
    assert feature.props["designated_by"] == "an"
    assert feature.geometry is not None and metric(feature.geometry).length > 1500
    for written in (NKKN, "nam ky khoi nghia"):
        with pytest.raises(RuleError, match=f"already flood-prone \\(record {fid}\\)"):
            floods.designate(store, index, street=written, user="an", role="editor")
    assert len(floods.read_prone(store)) == 1
    table = floods.programme_status(floods.read_prone(store), index, [NKKN, "Pasteur"])
    assert table.to_dict("records") == [
        {"street": NKKN, "segments": 33, "designated": True},
        {"street": "Pasteur", "segments": 14, "designated": False},
    ]


def test_a_street_outside_the_network_is_not_found(
    store: Store, index: floods.SegmentIndex
) -> None:
    with pytest.raises(NotFoundError, match="import the ward's streets"):
        floods.designate(store, index, street="Quốc Hương", user="an", role="editor")
    with pytest.raises(NotFoundError, match="not in the street network"):
        floods.designate(store, index, street=PNT, segment_ids=["1-2-0"], user="an",
                         role="editor")  # fmt: skip
    assert not store.has_layer(floods.PRONE_LAYER)


def test_designate_segments_takes_their_twins_and_works_are_versioned(
    store: Store, index: floods.SegmentIndex
) -> None:
    fid = floods.designate(store, index, street=PNT, segment_ids=[PNT_SEGMENT], user="an",
                           role="editor")  # fmt: skip
    feature = store.get_feature(floods.PRONE_LAYER, fid)
    assert feature.props["scope"] == "segments"
    assert sorted(floods.segment_list(feature.props["segment_ids"])) == sorted(
        [PNT_SEGMENT, PNT_TWIN])
    assert feature.geometry is not None
    assert metric(feature.geometry).length == pytest.approx(95.5, abs=1)  # one physical street
    with pytest.raises(GISInputError, match=r"works\[0\]\.status: expected one of planned"):
        floods.update_prone(store, fid, expected_version=1, user="an", role="editor",
                            works=[{"name": "Nâng cấp cống", "status": "started"}])
    with pytest.raises(GISInputError, match=r"works\[0\]\.end: expected on or after 2026-03-01"):
        floods.update_prone(store, fid, expected_version=1, user="an", role="editor",
                            works=[{"name": "Nâng cấp cống", "start": "2026-03-01",
                                    "end": "2026-02-01"}])  # fmt: skip
    with pytest.raises(GISInputError, match=r"works\[0\]\.name: expected the works' name"):
        floods.update_prone(store, fid, expected_version=1, user="an", role="editor",
                            works=[{"status": "planned"}])
    with pytest.raises(GISInputError, match=r"works\[0\]\.start: expected a date"):
        floods.update_prone(store, fid, expected_version=1, user="an", role="editor",
                            works=[{"name": "x", "start": "05/01/2026"}])
    with pytest.raises(PermissionDeniedError, match="a viewer may not edit flood-prone"):
        floods.update_prone(store, fid, expected_version=1, user="an", role="viewer",
                            works=[{"name": "x"}])
    assert store.get_feature(floods.PRONE_LAYER, fid).version == 1
    works = [{"name": "Nâng cấp cống", "status": "in_progress", "start": "2026-01-05"}]
    floods.update_prone(store, fid, expected_version=1, user="an", role="editor", works=works)
    feature = store.get_feature(floods.PRONE_LAYER, fid)
    assert feature.version == 2
    assert floods.check_works(feature.props["works"]) == [
        {"name": "Nâng cấp cống", "status": "in_progress", "start": "2026-01-05", "end": None,
         "note": ""}]  # fmt: skip
    with pytest.raises(ConflictError):
        floods.update_prone(store, fid, expected_version=1, user="an", role="editor",
                            works=[])  # fmt: skip
    assert store.history(floods.PRONE_LAYER, fid)["reason"].tolist()[-1] == "works updated"


def test_a_viewer_cannot_designate(store: Store, index: floods.SegmentIndex) -> None:
    with pytest.raises(PermissionDeniedError, match="a viewer may not designate"):
        floods.designate(store, index, street=NKKN, user="v", role="viewer")
    assert not store.has_layer(floods.PRONE_LAYER)


def test_the_programme_streets_are_not_in_the_sample(index: floods.SegmentIndex) -> None:
    none = pd.DataFrame({"street": pd.Series(dtype=object)})
    table = floods.programme_status(none, index, PROGRAMME)
    assert table.to_dict("records") == [
        {"street": name, "segments": 0, "designated": False} for name in PROGRAMME
    ]
    assert floods.programme_status(pd.DataFrame(), None, PROGRAMME)["segments"].tolist() == [0] * 3


# --- fetching streets offline -----------------------------------------------------------------
WARD = LineString([(106.686, 10.784), (106.690, 10.786)]).buffer(0.002)


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache-folder"])
def test_fetch_streets_offline_is_a_fetch_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    cache_dir = tmp_path / "osm-cache" if cache else None
    names = ("use_cache", "cache_folder", "requests_timeout", "overpass_rate_limit")
    saved = {name: getattr(ox.settings, name) for name in names}
    seen: dict[str, Any] = {}

    def offline(polygon: BaseGeometry, **kwargs: Any) -> nx.MultiDiGraph:
        seen.update({name: getattr(ox.settings, name) for name in names}, polygon=polygon)
        # what osmnx does with a response: save it in its cache folder when caching
        ox._http._save_to_cache("https://overpass.example/interpreter?q=1", {"elements": []},
                                True)  # fmt: skip
        raise requests.ConnectionError("Failed to resolve 'overpass-api.de'")

    monkeypatch.setattr(ox, "graph_from_polygon", offline)
    with pytest.raises(FetchError, match="offline") as caught:
        streets.fetch_streets(WARD, margin_m=300, cache_dir=cache_dir, timeout_s=5)
    assert "Import an .osm or .osm.pbf extract" in str(caught.value)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert seen["requests_timeout"] == 5
    assert seen["overpass_rate_limit"] is False
    assert seen["use_cache"] is cache
    if cache:
        assert seen["cache_folder"] == str(cache_dir)
        assert len(list(cache_dir.glob("*.json"))) == 1  # type: ignore[union-attr]
    assert seen["polygon"].contains(WARD)  # the ward and a margin
    assert not (work / "cache").exists()
    assert list(work.iterdir()) == []
    assert {name: getattr(ox.settings, name) for name in names} == saved


@pytest.mark.parametrize(
    ("error", "message"),
    [(requests.Timeout("read timed out"), "offline"),
     (OSError("Network is unreachable"), "offline"),
     (ValueError("Found no graph nodes within the requested polygon"), "returned no streets")],
)  # fmt: skip
def test_fetch_streets_failures_are_fetch_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: Exception, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    use_cache = ox.settings.use_cache

    def failing(polygon: BaseGeometry, **kwargs: Any) -> nx.MultiDiGraph:
        raise error

    monkeypatch.setattr(ox, "graph_from_polygon", failing)
    with pytest.raises(FetchError, match=message):
        streets.fetch_streets(WARD)
    assert ox.settings.use_cache == use_cache
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("polygon", "margin", "message"), [
    (Point(0, 0).buffer(0), 300.0, "empty geometry"),
    (WARD, -1.0, "margin_m: expected 0 to 5000"),
    (WARD, 6000.0, "margin_m: expected 0 to 5000"),
])  # fmt: skip
def test_fetch_streets_checks_its_arguments(
    polygon: BaseGeometry, margin: float, message: str
) -> None:
    with pytest.raises(GISInputError, match=message):
        streets.fetch_streets(polygon, margin_m=margin)


# --- review findings ---------------------------------------------------------------------------
def test_summary_takes_nodes_from_the_columns_not_the_id_text(
    index: floods.SegmentIndex, edges: gpd.GeoDataFrame
) -> None:
    """JOSM files carry negative ids: "-103--104-0" is no "u-v" text to split."""
    negative = edges.copy()
    negative["u"], negative["v"] = -negative["u"], -negative["v"]
    parts = zip(negative["u"], negative["v"], negative["key"], strict=True)
    negative["segment_id"] = [f"{u}-{v}-{k}" for u, v, k in parts]
    mapping = dict(zip(edges["segment_id"], negative["segment_id"], strict=True))
    state = floods.segment_state(
        negative, reports_frame(report(index, [PNT_SEGMENT], depth_cm=20)).assign(
            segment_ids=[[mapping[PNT_SEGMENT], mapping[PNT_TWIN]]]), at(1),
    )  # fmt: skip
    assert floods.summary(state, negative)["segments"] == 1


def test_a_new_network_moves_live_reports_onto_it(
    store: Store, edges: gpd.GeoDataFrame, index: floods.SegmentIndex
) -> None:
    """Review finding: replacing the network silently dropped live reports from the map."""
    streets.save_streets(store, edges, source="OpenStreetMap: old", user="an")
    snap = index.snap(*beside(index.segments.set_index("segment_id").loc[PNT_SEGMENT, "geometry"],
                              3))  # fmt: skip
    now = floods.now_local()
    fid = floods.add_report(store, snap, user="an", role="editor", depth_cm=30,
                            observed_at=now - timedelta(hours=1), source="camera")  # fmt: skip
    renamed = edges.copy()  # the same streets under new ids, as after OSM splits a way
    renamed["segment_id"] = renamed["segment_id"] + "-new"
    reports = floods.read_reports(store)
    assert len(floods.off_network(reports, renamed)) == 1
    assert floods.segment_state(renamed, reports).empty  # what the planner would not see
    count, moved = floods.replace_network(store, renamed, source="OpenStreetMap: new",
                                          user="an", role="editor")  # fmt: skip
    assert (count, moved) == (SEGMENTS, [fid])
    reports = floods.read_reports(store)
    assert floods.off_network(reports, renamed).empty
    state = floods.segment_state(renamed, reports)
    assert sorted(state["segment_id"]) == sorted([PNT_SEGMENT + "-new", PNT_TWIN + "-new"])
    history = store.history(floods.REPORTS_LAYER, fid)
    assert history.iloc[-1]["reason"] == "re-snapped to the new street network"
    with pytest.raises(PermissionDeniedError):
        floods.replace_network(store, renamed, source="x", user="v", role="viewer")


def test_a_route_end_far_off_the_network_is_refused(graph: StreetGraph) -> None:
    """Review finding: an origin in Hanoi routed happily from the nearest HCMC node."""
    with pytest.raises(NotFoundError, match="within 300 m of the street network"):
        graph.route((105.85, 21.02), graph.coords[DIEN_BIEN_PHU])


def test_a_trip_starting_on_a_closed_segment_says_so(
    graph: StreetGraph, by_id: gpd.GeoDataFrame
) -> None:
    """Review finding: a start on a closed street was reported as a clear route."""
    line = by_id.loc[PNT_SEGMENT, "geometry"]
    start = line.interpolate(0.45, normalized=True)
    closures = {PNT_SEGMENT: Flood(100, True), PNT_TWIN: Flood(100, True)}
    comparison = routing.compare(graph, (start.x, start.y), graph.coords[DIEN_BIEN_PHU],
                                 floods=closures, max_depth_cm=20)  # fmt: skip
    assert set(comparison.at_ends) == {PNT_SEGMENT, PNT_TWIN}
