"""``python -m bench``: every scale benchmark in one run, ending with one summary line."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time

from bench import app, common, mapview, routing, store


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the machine, each figure beside the naive one, a summary."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--skip", nargs="*", default=[], choices=["map", "route", "store", "app"],
                        help="leave out some parts")  # fmt: skip
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"Ward GIS scale benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"Machine: {common.machine()}")
    t0 = time.monotonic()
    parcels = mapview.ward_parcels()
    print(f"100,000 synthetic parcels (10–30 vertices) across the ward: "
          f"{time.monotonic() - t0:.1f} s")  # fmt: skip
    figures: dict[str, float] = {}
    if "map" not in args.skip:
        figures |= mapview.run(parcels)
    edges = None
    if "route" not in args.skip:
        figures |= routing.run()
    if "store" not in args.skip:
        # the parcel-file pipeline (read, check, plan, write) takes about a minute more:
        # `python -m bench.store` measures it too
        figures |= store.run(parcels, naive_rows=1000, pipeline=False)
    if "app" not in args.skip:
        edges = routing.synthetic_network()
        figures |= app.run(parcels, edges)
    imports = [figures.get(k) for k in ("import_gpkg_s", "import_pg_s")]
    slowest = max((v for v in imports if v is not None and not math.isnan(v)), default=math.nan)
    print(f"\nTotal benchmark time: {time.monotonic() - started:.0f} s")
    print(
        "summary "
        f"payload_ratio={figures.get('payload_ratio', math.nan):.0f} "
        f"build_ratio={figures.get('build_ratio', math.nan):.0f} "
        f"route_ms={figures.get('route_ms', math.nan):.1f} "
        f"import_s={slowest:.1f} "
        f"rss_mb={figures.get('rss_peak_mb', math.nan):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
