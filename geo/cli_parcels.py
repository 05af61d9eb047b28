"""``python -m geo parcels ...``: import, list, show, set a stage, export, demo set."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from geo import clearance, demo, io, parcel_import, tables, wards
from geo.config import Settings
from geo.errors import GISInputError
from geo.store import Store

LIST_COLUMNS = ["fid", "key", "holder", "stage", "responsible", "deadline", "overdue",
                "complaint_open", "area_recovered_m2", "_version"]  # fmt: skip


def add_parser(sub: Any) -> None:
    """Add the ``parcels`` command and its subcommands."""
    parcels = sub.add_parser("parcels", help="site clearance parcels (Thủ Thiêm)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--layer", choices=clearance.PARCEL_LAYERS, help="default: real records if any, else demo"
    )
    common.add_argument("--user", default="cli", help="who makes the change (history)")
    common.add_argument("--role", choices=clearance.ROLES, help="default: GIS_ROLE (editor)")
    common.add_argument("--today", type=date.fromisoformat, help="the date overdue is judged on")
    subparsers = parcels.add_subparsers(dest="parcels_command", required=True, metavar="ACTION")

    class _Sub:
        def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
            parser: argparse.ArgumentParser = subparsers.add_parser(
                name, parents=[common], **kwargs
            )
            return parser

    ps = _Sub()

    p = ps.add_parser("import", help="import a cadastral file; same sheet/parcel is updated")
    p.add_argument("file", type=Path)
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="map a record field to a column (repeat); others are guessed")  # fmt: skip
    p.add_argument("--encoding", choices=("utf-8", "cp1258", "tcvn3", "vni"),
                   help="text encoding of the attributes (default: detected)")  # fmt: skip
    p.add_argument("--crs", help="declare the file's CRS, e.g. EPSG:9210")
    p.add_argument("--swap-xy", action="store_true", help="the file has latitude first")
    p.add_argument("--repair", action="store_true", help="repair invalid geometry (make_valid)")
    p.add_argument("--source", help="where the records come from (default: the file name)")
    p.add_argument("--licence", default="", help="their terms of use")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p.add_argument("--override", metavar="REASON",
                   help="approver: let rows breaking a stage rule in")  # fmt: skip
    p.set_defaults(func=cmd_import)

    p = ps.add_parser("list", help="list parcels, with filters")
    p.add_argument("--stage", choices=list(clearance.STAGE_BY_CODE))
    p.add_argument("--responsible")
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--complaint", action="store_true")
    p.set_defaults(func=cmd_list)

    p = ps.add_parser("show", help="one parcel's record and history")
    p.add_argument("key", help="sheet/parcel, e.g. 40/12")
    p.set_defaults(func=cmd_show)

    p = ps.add_parser("set-stage", help="move a parcel to a stage (rules apply)")
    p.add_argument("key", help="sheet/parcel, e.g. 40/12")
    p.add_argument("stage", choices=list(clearance.STAGE_BY_CODE))
    p.add_argument("--expected-version", type=int, required=True,
                   help="the version you read (see 'show'); a stale one is refused")  # fmt: skip
    p.add_argument("--paid-amount", help="payment recorded with the move (VND)")
    p.add_argument("--paid-date", help="its date")
    p.add_argument("--decision-no", help="recovery decision number")
    p.add_argument("--decision-date", help="its date")
    p.add_argument("--reason", default="", help="why (history)")
    p.add_argument("--override", metavar="REASON", help="break a rule (approver/admin only)")
    p.set_defaults(func=cmd_set_stage)

    p = ps.add_parser("export", help="parcels to GeoPackage/Shapefile/GeoJSON/CSV, tables to xlsx")
    p.add_argument("file", type=Path, help=".gpkg, .zip (Shapefile), .geojson, .csv or .xlsx")
    p.set_defaults(func=cmd_export)

    p = ps.add_parser("dashboard", help="stages, overdue by person, money, progress")
    p.set_defaults(func=cmd_dashboard)

    p = ps.add_parser("demo", help="make (or --remove) the labelled demo set")
    p.add_argument("--remove", action="store_true")
    p.add_argument("--n", type=int, default=300)
    p.set_defaults(func=cmd_demo)


def _role(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.role or settings.role)


def _today(args: argparse.Namespace) -> date:
    return args.today or clearance.local_today()


def _layer(args: argparse.Namespace, store: Store, *, for_import: bool = False) -> str:
    if args.layer:
        return str(args.layer)
    if for_import:
        return clearance.PARCELS_LAYER
    present = clearance.parcel_layers(store)
    if not present:
        raise GISInputError(
            "layer: no parcel layer yet; import records ('parcels import FILE') or make the "
            "demo set ('parcels demo')"
        )
    return present[0].layer_id


def _frame(store: Store, layer_id: str, today: date) -> pd.DataFrame:
    gdf = store.read_layer(layer_id)
    return clearance.annotate(gdf, today)


def cmd_import(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels import``: read, map, check row by row, upsert in one transaction."""
    layer_id = _layer(args, store, for_import=True)
    result = io.read_vector(
        args.file, crs=args.crs, swap_xy=args.swap_xy, repair=args.repair,
        max_bytes=settings.max_upload_mb * 1024 * 1024, encoding=args.encoding,
        keep_bad_rows=True,
    )  # fmt: skip
    columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
    mapping: dict[str, str | None] = dict(parcel_import.suggest_mapping(columns))
    for item in args.map:
        field, sep, column = item.partition("=")
        if not sep:
            raise GISInputError(
                f"--map: expected FIELD=COLUMN such as parcel_no=SO_THUA, got {item!r}"
            )
        mapping[field.strip()] = column.strip() or None
    existing = store.read_layer(layer_id) if store.has_layer(layer_id) else None
    old, new = store.read_layer(wards.OLD_LAYER), store.read_layer(wards.NEW_LAYER)
    plan = parcel_import.build_plan(
        result, mapping, existing, measure_crs=settings.profile.measure_crs,
        old_wards=old, new_wards=new, extent=parcel_import.ward_extent(new, settings.profile),
        role=_role(args, settings), override_reason=args.override,
    )  # fmt: skip
    if not args.dry_run:
        parcel_import.apply_plan(
            store, layer_id, plan, user=args.user, source=args.source or args.file.name,
            licence=args.licence, role=_role(args, settings),
        )  # fmt: skip
    return {
        "layer": layer_id,
        "dry_run": args.dry_run,
        **plan.counts,
        "encoding": result.encoding,
        "source_crs": result.source_crs,
        "mapping": plan.mapping,
        "warnings": plan.warnings,
        "rejected_rows": plan.rejected,
    }


