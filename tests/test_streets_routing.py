"""Street network from the real OSM sample (central HCMC) and routes around flooded segments."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest

from geo.errors import UploadError
from geo.routing import VEHICLE_DEPTH_CM, Flood, NoRouteError, StreetGraph
from geo.store import Store
from geo.streets import STREETS_LAYER, edges_frame, read_osm

NKKN = "Nam Kỳ Khởi Nghĩa"


@pytest.fixture(scope="module")
def osm_file(shared_data: Path) -> Path:
    path = shared_data / "osm" / "hcmc_district3_sample.osm"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def edges(osm_file: Path) -> gpd.GeoDataFrame:
    return edges_frame(read_osm(osm_file))


@pytest.fixture(scope="module")
def streets(edges: gpd.GeoDataFrame) -> StreetGraph:
    return StreetGraph(edges)


@pytest.fixture(scope="module")
def along_nkkn(
    edges: gpd.GeoDataFrame, streets: StreetGraph
) -> tuple[list[int], list[str]]:
    """Nam Kỳ Khởi Nghĩa between its first and last crossing with another street (one that
    joins the rest of the network both ways), in its (one-way) direction: the nodes and the
    segment ids."""
    own = edges[edges["name"] == NKKN]
    graph = nx.DiGraph()
    for row in own.itertuples(index=False):
        graph.add_edge(int(row.u), int(row.v), segment=row.segment_id, length=row.length_m)
    best: list[int] = []
    for start in graph.nodes:
        lengths, paths = nx.single_source_dijkstra(graph, start, weight="length")
        end = max(lengths, key=lambda n: lengths[n])
        if len(paths[end]) > len(best):
            best = paths[end]
    other = edges[edges["name"] != NKKN]
    leaves = set(other["u"]) & streets.core  # where one can turn off the street
    enters = set(other["v"]) & streets.core  # where one can turn onto it
    first = next(i for i, n in enumerate(best) if n in leaves)
    last = max(i for i, n in enumerate(best) if n in enters)
    run = best[first : last + 1]
    segments = [graph[u][v]["segment"] for u, v in itertools.pairwise(run)]
    assert len(segments) >= 5
    return run, segments


def _lonlat(streets: StreetGraph, node: int) -> tuple[float, float]:
    return streets.coords[node]


def _length(streets: StreetGraph, segment: str) -> float:
    return float(streets.edges.set_index("segment_id").loc[segment, "length_m"])


def test_the_real_sample_reads_as_a_drivable_network(edges: gpd.GeoDataFrame) -> None:
    assert len(edges) == 999  # 1,303 edges less footways, steps and untagged ways
    assert edges["segment_id"].is_unique
    assert edges.crs.to_epsg() == 4326
    assert (edges["length_m"] > 0).all()
    assert {NKKN, "Hai Bà Trưng", "Võ Thị Sáu", "Điện Biên Phủ"} <= set(edges["name"].dropna())
    nkkn = edges[edges["name"] == NKKN]
    assert nkkn["oneway"].all()  # one way on this stretch, as in reality
    assert 1500 < nkkn["length_m"].sum() < 5000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body>not osm</body></html>", "expected an <osm> document"),
        (b"<osm version='0.6'><node id='1'", "does not parse"),
        (b"\x89PNG\r\n\x1a\n", "does not parse"),
        (b"<osm version='0.6'><node id='1' lat='10.78' lon='106.69'/></osm>", "street"),
    ],
)
def test_broken_osm_files_are_refused_with_a_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.osm"
    path.write_bytes(content)
    with pytest.raises(UploadError, match=message):
        read_osm(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match=r"expected an existing \.osm file"):
        read_osm(tmp_path / "none.osm")


def test_the_network_round_trips_through_the_store(store: Store, edges: gpd.GeoDataFrame) -> None:
    store.write_layer(STREETS_LAYER, edges, title="Đường phố (OSM)", source="© OpenStreetMap")
    back = store.read_layer(STREETS_LAYER)
    assert len(back) == len(edges)
    graph = StreetGraph(back.drop(columns="_version"))
    assert graph.graph.number_of_edges() == len(edges)


def test_the_shortest_route_follows_nam_ky_khoi_nghia(
    streets: StreetGraph, along_nkkn: tuple[list[int], list[str]]
) -> None:
    nodes, segments = along_nkkn
    route = streets.route(_lonlat(streets, nodes[0]), _lonlat(streets, nodes[-1]))
    on_street = sum(
        _length(streets, s) for s, n in zip(route.segment_ids, route.names, strict=True)
        if n == NKKN
    )  # fmt: skip
    assert on_street / route.length_m > 0.5  # mostly along the street
    assert route.length_m == pytest.approx(
        sum(_length(streets, s) for s in route.segment_ids), abs=0.5
    )
    assert route.length_m <= sum(_length(streets, s) for s in segments) + 0.5  # the shortest
    assert route.geometry.length > 0


def test_flooding_nam_ky_khoi_nghia_forces_a_detour_off_it(
    streets: StreetGraph, along_nkkn: tuple[list[int], list[str]]
) -> None:
    nodes, segments = along_nkkn
    origin, destination = _lonlat(streets, nodes[0]), _lonlat(streets, nodes[-1])
    shortest = streets.route(origin, destination)
    middle = segments[1:-1]
    assert set(shortest.segment_ids) & set(middle)  # the shortest way uses the street
    floods = {s: Flood(depth_cm=40, closed=True) for s in middle}
    edges_before = streets.graph.number_of_edges()
    detour = streets.route(origin, destination, floods=floods)
    assert not set(detour.segment_ids) & set(middle)
    assert detour.length_m > shortest.length_m
    assert {n for n in detour.names if n} - {NKKN}  # it leaves the street
    assert streets.graph.number_of_edges() == edges_before  # no copy, no change


@pytest.mark.parametrize(("vehicle", "avoids"), [("motorbike", True), ("car", False),
                                                  ("truck", False)])  # fmt: skip
def test_depth_thresholds_by_vehicle(
    streets: StreetGraph, along_nkkn: tuple[list[int], list[str]], vehicle: str, avoids: bool
) -> None:
    nodes, segments = along_nkkn
    flooded = {s: Flood(depth_cm=25) for s in segments[1:-1]}  # passable by car, not by bike
    route = streets.route(
        _lonlat(streets, nodes[0]), _lonlat(streets, nodes[-1]), floods=flooded,
        max_depth_cm=VEHICLE_DEPTH_CM[vehicle],
    )  # fmt: skip
    assert bool(set(route.segment_ids) & set(flooded)) is not avoids


def test_unknown_depth_is_avoided_when_a_vehicle_has_a_limit(
    streets: StreetGraph, along_nkkn: tuple[list[int], list[str]]
) -> None:
    nodes, segments = along_nkkn
    unknown = {s: Flood(depth_cm=None) for s in segments[1:-1]}
    ends = _lonlat(streets, nodes[0]), _lonlat(streets, nodes[-1])
    assert set(streets.route(*ends, floods=unknown).segment_ids) & set(unknown)
    assert not set(streets.route(*ends, floods=unknown, max_depth_cm=30).segment_ids) & set(unknown)


def test_no_route_is_said_plainly(streets: StreetGraph, edges: gpd.GeoDataFrame) -> None:
    target = int(edges["v"].iloc[0])
    closed = {
        s: Flood(closed=True) for s in edges.loc[edges["v"] == target, "segment_id"]
    }  # every way in
    origin = _lonlat(streets, int(edges["u"].iloc[-1]))
    with pytest.raises(NoRouteError, match="no open route"):
        streets.route(origin, _lonlat(streets, target), floods=closed)
