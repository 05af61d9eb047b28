"""Routes on the street network that avoid flooded segments, without copying the graph."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point

from geo.errors import GISInputError, NotFoundError

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

    def nearest_node(self, lon: float, lat: float) -> int:
        """The network node nearest a lon/lat point, among those joined both ways to the rest
        of the network."""
        index = int(self.tree.nearest(Point(lon, lat)))
        return int(self.node_ids[index])

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
    if not blocked:
        return Comparison(shortest, shortest, [], max_depth_cm)
    try:
        safe: Route | None = streets.route(
            origin, destination, floods=floods, max_depth_cm=max_depth_cm
        )
    except NoRouteError:
        safe = None
    return Comparison(shortest, safe, blocked, max_depth_cm)


def stretch(
    streets: StreetGraph, start: tuple[float, float], end: tuple[float, float]
) -> list[str]:
    """The segments along the streets between two points (lon, lat), either direction: the
    stretch a planner marks with two clicks. One-way rules do not apply to water.

    Raises
    ------
    NoRouteError
        When the points are on networks that do not meet.
    """
    undirected = streets.graph.to_undirected(as_view=True)
    a, b = streets.nearest_node(*start), streets.nearest_node(*end)
    if a == b:
        raise NoRouteError("stretch: both clicks snap to the same crossing; click further apart")
    try:
        path = nx.shortest_path(undirected, a, b, weight="length")
    except nx.NetworkXNoPath as e:
        raise NoRouteError("stretch: the two points are not joined by streets") from e
    out: list[str] = []
    for u, v in itertools.pairwise(path):
        options = [*streets.graph.get_edge_data(u, v, default={}).items(),
                   *streets.graph.get_edge_data(v, u, default={}).items()]  # fmt: skip
        key, _ = min(options, key=lambda item: item[1]["length"])
        out.append(str(key))
    return out
