"""Routes on the street network that avoid flooded segments, without copying the graph."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point

from geo.errors import GISInputError, NotFoundError

MAX_SNAP_M = 300.0
"""A route's ends must lie this close to the network (metres)."""
VEHICLE_DEPTH_CM: dict[str, float] = {"motorbike": 20.0, "car": 30.0, "truck": 50.0}
"""The deepest water each vehicle passes, in cm (configurable per call)."""


class NoRouteError(NotFoundError):
    """No route joins the two points under the given closures."""


@dataclass(frozen=True)
class Route:
    """A route: its segments in order, their street names, length (m) and line (EPSG:4326)."""

    segment_ids: list[str]
    names: list[str]
    length_m: float
    geometry: LineString


@dataclass(frozen=True)
class Flood:
    """A segment's current state: water depth (cm, None if unknown) and whether it is closed."""

    depth_cm: float | None = None
    closed: bool = False


class StreetGraph:
    """A routable street network built once from the segments layer.

    Floods are passed per query and applied through the weight function, so the graph is
    never copied or rebuilt when the water changes.
    """

    def __init__(self, edges: gpd.GeoDataFrame):
        needed = {"segment_id", "u", "v", "length_m", "name"}
        missing = sorted(needed - set(edges.columns))
        if missing:
            raise GISInputError(f"edges: expected columns {sorted(needed)}, missing {missing}")
        if edges.crs is None:
            raise GISInputError("edges: the segments have no CRS")
        self.edges = edges.to_crs(4326) if edges.crs.to_epsg() != 4326 else edges
        graph = nx.MultiDiGraph()
        for row in self.edges.itertuples(index=False):
            graph.add_edge(
                int(row.u), int(row.v), key=str(row.segment_id), length=float(row.length_m),
                name=_name(row.name), geometry=row.geometry,
            )  # fmt: skip
        self.graph = graph
        # snap only to the largest strongly connected part: a node on a one-way stub or an
        # alley cut off by a footway would give "no route" for points that plainly have one
        core = max(nx.strongly_connected_components(graph), key=len) if len(graph) else set()
        self.core: frozenset[int] = frozenset(core)
        ends = self.edges.geometry.map(lambda g: (g.coords[0], g.coords[-1]))
        self.coords: dict[int, tuple[float, float]] = {}
        for (start, end), u, v in zip(ends, self.edges["u"], self.edges["v"], strict=True):
            self.coords.setdefault(int(u), start)
            self.coords.setdefault(int(v), end)
        nodes = {n: xy for n, xy in self.coords.items() if n in core}
        self.node_ids = np.array(list(nodes))
        self.node_points: np.ndarray = np.asarray(shapely.points(np.array(list(nodes.values()))))
        self.tree = shapely.STRtree(self.node_points)
        self.segment_tree = shapely.STRtree(np.asarray(self.edges.geometry.values))
        self._ends = {str(sid): (int(u), int(v)) for sid, u, v in
                      zip(self.edges["segment_id"], self.edges["u"], self.edges["v"],
                          strict=True)}  # fmt: skip

    def nearest_node(self, lon: float, lat: float, *, max_m: float | None = MAX_SNAP_M) -> int:
        """The network node nearest a lon/lat point, among those joined both ways to the rest
        of the network.

        Raises
        ------
        NotFoundError
            When that node is more than ``max_m`` metres away (a point off the network).
        """
        index = int(self.tree.nearest(Point(lon, lat)))
        node = self.node_points[index]
        if max_m is not None:
            away = _metres(lon, lat, node.x, node.y)
            if away > max_m:
                msg = (
                    f"point: expected a point within {max_m:g} m of the street network, the "
                    f"nearest street is {away:,.0f} m from ({lat:.5f}, {lon:.5f})"
                )
                raise NotFoundError(msg)
        return int(self.node_ids[index])

    def nearest_segments(self, lon: float, lat: float) -> list[str]:
        """The segment nearest a point, with its reverse twin: where a trip starts or ends."""
        index = int(self.segment_tree.nearest(Point(lon, lat)))
        row = self.edges.iloc[index]
        u, v = int(row["u"]), int(row["v"])
        ids = [str(row["segment_id"])]
        ids += [str(k) for k in self.graph.get_edge_data(v, u, default={})
                if self.graph[v][u][k]["geometry"].equals(row.geometry.reverse())]
        return ids

    def ends(self, segment_id: str) -> tuple[int, int]:
        """A segment's (u, v) nodes."""
        return self._ends[segment_id]

    def route(
        self,
        origin: tuple[float, float],
        destination: tuple[float, float],
        *,
        floods: Mapping[str, Flood] | None = None,
        max_depth_cm: float | None = None,
    ) -> Route:
        """The shortest route from ``origin`` to ``destination`` (lon, lat).

        Parameters
        ----------
        floods
            Segment id → its flood; closed segments, and segments deeper than
            ``max_depth_cm`` (or of unknown depth, when a limit is given), are avoided.
        max_depth_cm
            The deepest water the vehicle passes; None ignores depths (closures still count).

        Raises
        ------
        NoRouteError
            When no route joins the points under these floods.
        """
        floods = floods or {}
        source = self.nearest_node(*origin)
        target = self.nearest_node(*destination)

        def weight(u: int, v: int, data: dict[Any, dict[str, Any]]) -> float | None:
            best: float | None = None
            for key, attrs in data.items():
                flood = floods.get(str(key))
                if flood is not None and _blocked(flood, max_depth_cm):
                    continue
                if best is None or attrs["length"] < best:
                    best = attrs["length"]
            return best  # None: every parallel segment is blocked, networkx skips the edge

        try:
            path = nx.shortest_path(self.graph, source, target, weight=weight)
        except nx.NetworkXNoPath as e:
            raise NoRouteError("route: no open route joins the two points") from e
        segments, names, lines, length = [], [], [], 0.0
        for u, v in itertools.pairwise(path):
            options = [
                (attrs["length"], key, attrs)
                for key, attrs in self.graph[u][v].items()
                if not (str(key) in floods and _blocked(floods[str(key)], max_depth_cm))
            ]
            seg_length, key, attrs = min(options, key=lambda item: item[0])
            segments.append(str(key))
            names.append(str(attrs["name"]) if attrs["name"] else "")
            lines.append(attrs["geometry"])
            length += seg_length
        geometry = shapely.line_merge(shapely.union_all(lines)) if lines else LineString()
        if not isinstance(geometry, LineString):
            coords = [c for line in lines for c in line.coords]
            geometry = LineString(coords) if len(coords) > 1 else LineString()
        return Route(segments, names, round(length, 1), geometry)


