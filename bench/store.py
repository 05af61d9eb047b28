"""Storage at city scale: importing 100,000 parcels and bbox queries, on GeoPackage and PostGIS,
beside a commit per parcel and reading the whole layer to filter it."""

from __future__ import annotations

import cProfile
import dataclasses
import gc
import io as text_io
import math
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from shapely.geometry.base import BaseGeometry

from bench.common import heading, once, row, timed
from bench.pg import throwaway_cluster
from geo import io, parcel_import, synthetic, wards
from geo.config import load_settings
from geo.store import BBox, Store, open_store

N_PARCELS = 100_000
"""Parcels imported, as in the scale issue."""
NAIVE_ROWS = 2_000
"""Parcels written one transaction each: the naive import, projected to ``N_PARCELS``."""
LAYER = "parcels_demo"
NAIVE_LAYER = "parcels_naive"
WARD = "An Khánh"
BLOCK_M = (400.0, 300.0)
"""A block window (width, height in metres): a street block or two on screen."""
NEIGHBOURHOOD_M = (1_000.0, 1_000.0)
"""A neighbourhood window: 1 km²."""
BLOCK_WINDOWS = 20
NEIGHBOURHOOD_WINDOWS = 6
NAIVE_READS = 1
"""Whole-layer reads timed for the naive query (each takes seconds; median if more than one)."""
PIPELINE_SAMPLE = 2_000
"""Rows of the parcel file taken through the import pipeline to project it to the whole file."""
PIPELINE_PROFILE_ROWS = 2_000
"""Rows profiled with cProfile when the pipeline is too slow to run on the whole file."""
PIPELINE_FULL_LIMIT_S = 60.0
"""The whole file goes through the pipeline only if it is projected to take at most this."""
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
NAN = float("nan")


def ward_parcels(n: int = N_PARCELS, seed: int = 5) -> gpd.GeoDataFrame:
    """``n`` synthetic parcels (:func:`geo.synthetic.scale_parcels`) across the ward An Khánh."""
    settings = load_settings({})
    new = wards.load_new_wards(settings.profile)
    area = new[new["name"].str.contains(WARD)].to_crs(4326).geometry.union_all()
    return synthetic.scale_parcels(area, settings.profile.measure_crs, n, seed=seed)


# --- import ------------------------------------------------------------------------------------


def import_layer(store: Store, parcels: gpd.GeoDataFrame, layer_id: str = LAYER) -> float:
    """Seconds to write ``parcels`` as one layer in one call (one transaction).

    Raises
    ------
    AssertionError
        When the layer does not hold every parcel afterwards.
    """
    seconds, written = once(
        lambda: store.write_layer(
            layer_id, parcels, title="Thửa đất thử tải / scale-test parcels",
            source=synthetic.SOURCE, licence="synthetic, no restrictions",
        )
    )  # fmt: skip
    count = store.layer_info(layer_id).feature_count
    if written != len(parcels) or count != len(parcels):
        msg = f"import: wrote {written}, the layer holds {count}, expected {len(parcels)}"
        raise AssertionError(msg)
    return seconds


def naive_import(
    store: Store, parcels: gpd.GeoDataFrame, layer_id: str = NAIVE_LAYER
) -> tuple[float, int]:
    """The weak app's import: ``write_layer(mode="append")`` once per parcel, so one INSERT and
    one COMMIT each. Returns the seconds taken and the rows the layer holds afterwards (read
    back). The one-row frames are cut before the clock starts."""
    singles = [parcels.iloc[i : i + 1] for i in range(len(parcels))]

    def per_row() -> None:
        for one in singles:
            store.write_layer(layer_id, one, mode="append", source=synthetic.SOURCE)

    seconds, _ = once(per_row)
    return seconds, len(store.read_layer(layer_id, columns=[]))


def append_one(store: Store, parcels: gpd.GeoDataFrame, layer_id: str = LAYER) -> float:
    """Median seconds of one more parcel appended (its own transaction) to a full layer: the
    naive import's cost per row once the layer is big."""
    one = parcels.iloc[:1]
    seconds, _ = timed(lambda: store.write_layer(layer_id, one, mode="append"), 3, 0)
    return seconds


# --- bbox queries ------------------------------------------------------------------------------


