"""Backup and restore of a store with 100,000 synthetic parcels: time, file size, memory.

``python -m bench.backup [--parcels N] [--pg URL] [--memory]`` writes the parcels
(``geo.synthetic``, across An Khánh) with 1,000 edits into a GeoPackage in a temporary folder,
backs it up,
restores it into a fresh GeoPackage, and, given an empty PostGIS database, restores into
PostGIS, backs that up and restores it into a GeoPackage again.
"""

from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import heading, machine, once
from geo import backup, synthetic, wards
from geo.config import load_settings
from geo.store import FeatureUpdate, Store, open_store

TRACE = False
"""Also measure the peak of Python memory (tracemalloc slows Python code down 2-3 times)."""


def _measured(name: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` once; print its time (or, with ``TRACE``, its peak Python memory)."""
    if TRACE:
        tracemalloc.start()
    seconds, result = once(fn)
    size = f"  file {result.file_bytes / 1e6:.1f} MB" if isinstance(result, backup.Report) else ""
    if TRACE:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  {name:<34} peak Python memory {peak / 2**20:4.0f} MiB{size}", flush=True)
    else:
        print(f"  {name:<34} {seconds:6.1f} s{size}", flush=True)
    return result


def fill(store: Store, n: int) -> None:
    """Ward layers, ``n`` synthetic parcels, and 1,000 edits (history rows)."""
    profile = load_settings({}).profile
    wards.seed_store(store, profile)
    new = wards.load_new_wards(profile)
    area = new[new["name"].str.contains("An Khánh")].geometry.iloc[0]
    parcels = synthetic.scale_parcels(area, profile.measure_crs, n)
    store.write_layer("parcels_demo", parcels, user="bench", source=synthetic.SOURCE)
    fids = store.read_layer("parcels_demo", columns=["stage"]).index[:1000]
    edits = [FeatureUpdate(int(f), 1, props={"note": "đã kiểm tra"}) for f in fids]
    store.apply_edits("parcels_demo", updates=edits, user="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--pg", help="an empty PostGIS database to restore into")
    parser.add_argument("--memory", action="store_true", help="peak memory instead of time")
    args = parser.parse_args()
    global TRACE
    TRACE = args.memory
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        heading(f"{args.parcels:,} parcels in a GeoPackage")
        with open_store(str(folder / "source.gpkg")) as source:
            once(lambda: fill(source, args.parcels))
            print(f"  store file {(folder / 'source.gpkg').stat().st_size / 1e6:.1f} MB")
            report = _measured(
                "backup (GeoPackage)", lambda: backup.backup(source, folder / "g.zip")
            )
            print("  rows:", {t.name: t.rows for t in report.manifest.tables})
            _measured("check only (restore --check)", lambda: backup.inspect(folder / "g.zip"))
        with open_store(str(folder / "copy.gpkg"), migrate=False) as copy:
            _measured(
                "restore GeoPackage → GeoPackage", lambda: backup.restore(folder / "g.zip", copy)
            )
        if args.pg:
            heading("PostGIS")
            with open_store(args.pg, migrate=False) as pg:
                _measured(
                    "restore GeoPackage → PostGIS", lambda: backup.restore(folder / "g.zip", pg)
                )
                _measured("backup (PostGIS)", lambda: backup.backup(pg, folder / "p.zip"))
                _measured(
                    "restore --force into it again",
                    lambda: backup.restore(folder / "g.zip", pg, force=True),
                )
            with open_store(str(folder / "back.gpkg"), migrate=False) as back:
                _measured(
                    "restore PostGIS → GeoPackage", lambda: backup.restore(folder / "p.zip", back)
                )


if __name__ == "__main__":
    main()
