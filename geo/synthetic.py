"""Synthetic parcels at city scale, for benchmarks and scale tests; labelled, never real records.

Parcels are HCMC tube-house lots (3.5–7 m wide, about 20 m deep) cut in two rows from blocks
of 80 × 40 m between 8 m alleys, turned like the Thủ Thiêm grid, across a whole ward. Their
edges are bent a little at 10–30 vertices, as surveyed lots are. Attributes follow the
clearance record (stage, responsible, deadline...) with plain random choices.
"""

from __future__ import annotations

from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from geo import clearance, demo
from geo.crs import from_wgs84
from geo.errors import GISInputError

SOURCE = (
    "DỮ LIỆU THỬ TẢI do máy sinh (không phải hồ sơ thật) / synthetic scale-test data, "
    "not real records"
)
ANGLE = 23.0
BLOCK_W, BLOCK_H, ALLEY = 80.0, 40.0, 8.0
MAX_PARCELS = 1_000_000


def scale_parcels(
    area: BaseGeometry,
    measure_crs: str,
    n: int,
    *,
    seed: int = 5,
    today: date | None = None,
) -> gpd.GeoDataFrame:
    """``n`` synthetic parcels (EPSG:4326) spread over ``area`` (EPSG:4326).

    Parameters
    ----------
    area
        The ward's polygon in longitude and latitude.
    measure_crs
        A projected CRS in metres in which lots are laid out.
    n
        How many parcels, 1 to 1,000,000.
    seed
        Seed of the random generator: the same seed gives the same parcels.
    today
        The date deadlines are spread around (today by default).

    Returns
    -------
    geopandas.GeoDataFrame
        Clearance records flagged ``demo`` and ``synthetic``, with 10–30-vertex polygons.
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_PARCELS:
        raise GISInputError(f"n: expected 1 to {MAX_PARCELS:,} parcels, got {n!r}")
    if area is None or area.is_empty or area.area <= 0:
        raise GISInputError("area: expected a polygon, got an empty geometry")
    rng = np.random.default_rng(seed)
    area_m = from_wgs84(gpd.GeoSeries([area], crs=4326), measure_crs).iloc[0]
    metric = _lots(area_m, n, rng)
    geoms = gpd.GeoSeries(metric, crs=measure_crs).to_crs(4326)
    records = _records(shapely.area(metric), rng, today or clearance.local_today())
    return gpd.GeoDataFrame(records, geometry=geoms.values, crs=4326)


def _lots(area_m: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` lots in blocks inside ``area_m``, blocks nearest the centre first."""
    centre = area_m.centroid
    inside = affinity.rotate(area_m, -ANGLE, origin=centre)
    minx, miny, maxx, maxy = inside.bounds
    xs = np.arange(minx, maxx - BLOCK_W, BLOCK_W + ALLEY)
    ys = np.arange(miny, maxy - BLOCK_H, BLOCK_H + ALLEY)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    blocks = shapely.box(gx, gy, gx + BLOCK_W, gy + BLOCK_H)
    shapely.prepare(inside)
    blocks = blocks[shapely.contains(inside, blocks)]
    order = np.argsort(shapely.distance(shapely.centroid(blocks), inside.centroid))
    per_block = 2 * int(BLOCK_W / 5.25)
    need = min(len(blocks), n // per_block + 2)
    if need == 0:
        raise GISInputError("area: too small for one 80 × 40 m block")
    x0s, y0s, x1s, y1s = [], [], [], []
    for b in blocks[order[:need]]:
        bx0, by0, _, by1 = b.bounds
        mid = (by0 + by1) / 2 + rng.uniform(-3, 3)
        for ya, yb in ((by0, mid), (mid, by1)):
            widths = rng.uniform(3.5, 7.0, size=int(BLOCK_W / 3.5) + 2)
            edges = np.concatenate([[0.0], np.cumsum(widths)])
            edges = edges[edges < BLOCK_W - 3.5]
            edges = np.append(edges, BLOCK_W)
            x0s.append(bx0 + edges[:-1])
            x1s.append(bx0 + edges[1:])
            y0s.append(np.full(len(edges) - 1, ya))
            y1s.append(np.full(len(edges) - 1, yb))
    x0, x1 = np.concatenate(x0s), np.concatenate(x1s)
    y0, y1 = np.concatenate(y0s), np.concatenate(y1s)
    if len(x0) < n:
        raise GISInputError(f"area: room for only {len(x0):,} lots, asked for {n:,}")
    x0, x1, y0, y1 = x0[:n], x1[:n], y0[:n], y1[:n]
    polygons = _bent(x0, y0, x1, y1, rng)
    cos, sin = np.cos(np.radians(ANGLE)), np.sin(np.radians(ANGLE))
    cx, cy = centre.x, centre.y
    return shapely.transform(
        polygons,
        lambda c: np.column_stack(
            [cx + (c[:, 0] - cx) * cos - (c[:, 1] - cy) * sin,
             cy + (c[:, 0] - cx) * sin + (c[:, 1] - cy) * cos]
        ),
    )  # fmt: skip


def _bent(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Rectangles with 10–30 vertices: points along each edge moved up to 0.25 m inward."""
    n = len(x0)
    counts = rng.integers(10, 31, size=n)  # distinct vertices of each lot
    lot = np.repeat(np.arange(n), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(len(lot)) - first  # 0..k-1 within each lot
    # Positions along the outline (0..4, one unit per side): the four corners, then the rest
    # at random, sorted within each lot.
    t = np.where(rank < 4, rank.astype(float), rng.uniform(0.02, 3.98, size=len(lot)))
    t = t[np.lexsort((t, lot))]
    side = np.minimum(t.astype(int), 3)
    f = t - side
    w, h = (x1 - x0)[lot], (y1 - y0)[lot]
    a0, b0, a1, b1 = x0[lot], y0[lot], x1[lot], y1[lot]
    x = np.select([side == 0, side == 1, side == 2], [a0 + f * w, a1, a1 - f * w], a0)
    y = np.select([side == 0, side == 1, side == 2], [b0, b0 + f * h, b1], b1 - f * h)
    # Moved inward by at most half the distance to the nearer corner: the outline stays simple.
    length = np.where(side % 2 == 0, w, h)
    room = 0.5 * np.minimum(f, 1 - f) * length
    inward = np.minimum(rng.uniform(0, 0.25, size=len(lot)), room)
    x = x + np.select([side == 1, side == 3], [-inward, inward], 0.0)
    y = y + np.select([side == 0, side == 2], [inward, -inward], 0.0)
    rings = shapely.linearrings(np.column_stack([x, y]), indices=lot)
    return np.asarray(shapely.polygons(rings))


def _records(areas: np.ndarray, rng: np.random.Generator, today: date) -> pd.DataFrame:
    n = len(areas)
    codes = [code for code, _ in demo.TARGETS]
    weights = np.array([w for _, w in demo.TARGETS])
    stage = rng.choice(codes, size=n, p=weights / weights.sum())
    days = rng.integers(-60, 120, size=n)
    deadline = [
        None if s == "da_ban_giao" else (today + timedelta(days=int(d))).isoformat()
        for s, d in zip(stage, days, strict=True)
    ]
    idx = np.arange(n)
    complaint = rng.random(n) < 0.05
    filed = (today - timedelta(days=30)).isoformat()
    return pd.DataFrame(
        {
            "map_sheet": (100 + idx // 500).astype(str),
            "parcel_no": (1 + idx % 500).astype(str),
            "holder": [f"Hộ thử tải {i + 1:06d}" for i in idx],
            "holder_kind": "ho_gia_dinh",
            "land_type": "ODT",
            "area_total_m2": np.round(areas, 1),
            "area_recovered_m2": np.round(areas, 1),
            "stage": stage,
            "responsible": rng.choice(demo.PEOPLE, size=n),
            "unit": rng.choice(demo.UNITS, size=n),
            "authority": rng.choice(demo.AUTHORITIES, size=n),
            "deadline": deadline,
            "complaint_filed": [filed if c else None for c in complaint],
            "note": "DỮ LIỆU THỬ TẢI — không phải hồ sơ thật",
            "demo": True,
            "synthetic": True,
        }
    )