def windows(
    parcels: gpd.GeoDataFrame, count: int, size_m: tuple[float, float], rng: np.random.Generator
) -> list[BBox]:
    """``count`` windows of ``size_m`` (width, height in metres) centred on random parcels."""
    bounds = shapely.bounds(parcels.geometry.values)
    picks = rng.choice(len(parcels), size=count, replace=False)
    out: list[BBox] = []
    for i in picks:
        x = float((bounds[i, 0] + bounds[i, 2]) / 2)
        y = float((bounds[i, 1] + bounds[i, 3]) / 2)
        dx = size_m[0] / 2 / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(y)))
        dy = size_m[1] / 2 / M_PER_DEG_LAT
        out.append((x - dx, y - dy, x + dx, y + dy))
    return out


def ward_window(parcels: gpd.GeoDataFrame) -> BBox:
    """The whole ward: every parcel's box, grown by about 10 m."""
    minx, miny, maxx, maxy = (float(v) for v in parcels.total_bounds)
    return (minx - 1e-4, miny - 1e-4, maxx + 1e-4, maxy + 1e-4)


def query_windows(
    store: Store, boxes: Sequence[BBox], *, repeat: int = 3, warmup: int = 1, layer_id: str = LAYER
) -> tuple[list[float], list[np.ndarray]]:
    """Ours: ``read_layer(bbox=...)`` per window; the median ms of each and its sorted fids.

    One ``gc.collect()`` before all the windows, not before every run as
    :func:`bench.common.timed` does: here a collection takes 50–150 ms, more than the query,
    and one per run added about a minute to the benchmark.
    """
    gc.collect()
    times, fids = [], []
    for box in boxes:
        runs = []
        for k in range(warmup + repeat):
            start = time.perf_counter()
            frame = store.read_layer(layer_id, bbox=box)
            if k >= warmup:
                runs.append(time.perf_counter() - start)
        times.append(statistics.median(runs) * 1e3)
        fids.append(np.sort(frame.index.to_numpy()))
    return times, fids


def envelope_filter(frame: gpd.GeoDataFrame, box: BBox) -> np.ndarray:
    """Sorted fids of the features whose envelope meets ``box``: what ``read_layer(bbox=)``
    promises. (``.cx`` tests the shapes, so it leaves out a parcel whose envelope, but not
    its outline, reaches into the window.)"""
    x0, y0, x1, y1 = box
    b = shapely.bounds(frame.geometry.values)
    hit = (b[:, 2] >= x0) & (b[:, 3] >= y0) & (b[:, 0] <= x1) & (b[:, 1] <= y1)
    return np.sort(frame.index.to_numpy()[hit])


def naive_windows(
    store: Store, boxes: Sequence[BBox], *, reads: int = NAIVE_READS, layer_id: str = LAYER
) -> tuple[list[float], list[np.ndarray], float]:
    """Naive: read the whole layer, then filter it. The read does not depend on the window,
    so it is timed ``reads`` times and its median added to each window's filter time.

    Returns the ms per window, the sorted fids per window, and the read's median ms.
    """
    read_s, frame = timed(partial(store.read_layer, layer_id), reads, 0)
    times, fids = [], []
    for box in boxes:
        start = time.perf_counter()
        hit = envelope_filter(frame, box)
        times.append((read_s + time.perf_counter() - start) * 1e3)
        fids.append(hit)
    return times, fids, read_s * 1e3


def check_same(ours: Sequence[np.ndarray], naive: Sequence[np.ndarray], what: str) -> None:
    """Raise when a window's fids differ between our query and the naive filter."""
    for k, (a, b) in enumerate(zip(ours, naive, strict=True)):
        if not np.array_equal(a, b):
            only_ours, only_naive = np.setdiff1d(a, b)[:5], np.setdiff1d(b, a)[:5]
            msg = (
                f"bbox {what}, window {k}: read_layer(bbox) gave {len(a)} parcels, the naive "
                f"filter {len(b)}; only ours {only_ours.tolist()}, only naive "
                f"{only_naive.tolist()}"
            )
            raise AssertionError(msg)


# --- one backend -------------------------------------------------------------------------------


