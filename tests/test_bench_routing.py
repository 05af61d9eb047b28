"""The routing benchmark's synthetic network is a sound street network, and a flood-avoiding
route on it is the shortest path on a copy with the blocked segments removed."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import pytest

from bench.routing import synthetic_network
from geo.routing import Flood, StreetGraph


@pytest.fixture(scope="module")
def edges() -> gpd.GeoDataFrame:
    return synthetic_network(2_000)


@pytest.fixture(scope="module")
def streets(edges: gpd.GeoDataFrame) -> StreetGraph:
    return StreetGraph(edges)


def test_network_is_sound(edges: gpd.GeoDataFrame) -> None:
    assert len(edges) >= 2_000
    assert edges.crs is not None and edges.crs.to_epsg() == 4326
    assert edges["segment_id"].is_unique
    assert (edges["length_m"] > 0).all()
    assert set(edges.geom_type) == {"LineString"}
    assert str(edges["u"].dtype) == "int64" and str(edges["v"].dtype) == "int64"
    assert (
        edges["segment_id"] == edges["u"].astype(str) + "-" + edges["v"].astype(str) + "-0"
    ).all()
    # around HCMC, about 110 m between intersections
    minx, miny, maxx, maxy = edges.total_bounds
    assert 106.6 < minx < maxx < 106.9 and 10.7 < miny < maxy < 10.9
    assert 60 < edges["length_m"].median() < 160
    assert edges["name"].str.startswith("Đường số").any()


def test_two_way_streets_have_reverse_twins(edges: gpd.GeoDataFrame) -> None:
    by_ends = {(u, v): g for u, v, g in zip(edges["u"], edges["v"], edges.geometry, strict=True)}
    two_way = edges[~edges["oneway"]]
    one_way = edges[edges["oneway"]]
    assert len(two_way) and len(one_way)
    for u, v, line in zip(two_way["u"], two_way["v"], two_way.geometry, strict=True):
        twin = by_ends.get((v, u))
        assert twin is not None, f"{u}-{v} has no reverse twin"
        assert twin.equals(line.reverse())
    assert not any((v, u) in by_ends for u, v in zip(one_way["u"], one_way["v"], strict=True))


def test_network_is_not_a_lattice_but_joined(edges: gpd.GeoDataFrame, streets: StreetGraph) -> None:
    graph = nx.Graph(list(zip(edges["u"], edges["v"], strict=True)))
    n = graph.number_of_nodes()
    full = 2 * n - 2 * math.sqrt(n)  # links of a complete square lattice of n intersections
    assert graph.number_of_edges() < 0.97 * full  # some links are left out
    assert len(max(nx.connected_components(graph), key=len)) >= 0.95 * n
    assert len(streets.core) >= 0.9 * n  # one-way streets do not cut off much


def test_same_seed_same_network() -> None:
    first, second = synthetic_network(500, seed=3), synthetic_network(500, seed=3)
    assert first["segment_id"].tolist() == second["segment_id"].tolist()
    assert first.geometry.equals(second.geometry)
    assert synthetic_network(500, seed=4)["segment_id"].tolist() != first["segment_id"].tolist()


def test_flood_avoiding_route_matches_networkx_on_a_copy(streets: StreetGraph) -> None:
    core = sorted(streets.core)
    origin, destination = streets.coords[core[0]], streets.coords[core[-1]]
    dry = streets.route(origin, destination)
    inner = dry.segment_ids[2:-2]
    assert len(inner) >= 6
    closed = inner[::3]
    floods: dict[str, Flood] = {}
    for sid in closed:
        u, v = streets.ends(sid)
        for key in [sid, *streets.graph.get_edge_data(v, u, default={})]:
            floods[str(key)] = Flood(40.0, closed=True)
    shallow = next(s for s in inner if s not in floods)
    floods[shallow] = Flood(10.0)  # passable for a 20 cm vehicle

    route = streets.route(origin, destination, floods=floods, max_depth_cm=20.0)
    blocked = {s for s, f in floods.items() if f.closed}
    assert not blocked & set(route.segment_ids)
    assert route.length_m > dry.length_m

    copy = streets.graph.copy()
    copy.remove_edges_from([(*streets.ends(s), s) for s in blocked])
    s, t = streets.nearest_node(*origin), streets.nearest_node(*destination)
    expected = nx.shortest_path_length(copy, s, t, weight="length")
    assert route.length_m == pytest.approx(expected, abs=0.1)
    assert streets.graph.number_of_edges() == copy.number_of_edges() + len(blocked)
