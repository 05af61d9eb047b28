"""Flood-avoiding routes on a 50,000-edge street network, beside copying or rebuilding the graph."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from functools import partial

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from bench.common import heading, once, row, timed
from geo.routing import Flood, Route, StreetGraph

LON0, LAT0 = 106.73, 10.79
"""The middle of the synthetic network (Thủ Đức / Bình Thạnh, HCMC)."""
SPACING_DEG = 1e-3
"""Distance between neighbouring intersections (about 110 m)."""
JITTER_DEG = 2.5e-4
"""Each intersection moves up to this much from the lattice, either way."""
DROP_LINKS = 0.07
"""Share of street links left out (buildings, dead ends), so the grid is not a lattice."""
ONE_WAY_EVERY = 8
"""Every eighth street one way eastward or northward, every eighth (offset) the other way."""
BRIDGE_EVERY = 9
"""The canal across the network is crossed by one street in this many."""
NODE_BASE = 9_000_000_000
"""Node ids start here (OSM-like large integers, and never clash with real OSM nodes)."""
MAX_DEPTH_CM = 20.0
"""The vehicle of the benchmark: a motorbike."""
NAMED = (
    "Điện Biên Phủ", "Nguyễn Thị Minh Khai", "Võ Văn Tần", "Cách Mạng Tháng Tám",
    "Xô Viết Nghệ Tĩnh", "Nguyễn Hữu Cảnh", "Đinh Bộ Lĩnh", "Bạch Đằng", "Phan Đăng Lưu",
    "Nơ Trang Long", "Lê Quang Định", "Nguyễn Xí", "Ung Văn Khiêm", "Nguyễn Gia Trí",
)  # fmt: skip
"""Real HCMC street names given to every tenth street (the arterials)."""

_GEOD = Geod(ellps="WGS84")


def synthetic_network(n_edges_min: int = 50_000, seed: int = 7) -> gpd.GeoDataFrame:
    """A city street network of at least ``n_edges_min`` directed segments around HCMC.

    A jittered grid of intersections about 110 m apart; every street is a row or a column of
    the grid, named "Đường số N" (every tenth one an arterial with a real name). About 7 % of
    the links between intersections are left out, a canal crosses the network with a bridge
    every ninth street, and one street in four is one way. A two-way street has one segment
    per direction, the reverse twin with the reversed line.

    Parameters
    ----------
    n_edges_min
        The fewest directed segments wanted; the grid grows until it has them.
    seed
        The random seed: the same seed gives the same network.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per directed segment (EPSG:4326) with ``segment_id`` ("u-v-0"), ``u``, ``v``,
        ``key``, ``name``, ``highway``, ``oneway``, ``length_m`` and a two-point LineString,
        the columns of :func:`geo.streets.edges_frame`.
    """
    # directed segments per intersection: 2 links × 2 directions, less dropped and one-way
    per_node = 4 * (1 - DROP_LINKS) * (1 - 1 / ONE_WAY_EVERY)
    side = max(3, math.ceil(math.sqrt(max(n_edges_min, 1) / per_node)))
    while True:
        edges = _grid(side, side, seed)
        if len(edges) >= n_edges_min:
            return edges
        side += 1


def _grid(nx_: int, ny: int, seed: int) -> gpd.GeoDataFrame:
    """The network on an ``nx_`` × ``ny`` grid of intersections (see synthetic_network)."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(nx_), np.arange(ny), indexing="ij")
    lon = LON0 + (ii - (nx_ - 1) / 2) * SPACING_DEG + rng.uniform(-1, 1, ii.shape) * JITTER_DEG
    lat = LAT0 + (jj - (ny - 1) / 2) * SPACING_DEG + rng.uniform(-1, 1, ii.shape) * JITTER_DEG
    node = np.arange(nx_ * ny, dtype=np.int64).reshape(nx_, ny)

    # links: along rows (eastward, street = the row) then along columns (northward)
    a = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
    b = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
    across = np.concatenate([jj[:-1, :].ravel(), ii[:, :-1].ravel()])  # row or column index
    vertical = np.concatenate(
        [np.zeros((nx_ - 1) * ny, dtype=bool), np.ones(nx_ * (ny - 1), dtype=bool)]
    )
    street = np.where(vertical, ny + across, across)  # one number per street

    keep = rng.random(len(a)) >= DROP_LINKS
    canal = ny // 3  # between rows canal and canal + 1, bridged every BRIDGE_EVERY columns
    from_row = np.concatenate([jj[:-1, :].ravel(), jj[:, :-1].ravel()])
    keep &= ~(vertical & (from_row == canal) & (across % BRIDGE_EVERY != BRIDGE_EVERY // 2))

    # direction: 0 both ways, +1 only a → b (east or north), -1 only b → a
    phase = street % ONE_WAY_EVERY
    direction = np.where(phase == 3, 1, np.where(phase == 3 + ONE_WAY_EVERY // 2, -1, 0))
    a, b, street, direction = a[keep], b[keep], street[keep], direction[keep]

    forward, backward = direction >= 0, direction <= 0
    u = np.concatenate([a[forward], b[backward]])
    v = np.concatenate([b[forward], a[backward]])
    streets = np.concatenate([street[forward], street[backward]])
    oneway = np.concatenate([direction[forward] != 0, direction[backward] != 0])
    order = np.lexsort((v, u))  # twins need not be adjacent; a stable, readable order
    u, v, streets, oneway = u[order], v[order], streets[order], oneway[order]

    flat_lon, flat_lat = lon.ravel(), lat.ravel()
    coords = np.stack(
        [np.column_stack([flat_lon[u], flat_lat[u]]), np.column_stack([flat_lon[v], flat_lat[v]])],
        axis=1,
    )
    lines = shapely.linestrings(coords)
    _, _, length = _GEOD.inv(flat_lon[u], flat_lat[u], flat_lon[v], flat_lat[v])

    names = np.array(
        [
            NAMED[(s // 10) % len(NAMED)] if s % 10 == 5 else f"Đường số {s + 1}"
            for s in range(nx_ + ny)
        ],
        dtype=object,
    )
    arterial = streets % 10 == 5
    highway = np.where(arterial, "primary", np.where(oneway, "secondary", "residential"))
    u_id, v_id = u + NODE_BASE, v + NODE_BASE
    segment_id = pd.Series(u_id).astype(str) + "-" + pd.Series(v_id).astype(str) + "-0"
    return gpd.GeoDataFrame(
        {
            "segment_id": segment_id.to_numpy(dtype=object),
            "u": u_id.astype("int64"),
            "v": v_id.astype("int64"),
            "key": np.zeros(len(u), dtype="int64"),
            "osmid": (streets + NODE_BASE).astype("int64"),  # one "way" per street
            "name": names[streets],
            "highway": highway.astype(object),
            "oneway": oneway,
            "length_m": np.round(np.asarray(length, dtype=float), 2),
        },
        geometry=lines,
        crs=4326,
    )


def _blocked_ids(floods: Mapping[str, Flood], max_depth_cm: float) -> list[str]:
    """The segments a vehicle passing ``max_depth_cm`` may not use (closed, deeper, unknown)."""
    return [
        sid
        for sid, f in floods.items()
        if f.closed or f.depth_cm is None or f.depth_cm > max_depth_cm
    ]


def _path_length(graph: nx.MultiDiGraph, path: Sequence[int]) -> float:
    """The length (m) of a node path, over the shortest of any parallel segments."""
    return sum(min(d["length"] for d in graph[p][q].values()) for p, q in itertools.pairwise(path))


def _pairs(
    sg: StreetGraph, count: int, rng: np.random.Generator, low_m: float, high_m: float
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """``count`` origin/destination pairs (lon, lat) at routable intersections, between
    ``low_m`` and ``high_m`` metres apart as the crow flies."""
    nodes = np.array(sorted(sg.core))
    xy = np.array([sg.coords[int(n)] for n in nodes])
    pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    while len(pairs) < count:
        i, j = rng.integers(0, len(nodes), 2)
        _, _, d = _GEOD.inv(xy[i, 0], xy[i, 1], xy[j, 0], xy[j, 1])
        if low_m <= d <= high_m:
            pairs.append(((float(xy[i, 0]), float(xy[i, 1])), (float(xy[j, 0]), float(xy[j, 1]))))
    return pairs


def _flood_set(
    sg: StreetGraph,
    routes: Sequence[Route],
    ends: set[int],
    n_links: int,
    rng: np.random.Generator,
) -> dict[str, Flood]:
    """About ``n_links`` flooded links (both directions) on and beside ``routes``: a third
    closed, the rest of mixed depth, one in ten of unknown depth. Links touching a route's
    ``ends`` stay dry, so every trip can at least start."""
    on_route: set[tuple[int, int]] = set()
    beside: set[tuple[int, int]] = set()
    for route in routes:
        for sid in route.segment_ids:
            u, v = sg.ends(sid)
            on_route.add((min(u, v), max(u, v)))
            for node in (u, v):
                for w in itertools.chain(sg.graph.successors(node), sg.graph.predecessors(node)):
                    beside.add((min(node, w), max(node, w)))
    on_list = sorted(link for link in on_route if not (set(link) & ends))
    beside_list = sorted(link for link in beside - on_route if not (set(link) & ends))
    n_on = min(len(on_list), n_links // 2)
    picked = [on_list[i] for i in rng.choice(len(on_list), n_on, replace=False)]
    n_beside = min(len(beside_list), n_links - n_on)
    picked += [beside_list[i] for i in rng.choice(len(beside_list), n_beside, replace=False)]
    depths = np.array([5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0])
    floods: dict[str, Flood] = {}
    for p, q in picked:
        draw = rng.random()
        if draw < 1 / 3:
            flood = Flood(float(rng.choice(depths[3:])), closed=True)
        elif draw < 0.43:
            flood = Flood(None)
        else:
            flood = Flood(float(rng.choice(depths)))
        for u, v in ((p, q), (q, p)):
            for key in sg.graph.get_edge_data(u, v, default={}):
                floods[str(key)] = flood
    return floods


def run() -> dict[str, float]:
    """Time flood-avoiding routes on a synthetic 50,000-edge network, beside the naive ways.

    Our route (:meth:`geo.routing.StreetGraph.route`) applies the floods in the weight
    function of a graph built once. Naive A copies the graph per query and removes the
    blocked segments; naive B builds a fresh graph (lengths only, no geometry) from the
    edges frame less the blocked segments. Every route's length is checked against both.

    Returns
    -------
    dict of str to float
        ``route_ms`` (median flood-avoiding query), ``route_swap_ms`` (median query right
        after the flood set changed), ``route_naive_copy_ms``, ``route_naive_rebuild_ms``
        (their medians), ``route_dry_ms`` (median query with no floods), ``build_s``
        (StreetGraph once), ``network_s`` (making the synthetic network), ``edges``,
        ``queries``, ``flooded_segments`` and ``detours`` (trips the water made longer).

    Raises
    ------
    AssertionError
        When a naive route's length differs from ours by more than 0.1 m, or the graph was
        changed by a query.
    """
    heading("Routing: flood-avoiding route on a synthetic city network")
    network_s, edges = once(lambda: synthetic_network(50_000))
    build_s, sg = once(lambda: StreetGraph(edges))
    n_edges = sg.graph.number_of_edges()
    print(
        f"  network: {n_edges:,} directed segments, {sg.graph.number_of_nodes():,} "
        f"intersections ({len(sg.core):,} in the routable core); made in {network_s:.2f} s",
        flush=True,
    )
    row("build StreetGraph (once)", build_s, None, "s")

    rng = np.random.default_rng(11)
    pairs = _pairs(sg, 20, rng, 3_000.0, 6_000.0)
    dry_routes = [sg.route(o, d) for o, d in pairs]  # warm-up, and where the water goes
    ends = {sg.nearest_node(*p) for pair in pairs for p in pair}
    floods_a = _flood_set(sg, dry_routes, ends, 200, rng)
    floods_b = _flood_set(sg, dry_routes, ends, 200, rng)
    blocked_a = _blocked_ids(floods_a, MAX_DEPTH_CM)
    print(
        f"  {len(pairs)} trips of 3–6 km; 200 flooded links = {len(floods_a)} segments "
        f"({len(blocked_a)} impassable for a {MAX_DEPTH_CM:g} cm vehicle), then another set "
        f"of {len(floods_b)}",
        flush=True,
    )
    graph_id, graph_edges = id(sg.graph), n_edges

    def ours(pair: tuple[tuple[float, float], tuple[float, float]], fl: dict[str, Flood]) -> Route:
        return sg.route(pair[0], pair[1], floods=fl, max_depth_cm=MAX_DEPTH_CM)

    # ours: median per query over repeats of every trip after one warm-up each
    per_query: list[float] = []
    safe: list[Route] = []
    for pair in pairs:
        seconds, route = timed(partial(ours, pair, floods_a), repeat=3, warmup=1)
        per_query.append(seconds)
        safe.append(route)
    route_ms = float(np.median(per_query)) * 1e3
    dry_ms = float(np.median([timed(partial(sg.route, *p), 3, 0)[0] for p in pairs])) * 1e3

    # the flood set changes between queries (A, B, A, ...): no rebuild, no copy
    swap: list[float] = []
    current = floods_a
    for pair in pairs * 2:
        current = floods_b if current is floods_a else floods_a
        seconds, _ = once(partial(ours, pair, current))
        swap.append(seconds)
    swap_ms = float(np.median(swap)) * 1e3
    if id(sg.graph) != graph_id or sg.graph.number_of_edges() != graph_edges:
        raise AssertionError("routing: a query changed the graph")

    blocked_ends = [(*sg.ends(s), s) for s in blocked_a]

    def naive_copy(pair: tuple[tuple[float, float], tuple[float, float]]) -> float:
        g = sg.graph.copy()
        g.remove_edges_from(blocked_ends)
        s, t = sg.nearest_node(*pair[0]), sg.nearest_node(*pair[1])
        return _path_length(g, nx.shortest_path(g, s, t, weight="length"))

    def naive_rebuild(pair: tuple[tuple[float, float], tuple[float, float]]) -> float:
        open_ = edges[~edges["segment_id"].isin(blocked_a)]
        g = nx.MultiDiGraph()
        g.add_edges_from(
            (int(u), int(v), str(k), {"length": float(w)})
            for u, v, k, w in zip(
                open_["u"], open_["v"], open_["segment_id"], open_["length_m"], strict=True
            )
        )
        s, t = sg.nearest_node(*pair[0]), sg.nearest_node(*pair[1])
        return _path_length(g, nx.shortest_path(g, s, t, weight="length"))

    copy_times, rebuild_times = [], []
    for k, (pair, route) in enumerate(zip(pairs, safe, strict=True)):
        seconds, length = once(partial(naive_copy, pair))
        copy_times.append(seconds)
        _agree(route, length, "copy", k)
        if k < 6:
            seconds, length = once(partial(naive_rebuild, pair))
            rebuild_times.append(seconds)
            _agree(route, length, "rebuild", k)
    flooded = set(blocked_a)
    if any(flooded & set(r.segment_ids) for r in safe):
        raise AssertionError("routing: a flood-avoiding route crosses a blocked segment")
    detours = sum(r.length_m > d.length_m + 0.05 for r, d in zip(safe, dry_routes, strict=True))
    copy_ms = float(np.median(copy_times)) * 1e3
    rebuild_ms = float(np.median(rebuild_times)) * 1e3

    row("flood-avoiding route (median)", route_ms, copy_ms, "ms", "≤ 50 ms")
    row("  … vs rebuilding the graph per query", route_ms, rebuild_ms, "ms", "≤ 50 ms")
    row("route right after the floods changed", swap_ms, copy_ms, "ms", "≤ 50 ms")
    row("route with no floods (reference)", dry_ms, None, "ms")
    print(
        f"  naive copy timed on {len(copy_times)} trips, rebuild on {len(rebuild_times)}; "
        f"all {len(copy_times)} route lengths agree within 0.1 m; {detours} of "
        f"{len(safe)} trips detour around the water",
        flush=True,
    )
    return {
        "route_ms": route_ms,
        "route_swap_ms": swap_ms,
        "route_dry_ms": dry_ms,
        "route_naive_copy_ms": copy_ms,
        "route_naive_rebuild_ms": rebuild_ms,
        "build_s": build_s,
        "network_s": network_s,
        "edges": float(n_edges),
        "queries": float(len(pairs)),
        "flooded_segments": float(len(floods_a)),
        "detours": float(detours),
    }


def _agree(route: Route, naive_m: float, how: str, k: int) -> None:
    """Raise when our route's length and the naive one differ by more than 0.1 m."""
    if abs(route.length_m - naive_m) > 0.1:
        msg = (
            f"routing: trip {k}: our route is {route.length_m:.1f} m, the naive {how} gives "
            f"{naive_m:.1f} m"
        )
        raise AssertionError(msg)


if __name__ == "__main__":
    print(run())