def _name(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN from a store
        return ""
    return str(value)


def _blocked(flood: Flood, max_depth_cm: float | None) -> bool:
    if flood.closed:
        return True
    if max_depth_cm is None:
        return False
    return flood.depth_cm is None or flood.depth_cm > max_depth_cm


@dataclass(frozen=True)
class Comparison:
    """The shortest route ignoring floods beside the route that avoids them.

    ``safe`` is None when no route avoids the floods; ``blocked`` lists the flooded segments
    the shortest route would cross (closed, or deeper than the vehicle passes).
    """

    shortest: Route
    safe: Route | None
    blocked: list[str]
    max_depth_cm: float | None
    at_ends: list[str] = field(default_factory=list)
    """Flooded segments (too deep or closed) where the trip starts or ends: no route avoids
    them, so the planner is told."""

    @property
    def detour_m(self) -> float | None:
        """How much longer the safe route is (m); None when there is no safe route."""
        return None if self.safe is None else round(self.safe.length_m - self.shortest.length_m, 1)


def compare(
    streets: StreetGraph,
    origin: tuple[float, float],
    destination: tuple[float, float],
    *,
    floods: Mapping[str, Flood],
    max_depth_cm: float | None,
) -> Comparison:
    """Both routes from ``origin`` to ``destination`` (lon, lat) for a vehicle.

    Raises
    ------
    NoRouteError
        When the points are not joined even without floods (different networks).
    """
    shortest = streets.route(origin, destination)
    blocked = [s for s in shortest.segment_ids if s in floods
               and _blocked(floods[s], max_depth_cm)]  # fmt: skip
    at_ends = [s for point in (origin, destination) for s in streets.nearest_segments(*point)
               if s in floods and _blocked(floods[s], max_depth_cm)]  # fmt: skip
    if not blocked:
        return Comparison(shortest, shortest, [], max_depth_cm, at_ends)
    try:
        safe: Route | None = streets.route(
            origin, destination, floods=floods, max_depth_cm=max_depth_cm
        )
    except NoRouteError:
        safe = None
    return Comparison(shortest, safe, blocked, max_depth_cm, at_ends)


def stretch(streets: StreetGraph, first: Sequence[str], second: Sequence[str]) -> list[str]:
    """The segments along the streets from one clicked segment to another, both included,
    either direction: the stretch a planner marks with two clicks. One-way rules do not apply
    to water, and every node counts (not only the routable core).

    Parameters
    ----------
    first, second
        The segment ids each click snapped to (:meth:`geo.floods.SegmentIndex.snap`).

    Raises
    ------
    NoRouteError
        When the two segments are on parts of the network that do not meet.
    """
    if not first or not second:
        raise GISInputError("stretch: expected two clicked segments")
    undirected = streets.graph.to_undirected(as_view=True)
    a_ends, b_ends = streets.ends(first[0]), streets.ends(second[0])
    best: tuple[float, list[int]] | None = None
    for a in a_ends:
        for b in b_ends:
            try:
                length, path = nx.single_source_dijkstra(undirected, a, b, weight="length")
            except nx.NetworkXNoPath:
                continue
            if best is None or length < best[0]:
                best = (length, path)
    if best is None:
        raise NoRouteError("stretch: the two clicked streets are not joined by streets")
    out = [first[0]]
    for u, v in itertools.pairwise(best[1]):
        options = [*streets.graph.get_edge_data(u, v, default={}).items(),
                   *streets.graph.get_edge_data(v, u, default={}).items()]  # fmt: skip
        key, _ = min(options, key=lambda item: item[1]["length"])
        out.append(str(key))
    out.append(second[0])
    return list(dict.fromkeys(out))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres between two lon/lat points (haversine; metres-accurate nearby)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))
