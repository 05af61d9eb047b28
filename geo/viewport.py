"""What a map window shows of a big layer: its features when few, a grid of counts when many.

A layer is indexed once in memory (:class:`FeatureIndex`, an STR-tree over its geometry, with
the few columns a map needs as arrays). Each view of the map then costs a tree query and,
depending on how many features fall in the window, either the features themselves,
simplified to half a screen pixel and rounded to a quarter pixel, or one square per
``cell_px`` pixels holding the count, the commonest category and flag counts. Either way the
browser receives at most about :data:`MAX_FEATURES` shapes, whatever the layer's size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import GISInputError
from geo.payload import TILE_SIZE, tolerance_for_zoom

MAX_FEATURES = 8000
"""More features than this in a window are drawn as a grid of counts."""
MAX_VERTICES = 200_000
"""Nor more vertices than this (before simplification): lots with long boundaries count more."""
CELL_PX = 40
"""Side of a grid cell on screen, in pixels."""
MARGIN = 0.15
"""Share of the window's width and height added on each side, so a short pan shows shapes."""


@dataclass(frozen=True)
class View:
    """A map window: its box in longitude and latitude and its zoom."""

    west: float
    south: float
    east: float
    north: float
    zoom: float

    def __post_init__(self) -> None:
        values = (self.west, self.south, self.east, self.north, self.zoom)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise GISInputError(f"view: expected finite numbers, got {values!r}")
        if not (self.west <= self.east and self.south <= self.north):
            raise GISInputError(f"view: expected west <= east and south <= north, got {values!r}")
        if not 0 <= self.zoom <= 24:
            raise GISInputError(f"view: expected a zoom from 0 to 24, got {self.zoom!r}")

    @classmethod
    def around(cls, lon: float, lat: float, zoom: float, width_px: int, height_px: int) -> View:
        """The window of ``width_px`` by ``height_px`` pixels centred on a point at ``zoom``."""
        pixel = 360.0 / (TILE_SIZE * 2.0**zoom)
        half_w = width_px * pixel / 2
        half_h = height_px * pixel * math.cos(math.radians(lat)) / 2
        return cls(lon - half_w, lat - half_h, lon + half_w, lat + half_h, zoom)

    def padded(self, share: float) -> tuple[float, float, float, float]:
        """The box grown by ``share`` of its size on each side."""
        dx, dy = (self.east - self.west) * share, (self.north - self.south) * share
        return self.west - dx, self.south - dy, self.east + dx, self.north + dy