def cmd_list(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels list``: parcels with their stage, deadline and flags."""
    frame = _frame(store, _layer(args, store), _today(args))
    if args.stage:
        frame = frame[frame["stage"] == args.stage]
    if args.responsible:
        frame = frame[frame["responsible"] == args.responsible]
    if args.overdue:
        frame = frame[frame["any_overdue"]]
    if args.complaint:
        frame = frame[frame["complaint_open"]]
    return pd.DataFrame(frame.reset_index()[LIST_COLUMNS]).rename(columns={"_version": "version"})


def cmd_show(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels show``: the record, its version and its history."""
    layer_id = _layer(args, store)
    frame = store.read_layer(layer_id)
    fid = clearance.find_parcel(frame, args.key)
    feature = store.get_feature(layer_id, fid)
    history = store.history(layer_id, fid)
    return {
        "layer": layer_id,
        "fid": fid,
        "version": feature.version,
        "record": feature.props,
        "history": history.drop(columns=["before"]).rename(columns={"after": "changes"}),
        "attachments": [a.filename for a in store.list_attachments(layer_id, fid)],
    }


def cmd_set_stage(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels set-stage``: one stage move, checked, with optimistic concurrency."""
    layer_id = _layer(args, store)
    fid = clearance.find_parcel(store.read_layer(layer_id), args.key)
    changes: dict[str, Any] = {"stage": args.stage}
    for name in ("paid_amount", "paid_date", "decision_no", "decision_date"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    feature = clearance.edit_parcel(
        store, layer_id, fid, changes, expected_version=args.expected_version, user=args.user,
        role=_role(args, settings), reason=args.reason, override_reason=args.override,
        today=_today(args),
    )  # fmt: skip
    return {"layer": layer_id, "fid": fid, "key": args.key, "stage": feature.props["stage"],
            "version": feature.version}  # fmt: skip


def cmd_export(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels export``: the parcels as a GIS file, or the dashboard tables as Excel."""
    layer_id = _layer(args, store)
    gdf = store.read_layer(layer_id)
    if args.file.suffix.lower() == ".xlsx":
        sheets = clearance.dashboard_tables(gdf, store.history(layer_id), _today(args))
        args.file.write_bytes(tables.to_xlsx(sheets))
        return {"layer": layer_id, "file": str(args.file), "sheets": list(sheets)}
    shapefile = args.file.suffix.lower() in (".zip", ".shp")
    path = io.write_vector(
        clearance.export_frame(gdf, shapefile=shapefile).reset_index(), args.file
    )
    return {"layer": layer_id, "features": len(gdf), "file": str(path)}


def cmd_dashboard(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels dashboard``: the dashboard's figures."""
    layer_id = _layer(args, store)
    gdf = store.read_layer(layer_id)
    today = _today(args)
    return {
        "layer": layer_id,
        "demo": layer_id == clearance.DEMO_LAYER,
        "parcels": len(gdf),
        "handed_over_area_pct": round(clearance.handed_over_share(gdf) * 100, 1),
        "stages": clearance.by_stage(gdf),
        "overdue_by_person": clearance.overdue_by_person(gdf, today),
        "money": clearance.money(gdf),
    }


def cmd_demo(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``parcels demo``: make the labelled demo set, or remove it."""
    if args.remove:
        return {"removed": demo.remove_demo(store, user=args.user, role=_role(args, settings))}
    old, new = store.read_layer(wards.OLD_LAYER), store.read_layer(wards.NEW_LAYER)
    count = demo.install_demo(
        store, settings.profile, old, new, n=args.n, today=args.today, role=_role(args, settings)
    )
    return {"layer": clearance.DEMO_LAYER, "parcels": count, "title": demo.DEMO_TITLE}