def measure_store(
    store: Store,
    naive_store: Store,
    parcels: gpd.GeoDataFrame,
    *,
    tag: str,
    name: str,
    naive_rows: int = NAIVE_ROWS,
    block_windows: int = BLOCK_WINDOWS,
    neighbourhood_windows: int = NEIGHBOURHOOD_WINDOWS,
    seed: int = 17,
    analyze: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Import, naive import, and bbox queries on one backend; prints the rows.

    ``store`` and ``naive_store`` are empty, migrated stores of the same backend (the naive
    import gets its own, so it starts empty as a real import would). ``tag`` names the keys
    (``import_<tag>_s`` ...), ``name`` the rows. ``analyze`` (PostGIS) gathers the planner's
    statistics: the block windows are queried once before it (``bbox_<tag>_no_stats_ms``),
    everything else after.

    Raises
    ------
    AssertionError
        When a layer does not hold what was written, or a window's parcels differ between
        ``read_layer(bbox=)`` and the naive filter.
    """
    n = len(parcels)
    out: dict[str, float] = {}

    rng = np.random.default_rng(seed)
    block = windows(parcels, block_windows, BLOCK_M, rng)
    neighbourhood = windows(parcels, neighbourhood_windows, NEIGHBOURHOOD_M, rng)
    ward = [ward_window(parcels)]

    # the naive import first, so the queries below follow the import without anything between
    naive = parcels.iloc[: min(naive_rows, n)]
    naive_s, naive_written = naive_import(naive_store, naive)
    if naive_written != len(naive):
        msg = f"naive import: wrote {len(naive)} parcels one at a time, read {naive_written} back"
        raise AssertionError(msg)
    import_s = import_layer(store, parcels)
    if analyze is not None:
        no_stats_ms, no_stats_fids = query_windows(store, block)
        analyze_s, _ = once(analyze)
        out[f"bbox_{tag}_no_stats_ms"] = float(np.median(no_stats_ms))
        out[f"analyze_{tag}_s"] = analyze_s
    rate = len(naive) / naive_s
    projected_s = n / rate
    out |= {
        f"import_{tag}_s": import_s,
        f"naive_import_{tag}_rows": float(len(naive)),
        f"naive_import_{tag}_s": naive_s,
        f"naive_import_{tag}_rows_per_s": rate,
        f"naive_import_{tag}_projected_s": projected_s,
    }
    row(f"import {n:,} parcels → {name}", import_s, projected_s, "s", "≤ 30 s")
    print(
        f"    ours: one write_layer, one transaction ({n / import_s:,.0f} parcels/s); naive: "
        f"write_layer(mode='append') per parcel, a commit each: {len(naive):,} in "
        f"{naive_s:.2f} s = {rate:,.0f} parcels/s, naive figure PROJECTED FROM "
        f"{len(naive):,} to {n:,}",
        flush=True,
    )

    block_ms, block_fids = query_windows(store, block)
    neigh_ms, neigh_fids = query_windows(store, neighbourhood, repeat=2, warmup=0)
    ward_ms, ward_fids = query_windows(store, ward, repeat=1, warmup=0)
    naive_ms, naive_fids, read_ms = naive_windows(store, [*block, *neighbourhood, *ward])
    nb, nn = len(block), len(neighbourhood)
    naive_block_ms, naive_block_fids = naive_ms[:nb], naive_fids[:nb]
    naive_neigh_ms, naive_neigh_fids = naive_ms[nb : nb + nn], naive_fids[nb : nb + nn]
    naive_ward_ms, naive_ward_fids = naive_ms[nb + nn :], naive_fids[nb + nn :]
    check_same(block_fids, naive_block_fids, "block")
    if analyze is not None:
        check_same(no_stats_fids, naive_block_fids, "block before ANALYZE")
    check_same(neigh_fids, naive_neigh_fids, "neighbourhood")
    check_same(ward_fids, naive_ward_fids, "whole ward")
    if len(ward_fids[0]) != n:
        raise AssertionError(f"bbox whole ward: {len(ward_fids[0])} parcels, expected {n}")
    block_counts = [len(f) for f in block_fids]
    neigh_counts = [len(f) for f in neigh_fids]
    out |= {
        f"bbox_{tag}_ms": float(np.median(block_ms)),
        f"bbox_{tag}_p95_ms": float(np.percentile(block_ms, 95)),
        f"bbox_{tag}_parcels": float(np.median(block_counts)),
        f"bbox_neighbourhood_{tag}_ms": float(np.median(neigh_ms)),
        f"bbox_neighbourhood_{tag}_parcels": float(np.median(neigh_counts)),
        f"bbox_ward_{tag}_ms": ward_ms[0],
        f"naive_bbox_{tag}_ms": float(np.median(naive_block_ms)),
        f"naive_bbox_{tag}_p95_ms": float(np.percentile(naive_block_ms, 95)),
        f"naive_bbox_neighbourhood_{tag}_ms": float(np.median(naive_neigh_ms)),
        f"naive_bbox_ward_{tag}_ms": naive_ward_ms[0],
        f"naive_read_{tag}_ms": read_ms,
    }
    lo, hi = min(block_counts), max(block_counts)
    row("bbox query, block window (median)", out[f"bbox_{tag}_ms"],
        out[f"naive_bbox_{tag}_ms"], "ms", "≤ 50 ms")  # fmt: skip
    row("bbox query, block window (p95)", out[f"bbox_{tag}_p95_ms"],
        out[f"naive_bbox_{tag}_p95_ms"], "ms", "≤ 50 ms")  # fmt: skip
    if analyze is not None:
        row("  … right after the import, before ANALYZE", out[f"bbox_{tag}_no_stats_ms"],
            out[f"naive_bbox_{tag}_ms"], "ms", "≤ 50 ms")  # fmt: skip
    row("bbox query, neighbourhood 1 km² (median)", out[f"bbox_neighbourhood_{tag}_ms"],
        out[f"naive_bbox_neighbourhood_{tag}_ms"], "ms")  # fmt: skip
    row("bbox query, whole ward", ward_ms[0], naive_ward_ms[0], "ms")
    print(
        f"    {len(block)} block windows {BLOCK_M[0]:.0f} × {BLOCK_M[1]:.0f} m on random "
        f"parcels ({lo:,}–{hi:,} parcels, median {np.median(block_counts):,.0f}; median of 3 "
        f"after a warm-up each); {len(neighbourhood)} neighbourhoods of 1 km² (median "
        f"{np.median(neigh_counts):,.0f} parcels; median of 2); the ward: {n:,} (once). "
        f"Naive: read_layer() of the whole layer ({read_ms:,.0f} ms, "
        f"{'once' if NAIVE_READS == 1 else f'median of {NAIVE_READS}'}) "
        f"+ the envelope filter of the window; every window's fids are the same both ways",
        flush=True,
    )

    # the naive import at scale: each row costs more as the layer grows (bounds re-scanned)
    at_scale_ms = append_one(store, parcels) * 1e3
    growth_s = n * (naive_s / len(naive) + at_scale_ms / 1e3) / 2
    out |= {f"append_one_at_scale_{tag}_ms": at_scale_ms, f"naive_import_{tag}_growth_s": growth_s}
    print(
        f"    one more parcel appended to the {n:,}-parcel layer takes {at_scale_ms:,.0f} ms "
        f"(vs {naive_s / len(naive) * 1e3:.1f} ms per row in the first {len(naive):,}): if the "
        f"per-row cost grows linearly in between, the naive import of {n:,} would take "
        f"~{growth_s:,.0f} s ({growth_s / 3600:.1f} h), so the linear projection above is a "
        f"lower bound",
        flush=True,
    )
    return out


# --- the real file path ------------------------------------------------------------------------


def _plan_and_apply(
    store: Store, result: io.ImportResult, measure_crs: str, wards_old: gpd.GeoDataFrame,
    wards_new: gpd.GeoDataFrame, extent: BaseGeometry | None,
) -> tuple[float, float, dict[str, int]]:  # fmt: skip
    """Seconds of ``build_plan`` and ``apply_plan`` (a new store layer ``parcels``), and the
    plan's counts. (No ``gc.collect()`` in between, so a profile shows only the pipeline.)"""
    columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
    mapping: dict[str, str | None] = dict(parcel_import.suggest_mapping(columns))
    start = time.perf_counter()
    plan = parcel_import.build_plan(
        result, mapping, None, measure_crs=measure_crs, old_wards=wards_old,
        new_wards=wards_new, extent=extent, role="editor",
    )  # fmt: skip
    planned = time.perf_counter()
    counts = parcel_import.apply_plan(
        store, "parcels", plan, user="bench", source="bench/store.py (synthetic)", role="editor"
    )
    return planned - start, time.perf_counter() - planned, counts


def _slope(small_s: float, large_s: float, small: int, large: int) -> float:
    """Seconds per row between two timed sizes; the plain average if noise makes it <= 0."""
    slope = (large_s - small_s) / (large - small) if large > small else 0.0
    return slope if slope > 0 else large_s / large


def _head(result: io.ImportResult, rows: int) -> io.ImportResult:
    """The first ``rows`` rows of a file as read."""
    return dataclasses.replace(
        result,
        gdf=result.gdf.iloc[:rows],
        n_features=min(rows, result.n_features),
        bad_rows={k: v for k, v in result.bad_rows.items() if k < rows},
    )


def measure_pipeline(
    parcels: gpd.GeoDataFrame,
    folder: Path,
    *,
    naive_projected_s: float | None = None,
    sample: int = PIPELINE_SAMPLE,
    profile_rows: int = PIPELINE_PROFILE_ROWS,
    full_limit_s: float = PIPELINE_FULL_LIMIT_S,
) -> dict[str, float]:
    """The parcel import as a user runs it (``python -m geo parcels import FILE``): the parcels
    written to a GeoPackage file with pyogrio, read by :func:`geo.io.read_vector`, checked row
    by row by :func:`geo.parcel_import.build_plan`, written by ``apply_plan`` into a
    GeoPackage store. The whole file is read; plan and apply run on its first ``sample`` / 2
    and ``sample`` rows, and a line through the two (a fixed part and a cost per row) projects
    them to the file. Only if that projection is within ``full_limit_s`` does the
    whole file go through; else ``profile_rows`` rows are profiled and the top 5 functions by
    own time printed.
    """
    settings = load_settings({})
    profile = settings.profile
    wards_new, wards_old = wards.load_new_wards(profile), wards.load_old_wards(profile)
    extent = parcel_import.ward_extent(wards_new, profile)
    n = len(parcels)
    path = folder / "parcels_file.gpkg"
    write_s, _ = once(lambda: parcels.to_file(path, engine="pyogrio", layer="parcels"))
    read_s, result = once(
        lambda: io.read_vector(path, keep_bad_rows=True, max_bytes=4 * 1024**3)
    )  # fmt: skip
    sample = min(sample, n)
    half = max(sample // 2, 1)
    timings = []  # (plan s, apply s) for the first ``half`` rows, then the first ``sample``
    for rows in (half, sample):
        gc.collect()
        with open_store(str(folder / f"pipeline_sample_{rows}.gpkg")) as store:
            plan_s, apply_s, counts = _plan_and_apply(
                store, _head(result, rows), profile.measure_crs, wards_old, wards_new, extent
            )
        timings.append((plan_s, apply_s))
    # a line through the two: seconds per row, and a fixed part (projections, spatial index)
    per_row = [_slope(a, b, half, sample) for a, b in zip(*timings, strict=True)]
    fixed = [max(t - slope * sample, 0.0) for t, slope in zip(timings[1], per_row, strict=True)]
    plan_total, apply_total = (f + slope * n for f, slope in zip(fixed, per_row, strict=True))
    projected_s = read_s + plan_total + apply_total
    out = {
        "pipeline_file_mb": path.stat().st_size / 1e6,
        "pipeline_read_s": read_s,
        "pipeline_sample_rows": float(sample),
        "pipeline_plan_ms_per_row": per_row[0] * 1e3,
        "pipeline_apply_ms_per_row": per_row[1] * 1e3,
        "pipeline_fixed_s": sum(fixed),
        "pipeline_projected_s": projected_s,
        "pipeline_new_share": counts["new"] / sample,
        "pipeline_rejected_share": counts["rejected"] / sample,
        "pipeline_s": NAN,
    }
    print(
        f"    file: {n:,} parcels written with pyogrio in {write_s:.1f} s "
        f"({out['pipeline_file_mb']:.0f} MB); read_vector {read_s:.2f} s for the whole file; "
        f"on its first {half:,} and {sample:,} rows: build_plan "
        f"{out['pipeline_plan_ms_per_row']:.2f} ms/row, apply_plan "
        f"{out['pipeline_apply_ms_per_row']:.2f} ms/row, {sum(fixed):.2f} s fixed "
        f"({counts['new']:,} of {sample:,} new, {counts['rejected']:,} rejected: the "
        f"synthetic stages lack what the rules ask)",
        flush=True,
    )
    if projected_s <= full_limit_s:
        gc.collect()
        with open_store(str(folder / "pipeline_full.gpkg")) as store:
            plan_s, apply_s, counts = _plan_and_apply(
                store, result, profile.measure_crs, wards_old, wards_new, extent
            )
        out["pipeline_s"] = read_s + plan_s + apply_s
        row(f"import pipeline, {n:,}-parcel .gpkg file", out["pipeline_s"], naive_projected_s,
            "s", "≤ 30 s")  # fmt: skip
        return out
    row(f"import pipeline .gpkg (PROJECTED from {sample:,})", projected_s,
        naive_projected_s, "s", "≤ 30 s")  # fmt: skip
    print(
        f"    too slow to run on all {n:,} rows (projected {projected_s:,.0f} s > "
        f"{full_limit_s:.0f} s): read {read_s:.1f} s + build_plan {plan_total:,.0f} s + "
        f"apply_plan {apply_total:,.0f} s",
        flush=True,
    )
    head = _head(result, min(profile_rows, n))
    profiler = cProfile.Profile()
    with open_store(str(folder / "pipeline_profile.gpkg")) as store:
        profiler.enable()
        _plan_and_apply(store, head, profile.measure_crs, wards_old, wards_new, extent)
        profiler.disable()
    print(
        f"    where the time goes (cProfile, plan + apply of {len(head.gdf):,} rows), by own time:",
        flush=True,
    )
    for line in top_functions(profiler, 5):
        print(f"      {line}", flush=True)
    print("    project functions by cumulative time:", flush=True)
    for line in top_functions(profiler, 5, project=True):
        print(f"      {line}", flush=True)
    return out


PROJECT_DIR = Path(__file__).resolve().parent.parent / "geo"
ENTRY_POINTS = {"build_plan", "apply_plan"}


def top_functions(profiler: cProfile.Profile, count: int, *, project: bool = False) -> list[str]:
    """The ``count`` functions with the most own time, or with ``project`` the functions of
    ``geo/`` (below ``build_plan`` and ``apply_plan``) with the most cumulative time; as
    ``own s, cumulative s, calls, file:line(function)``."""
    stats = pstats.Stats(profiler, stream=text_io.StringIO())
    entries = list(stats.stats.items())  # type: ignore[attr-defined]
    if project:
        entries = [
            e for e in entries
            if Path(e[0][0]).parent == PROJECT_DIR and e[0][2] not in ENTRY_POINTS
        ]  # fmt: skip
    entries.sort(key=lambda kv: kv[1][3 if project else 2], reverse=True)
    lines = []
    for (filename, line, func), (_, calls, own, cumulative, _) in entries[:count]:
        where = f"{Path(filename).name}:{line}({func})" if line else func
        lines.append(f"{own:6.2f} s own, {cumulative:6.2f} s cum, {calls:>8,} calls  {where}")
    return lines


# --- PostGIS -------------------------------------------------------------------------------------


def postgis_cluster() -> AbstractContextManager[str | None]:
    """A throwaway cluster on a Unix socket, ``fsync=off`` as in the tests
    (:func:`bench.pg.throwaway_cluster`)."""
    return throwaway_cluster()


def _create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url``; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(admin_url)._replace(path="/" + name).geturl()


def _autovacuum_off(url: str) -> None:
    """No autovacuum on the features table: it would gather the statistics whenever it wakes
    (within about a minute of the import), so the figures before and after ANALYZE would
    depend on the moment. The benchmark runs ANALYZE itself."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE features SET (autovacuum_enabled = off)")


def _analyze(url: str) -> None:
    """Gather the planner's statistics of the features table, as autovacuum would."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE features")


def _features_mb(url: str) -> float:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT pg_total_relation_size('features')").fetchone()
    return float(found[0]) / 1e6 if found else NAN


# --- the whole benchmark -----------------------------------------------------------------------


def run(
    parcels: gpd.GeoDataFrame | None = None,
    *,
    naive_rows: int = NAIVE_ROWS,
    postgis: bool = True,
    pipeline: bool = True,
) -> dict[str, float]:
    """Import 100,000 parcels and query them by bbox on GeoPackage and PostGIS, beside the
    naive ways: a commit per parcel (timed on ``naive_rows`` and projected), and reading the
    whole layer to filter it.

    Parameters
    ----------
    parcels
        The parcels to import (EPSG:4326); made by :func:`ward_parcels` when omitted.
    naive_rows
        Parcels written one transaction each for the naive import.
    postgis
        Measure PostGIS too, on a throwaway cluster (skipped when no server is installed).
    pipeline
        Time the parcel-file import pipeline (``geo.parcel_import``).

    Returns
    -------
    dict of str to float
        Per backend tag (``gpkg``, ``pg``; NaN when PostGIS is skipped): ``import_<tag>_s``;
        ``naive_import_<tag>_s`` (for ``naive_import_<tag>_rows``), ``_rows_per_s``,
        ``_projected_s`` (linear), ``_growth_s`` (with the cost per row growing to
        ``append_one_at_scale_<tag>_ms``); ``bbox_<tag>_ms`` and ``bbox_<tag>_p95_ms`` (block
        windows), ``bbox_<tag>_parcels``, ``bbox_neighbourhood_<tag>_ms`` and ``_parcels``,
        ``bbox_ward_<tag>_ms``, the naive ``naive_bbox_<tag>_ms``, ``_p95_ms``,
        ``naive_bbox_neighbourhood_<tag>_ms``, ``naive_bbox_ward_<tag>_ms``,
        ``naive_read_<tag>_ms``; ``bbox_pg_no_stats_ms`` (block windows right after the
        import, before ANALYZE) and ``analyze_pg_s``; ``db_gpkg_mb`` (the file),
        ``db_pg_mb`` (the features table with its indexes); ``pipeline_*`` (see
        :func:`measure_pipeline`); ``parcels`` and ``generate_s``.

    Raises
    ------
    AssertionError
        When a layer does not hold what was written or a bbox query's parcels differ from
        the naive filter's.
    """
    heading(f"Store: importing {N_PARCELS if parcels is None else len(parcels):,} parcels, "
            "and bbox queries")  # fmt: skip
    generate_s = 0.0
    if parcels is None:
        generate_s, parcels = once(ward_parcels)
    n = len(parcels)
    vertices = shapely.get_num_coordinates(parcels.geometry.values)
    print(
        f"  {n:,} synthetic parcels in {WARD} ({vertices.min()}–{vertices.max()} coordinates "
        f"each, {len(parcels.columns) - 1} attributes)"
        + (f", made in {generate_s:.1f} s" if generate_s else ""),
        flush=True,
    )
    out: dict[str, float] = {"parcels": float(n), "generate_s": generate_s}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        folder = Path(tmp)
        print("  GeoPackage (a file in a temporary folder)", flush=True)
        path = folder / "store.gpkg"
        with open_store(str(path)) as store, open_store(str(folder / "naive.gpkg")) as naive:
            gpkg = measure_store(store, naive, parcels, tag="gpkg", name="GeoPackage",
                                 naive_rows=naive_rows)  # fmt: skip
            store.close()  # checkpoints the WAL into the file, so its size is the data's
            out["db_gpkg_mb"] = path.stat().st_size / 1e6
        out |= gpkg
        print(f"    GeoPackage file with {n:,} parcels: {out['db_gpkg_mb']:.0f} MB", flush=True)
        if pipeline:
            out |= measure_pipeline(
                parcels, folder, naive_projected_s=gpkg["naive_import_gpkg_projected_s"]
            )

    pg = {key.replace("gpkg", "pg"): NAN for key in gpkg}
    pg |= {"db_pg_mb": NAN, "bbox_pg_no_stats_ms": NAN, "analyze_pg_s": NAN}
    if postgis:
        with postgis_cluster() as admin_url:
            if admin_url is not None:
                print(
                    "  PostGIS (a throwaway cluster on a Unix socket; fsync=off, "
                    "synchronous_commit=off as in the tests: a commit costs a little less "
                    "than on a durable server, which favours the naive import; autovacuum off "
                    "for the features table and ANALYZE run after the import, as autovacuum "
                    "would within a minute or so)",
                    flush=True,
                )
                url = _create_database(admin_url, "bench")
                naive_url = _create_database(admin_url, "bench_naive")
                with open_store(url) as store, open_store(naive_url) as naive:
                    _autovacuum_off(url)
                    pg = measure_store(
                        store, naive, parcels, tag="pg", name="PostGIS",
                        naive_rows=naive_rows, analyze=partial(_analyze, url),
                    )  # fmt: skip
                pg["db_pg_mb"] = _features_mb(url)
                print(
                    f"    PostGIS features table with its indexes: {pg['db_pg_mb']:.0f} MB",
                    flush=True,
                )
    else:
        print("  PostGIS: skipped (postgis=False)", flush=True)
    out |= pg
    return out


if __name__ == "__main__":
    print(run())