@dataclass
class FeatureIndex:
    """A layer's geometry (EPSG:4326) and map columns in memory, with an STR-tree.

    Build it once per version of a layer with :meth:`from_frame`; queries then take
    milliseconds for a hundred thousand features.
    """

    fids: np.ndarray
    geoms: np.ndarray
    category: np.ndarray
    flags: np.ndarray
    labels: np.ndarray
    categories: tuple[str, ...]
    flag_names: tuple[str, ...]
    details: tuple[np.ndarray, ...] = ()
    """Small text columns shown when a feature is clicked (as codes into ``detail_values``)."""
    detail_values: tuple[tuple[str, ...], ...] = ()
    tree: shapely.STRtree = field(init=False, repr=False)
    x: np.ndarray = field(init=False, repr=False)
    y: np.ndarray = field(init=False, repr=False)
    vertices: np.ndarray = field(init=False, repr=False)
    lat0: float = field(init=False, repr=False)
    _bounds: tuple[float, float, float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.geoms)
        bounds = shapely.bounds(self.geoms)
        self.x = (bounds[:, 0] + bounds[:, 2]) / 2
        self.y = (bounds[:, 1] + bounds[:, 3]) / 2
        self.vertices = shapely.get_num_coordinates(self.geoms).astype(np.int64)
        if len(bounds):
            self._bounds = (float(bounds[:, 0].min()), float(bounds[:, 1].min()),
                            float(bounds[:, 2].max()), float(bounds[:, 3].max()))  # fmt: skip
        else:
            self._bounds = (0.0, 0.0, 0.0, 0.0)
        # the grid's cell height uses one latitude for the whole layer, so cells stay put
        # when the map pans north or south
        self.lat0 = float(np.median(self.y)) if len(self.y) else 0.0

    def __len__(self) -> int:
        return len(self.fids)

    @classmethod
    def from_frame(
        cls,
        gdf: gpd.GeoDataFrame,
        *,
        category: str,
        categories: Sequence[str],
        flags: Sequence[str] = (),
        label: str | None = None,
        details: Sequence[str] = (),
    ) -> FeatureIndex:
        """Index a layer read from the store (indexed by ``fid``).

        Parameters
        ----------
        gdf
            The features, in EPSG:4326.
        category
            The column that colours the features (e.g. the clearance stage).
        categories
            Its values in legend order; other values count as the last one.
        flags
            Boolean columns drawn as outlines (e.g. overdue, complaint); at most 8.
        label
            A text column shown when the pointer rests on a feature.
        details
            Text columns shown at once when a feature is clicked (a person, a date): sent
            as codes into a table of their distinct values, so they cost a few bytes each.
        """
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            raise GISInputError(f"gdf: expected features in EPSG:4326, got {gdf.crs!r}")
        missing = sorted(
            {category, *flags, *details, *([label] if label else [])} - set(gdf.columns)
        )
        if missing:
            raise GISInputError(f"gdf: expected columns {missing}, they are missing")
        if not categories:
            raise GISInputError("categories: expected at least one category, got none")
        if len(flags) > 8:
            raise GISInputError(f"flags: expected at most 8 flag columns, got {len(flags)}")
        present = ~(gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
        gdf = gdf[present]
        position = {str(c): i for i, c in enumerate(categories)}
        codes = gdf[category].map(lambda v: position.get(str(v), len(categories) - 1))
        bits = np.zeros(len(gdf), dtype=np.uint8)
        for i, name in enumerate(flags):
            bits |= gdf[name].fillna(False).astype(bool).to_numpy().astype(np.uint8) << i
        text = gdf[label].fillna("").astype(str).to_numpy() if label else np.full(len(gdf), "")
        codes_of, values_of = [], []
        for name in details:
            column = gdf[name].map(lambda v: "" if v is None or v != v else str(v))
            code, values = pd.factorize(column, sort=True)
            codes_of.append(code.astype(np.int32))
            values_of.append(tuple(str(v) for v in values))
        return cls(
            fids=gdf.index.to_numpy().astype(np.int64),
            geoms=np.asarray(gdf.geometry.values),
            category=codes.to_numpy().astype(np.int16),
            flags=bits,
            labels=text,
            categories=tuple(str(c) for c in categories),
            flag_names=tuple(flags),
            details=tuple(codes_of),
            detail_values=tuple(values_of),
        )

    def within(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """Positions of the features whose shape meets ``box``, in index order."""
        return np.sort(self.tree.query(shapely.box(*box), predicate="intersects"))

    def bounds(self) -> tuple[float, float, float, float]:
        """The box of every feature (computed once)."""
        return self._bounds

    def positions_of(self, fids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Index positions of the given feature ids (unknown ids are dropped)."""
        order = np.argsort(self.fids)
        wanted = np.asarray(fids, dtype=np.int64)
        at = np.searchsorted(self.fids, wanted, sorter=order)
        at = np.clip(at, 0, len(order) - 1)
        found = self.fids[order[at]] == wanted
        return np.sort(order[at[found]])


@dataclass(frozen=True)
class ViewContent:
    """What one view sends to the browser: GeoJSON and how it was made."""

    mode: Literal["features", "grid"]
    geojson: str
    in_view: int
    """Features in the (padded) window that pass the filter."""
    shapes: int
    """Shapes sent: features, or grid cells."""


def view_content(
    index: FeatureIndex,
    view: View,
    *,
    keep: np.ndarray | None = None,
    max_features: int = MAX_FEATURES,
    cell_px: int = CELL_PX,
) -> ViewContent:
    """The features of ``index`` a map window shows, or a grid of counts when too many.

    Parameters
    ----------
    index
        The indexed layer.
    view
        The window and zoom.
    keep
        A boolean mask over the index (a filter); None keeps all.
    max_features
        Up to this many features are sent as shapes; more become grid cells.
    cell_px
        The grid's cell size on screen.

    Returns
    -------
    ViewContent
        Compact JSON (see :func:`encode_features` and :func:`encode_grid`).
    """
    if keep is not None and (keep.dtype != bool or len(keep) != len(index)):
        raise GISInputError(f"keep: expected {len(index)} booleans, got {keep.dtype} × {len(keep)}")
    if not 1 <= max_features <= 100_000:
        raise GISInputError(f"max_features: expected 1 to 100,000, got {max_features!r}")
    if not 8 <= cell_px <= 512:
        raise GISInputError(f"cell_px: expected 8 to 512 pixels, got {cell_px!r}")
    x0, y0, x1, y1 = box = view.padded(MARGIN)
    # Counting by centre points is a vectorised comparison: no tree walk for a whole-ward view.
    near = (index.x >= x0) & (index.x <= x1) & (index.y >= y0) & (index.y <= y1)
    if keep is not None:
        near &= keep
    budget = MAX_VERTICES * max_features // MAX_FEATURES
    if np.count_nonzero(near) <= max_features:
        positions = index.within(box)
        if keep is not None:
            positions = positions[keep[positions]]
        if len(positions) <= max_features and index.vertices[positions].sum() <= budget:
            text = encode_features(index, positions, view)
            return ViewContent("features", text, len(positions), len(positions))
    positions = np.flatnonzero(near)
    # however large the window the browser reports, no more cells than features allowed
    while True:
        text, cells = encode_grid(index, positions, view, cell_px)
        if cells <= max_features or cell_px >= 512:
            return ViewContent("grid", text, len(positions), cells)
        cell_px = min(cell_px * 2, 512)


def quantum(view: View) -> float:
    """The coordinate step sent to the browser: a quarter of a screen pixel, in degrees."""
    return 360.0 / (TILE_SIZE * 2.0**view.zoom) / 4


def encode_features(index: FeatureIndex, positions: np.ndarray, view: View) -> str:
    """Features as compact JSON, about a third the size of GeoJSON.

    ``{"mode": "features", "o": [lon0, lat0], "q": step, "d": [[fid, category, flags, label,
    parts, details], ...], "v": [values of each detail]}`` where ``parts`` is a list of
    polygons, each a list of rings, each a flat list of integer steps: the first pair from
    ``o``, the others from the previous vertex, the closing vertex left out; ``details`` are
    codes into ``v``. Shapes are simplified to half a pixel first.
    """
    x0, y0, _, _ = view.padded(MARGIN)
    step = quantum(view)
    if len(positions) == 0:
        return _dumps({"mode": "features", "o": [x0, y0], "q": step, "d": [], "v": []})
    lat = (view.south + view.north) / 2
    originals = index.geoms[positions]
    # Without topology checks: six times faster, and these shapes are only drawn. A shape
    # that collapses below the tolerance is sent as it is.
    geoms = shapely.simplify(originals, tolerance_for_zoom(view.zoom, lat), preserve_topology=False)
    collapsed = shapely.is_empty(geoms)
    geoms[collapsed] = originals[collapsed]
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    # only non-empty polygons are drawn: an EMPTY or odd part would put the rings out of
    # step with the features and draw later parcels with their neighbours' shapes
    solid = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, part_of = parts[solid], part_of[solid]
    rings, ring_of = _rings(parts)
    coords, vertex_of = shapely.get_coordinates(rings, return_index=True)
    q = np.rint((coords - (x0, y0)) / step).astype(np.int64)
    # drop each ring's closing vertex (Leaflet closes rings itself)
    ends = np.r_[np.flatnonzero(np.diff(vertex_of)), len(vertex_of) - 1]
    keep = np.ones(len(q), dtype=bool)
    keep[ends] = False
    q, vertex_of = q[keep], vertex_of[keep]
    starts = np.r_[True, vertex_of[1:] != vertex_of[:-1]]
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    delta[starts] = q[starts]
    flat = np.split(delta.ravel(), 2 * np.flatnonzero(starts)[1:])
    per_ring = [r.tolist() for r in flat]
    ring_count = np.bincount(ring_of, minlength=len(parts))
    part_count = np.bincount(part_of, minlength=len(geoms))
    # detail tables hold only the values used in this window, renumbered
    tables, local = [], []
    for codes, values in zip(index.details, index.detail_values, strict=True):
        used, inverse = np.unique(codes[positions], return_inverse=True)
        tables.append([values[c] for c in used.tolist()])
        local.append(inverse.ravel().tolist())
    data = []
    r = p = 0
    for i, pos in enumerate(positions.tolist()):
        shapes = []
        for _ in range(int(part_count[i])):
            shapes.append(per_ring[r : r + int(ring_count[p])])
            r += int(ring_count[p])
            p += 1
        data.append([int(index.fids[pos]), int(index.category[pos]), int(index.flags[pos]),
                     str(index.labels[pos]), shapes, [codes[i] for codes in local]])  # fmt: skip
    return _dumps({"mode": "features", "o": [x0, y0], "q": step, "d": data, "v": tables})


def _rings(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ring of the polygons (exterior first), with the polygon each belongs to."""
    exteriors = shapely.get_exterior_ring(parts)
    n_holes = shapely.get_num_interior_rings(parts)
    if not n_holes.any():
        return exteriors, np.arange(len(parts))
    rings, owner = [], []
    for i, (ext, holes) in enumerate(zip(exteriors, n_holes, strict=True)):
        rings.append(ext)
        owner.append(i)
        for h in range(int(holes)):
            rings.append(shapely.get_interior_ring(parts[i], h))
            owner.append(i)
    return np.asarray(rings), np.asarray(owner)


def encode_grid(
    index: FeatureIndex, positions: np.ndarray, view: View, cell_px: int = CELL_PX
) -> tuple[str, int]:
    """Square cells of ``cell_px`` pixels on a grid fixed to the world (so cells do not jump
    when the map pans), by the features' centres.

    ``{"mode": "grid", "w": width, "h": height, "d": [[west, south, count, commonest category,
    [count per category], [count per flag]], ...]}`` in degrees.
    """
    pixel = 360.0 / (TILE_SIZE * 2.0**view.zoom)
    size_x = cell_px * pixel
    size_y = size_x * math.cos(math.radians(index.lat0))
    ix = np.floor(index.x[positions] / size_x).astype(np.int64)
    iy = np.floor(index.y[positions] / size_y).astype(np.int64)
    if len(positions) == 0:
        return _dumps({"mode": "grid", "w": size_x, "h": size_y, "d": []}), 0
    span = int(iy.max() - iy.min()) + 1
    key = (ix - ix.min()) * span + (iy - iy.min())
    keys, cell = np.unique(key, return_inverse=True)
    n_cells, n_cats = len(keys), len(index.categories)
    by_cat = np.zeros((n_cells, n_cats), dtype=np.int64)
    np.add.at(by_cat, (cell, index.category[positions]), 1)
    counts = by_cat.sum(axis=1)
    columns: list[np.ndarray] = [
        np.bincount(cell, weights=(index.flags[positions] >> b) & 1, minlength=n_cells)
        for b in range(len(index.flag_names))
    ]
    flag_counts = np.stack(columns or [np.zeros(n_cells)], axis=1).astype(np.int64)
    cx = (keys // span + ix.min()) * size_x
    cy = (keys % span + iy.min()) * size_y
    decimals = int(min(7, max(3, math.ceil(-math.log10(pixel / 4)))))
    data = [
        [round(float(x), decimals), round(float(y), decimals), int(n), int(s), c, f]
        for x, y, n, s, c, f in zip(cx, cy, counts, by_cat.argmax(axis=1), by_cat.tolist(),
                                    flag_counts.tolist(), strict=True)
    ]  # fmt: skip
    return _dumps({"mode": "grid", "w": size_x, "h": size_y, "d": data}), n_cells


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode_features(text: str) -> list[dict[str, object]]:
    """GeoJSON features back from :func:`encode_features` output (what the browser draws):
    properties ``p`` (fid), ``s`` (category), ``f`` (flags), ``k`` (label)."""
    data = json.loads(text)
    if data.get("mode") != "features":
        raise GISInputError(f"text: expected features, got mode {data.get('mode')!r}")
    x0, y0 = data["o"]
    step = data["q"]
    out: list[dict[str, object]] = []
    tables = data.get("v", [])
    for fid, cat, flags, label, parts, *rest in data["d"]:
        polygons = []
        for rings in parts:
            coords = []
            for ring in rings:
                steps = np.cumsum(np.asarray(ring, dtype=np.int64).reshape(-1, 2), axis=0)
                points = (steps * step + (x0, y0)).tolist()
                coords.append([*points, points[0]])
            polygons.append(coords)
        geometry = (
            {"type": "Polygon", "coordinates": polygons[0]}
            if len(polygons) == 1
            else {"type": "MultiPolygon", "coordinates": polygons}
        )
        props = {"p": fid, "s": cat, "f": flags, "k": label}
        if rest:
            props["d"] = [tables[i][code] for i, code in enumerate(rest[0])]
        out.append({"type": "Feature", "properties": props, "geometry": geometry})
    return out


ROAD_RANK = {
    "motorway": 0, "trunk": 1, "primary": 2, "secondary": 3, "tertiary": 4,
    "motorway_link": 1, "trunk_link": 2, "primary_link": 3, "secondary_link": 4,
    "tertiary_link": 5, "unclassified": 6, "residential": 6, "living_street": 7,
    "service": 8,
}  # fmt: skip
"""Road classes from the most to the least important (others rank last)."""


def lines_in_view(
    gdf: gpd.GeoDataFrame,
    tree: shapely.STRtree,
    view: View,
    *,
    max_features: int = 4000,
) -> tuple[gpd.GeoDataFrame, int]:
    """The street segments a window shows: those meeting it, the most important road classes
    first when more than ``max_features`` do (a city seen whole shows its main roads).

    Parameters
    ----------
    gdf
        Segments in EPSG:4326 with a ``highway`` column, in the order ``tree`` was built on.
    tree
        An STR-tree over ``gdf``'s geometry.
    view
        The window.
    max_features
        At most this many segments are returned.

    Returns
    -------
    tuple
        The segments to draw, and how many met the window in all.
    """
    if max_features < 1:
        raise GISInputError(f"max_features: expected at least 1, got {max_features!r}")
    positions = np.sort(tree.query(shapely.box(*view.padded(MARGIN)), predicate="intersects"))
    total = len(positions)
    if total > max_features:
        kinds = gdf["highway"].iloc[positions].fillna("").astype(str).str.split(" / ").str[0]
        rank = kinds.map(lambda k: ROAD_RANK.get(k, 9)).to_numpy()
        order = np.argsort(rank, kind="stable")[:max_features]
        cut = rank[order[-1]]
        positions = positions[rank < cut] if (rank < cut).any() else positions[order]
    return gdf.iloc[positions], total
