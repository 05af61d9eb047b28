"""The command line, ``python -m geo``: wards, lookups, layers, import and export, accounts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from geo import auth, catalog, cli_backup, cli_dem, cli_floods, cli_parcels, cli_users, io, wards
from geo.config import Settings, load_settings
from geo.errors import (
    ConfigError,
    ConflictError,
    FetchError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
)
from geo.store import Store, open_store
from geo.store_sql import json_value

EXIT_INPUT, EXIT_NOT_FOUND, EXIT_STORE, EXIT_CONFLICT, EXIT_DENIED = 2, 3, 4, 5, 6
EXIT_OFFLINE = 7


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m geo",
        description="Ward GIS on the command line. Configuration comes from GIS_* variables "
        "and gis.toml, as for the app.",
    )
    parser.add_argument("--db", help="store: a postgresql:// URL or a .gpkg path (GIS_DB)")
    parser.add_argument("--profile", help="ward profile id, e.g. an-khanh, an-hai (GIS_WARD)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("wards", help="list the new wards, or one ward's composition")
    p.add_argument("--ward", help="a new ward's name: its old wards, shares and areas")
    p.add_argument("--all", action="store_true", help="every ward of the province, not only nearby")
    p.set_defaults(func=cmd_wards)

    p = sub.add_parser("lookup", help="which new ward an old ward (or a point) belongs to now")
    p.add_argument("name", nargs="?", help='an old ward\'s name, written any way ("thao dien")')
    p.add_argument("--point", metavar="LAT,LON", help="a point, latitude first (10.787,106.735)")
    p.set_defaults(func=cmd_lookup)

    p = sub.add_parser("layers", help="the layer catalogue")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("import", help="import a vector file as a layer")
    p.add_argument("file", type=Path)
    p.add_argument("--layer", required=True, help="layer id: lowercase letters, digits, _")
    p.add_argument("--title", help="the layer's title")
    p.add_argument("--mode", choices=("replace", "append"), default="replace")
    p.add_argument("--crs", help="declare the file's CRS (EPSG:9210 for VN-2000 TM-3 105-45)")
    p.add_argument("--swap-xy", action="store_true", help="the file has latitude first")
    p.add_argument("--repair", action="store_true", help="repair invalid geometry (make_valid)")
    p.add_argument("--source", default="", help="where the data comes from")
    p.add_argument("--licence", default="", help="its licence")
    p.add_argument("--user", default="cli", help="who imports (recorded in the history)")
    p.add_argument("--role", choices=auth.ROLES,
                   help="default: GIS_ROLE (editor); importing layers needs admin")  # fmt: skip
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export a layer to a file")
    p.add_argument("layer")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=sorted(io.SUPPORTED_FORMATS), help="default: by extension")
    p.set_defaults(func=cmd_export)

    cli_parcels.add_parser(sub)
    cli_floods.add_parser(sub)
    cli_dem.add_parser(sub)
    cli_backup.add_parser(sub)
    cli_users.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status.

    0 ok, 2 bad input or a broken rule, 3 not found (also: no route), 4 store, 5 conflict (a
    stale ``--expected-version``), 6 not allowed for the role, 7 an online source unreachable.
    """
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        if getattr(args, "opens_store", False):  # backup, restore: the store as it is
            result = args.func(args, settings, None)
        else:
            with open_store(settings.db_url) as store:
                wards.seed_store(store, settings.profile)
                result = args.func(args, settings, store)
    except NotFoundError as e:
        return _fail(e, EXIT_NOT_FOUND)
    except ConflictError as e:
        return _fail(e, EXIT_CONFLICT)
    except PermissionDeniedError as e:
        return _fail(e, EXIT_DENIED)
    except (GISInputError, ConfigError) as e:
        return _fail(e, EXIT_INPUT)
    except StoreError as e:
        return _fail(e, EXIT_STORE)
    except FetchError as e:
        return _fail(e, EXIT_OFFLINE)
    if result is None:  # the command wrote its own output (a feed to stdout)
        return 0
    _emit(result, as_json=args.json, out=out)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    if args.db:
        env["GIS_DB"] = args.db
    if args.profile:
        env["GIS_WARD"] = args.profile
    return load_settings(env)


def _fail(error: Exception, code: int) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code


def _emit(result: Any, *, as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(_plain(result), out, ensure_ascii=False, indent=2, default=json_value)
        out.write("\n")
        return
    if isinstance(result, pd.DataFrame):
        out.write(result.to_string(index=False) + "\n")
    elif isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                out.write(f"{key}:\n{pd.DataFrame(value).to_string(index=False)}\n")
            else:
                out.write(f"{key}: {value}\n")
    elif isinstance(result, list):
        for item in result:
            _emit(item, as_json=False, out=out)
            out.write("\n")
    else:
        out.write(f"{result}\n")


def _plain(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return [{k: json_value(v) for k, v in row.items()} for row in value.to_dict("records")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return json_value(value)


def _ward_layers(store: Store) -> tuple[Any, Any]:
    old = store.read_layer(wards.OLD_LAYER).drop(columns="_version")
    new = store.read_layer(wards.NEW_LAYER).drop(columns="_version")
    return old, new


def cmd_wards(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``wards``: the new wards near the configured one, or one ward's composition."""
    old, new = _ward_layers(store)
    if args.ward:
        summary = wards.ward_summary(old, new, settings.profile, args.ward)
        table = wards.merger_table(old, new, settings.profile, name=args.ward)
        return {**_plain(summary), "splits": _plain(table)}
    if not args.all:  # the configured ward and its neighbours
        target = new.loc[new["name"] == settings.profile.name, "geometry"].union_all()
        new = new[new.intersects(target)]
    columns = ["ward_code", "name", "type", "province", "area_km2", "population"]
    return new[columns].reset_index(drop=True)


def cmd_lookup(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``lookup``: an old ward's name, or a point, to the new ward."""
    old, new = _ward_layers(store)
    if bool(args.name) == bool(args.point):
        raise GISInputError("lookup: expected an old ward's name or --point LAT,LON (one of them)")
    if args.point:
        try:
            lat, lon = (float(v) for v in args.point.split(","))
        except ValueError as e:
            msg = f"--point: expected LAT,LON such as 10.787,106.735, got {args.point!r}"
            raise GISInputError(msg) from e
        return wards.lookup_point(lon, lat, old, new)
    return wards.lookup_name(args.name, old, new, settings.profile)


def cmd_layers(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``layers``: the catalogue."""
    rows = [dataclasses.asdict(info) for info in store.list_layers()]
    if args.json:
        return rows
    return pd.DataFrame(rows, columns=["layer_id", "title", "feature_count", "updated_at",
                                       "licence"])  # fmt: skip


def cmd_import(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``import``: read, check and store a vector file in one transaction (admins)."""
    role = str(args.role or settings.role)
    auth.require(role, "layer.import")
    result = io.read_vector(
        args.file,
        crs=args.crs,
        swap_xy=args.swap_xy,
        repair=args.repair,
        max_bytes=settings.max_upload_mb * 1024 * 1024,
    )
    count = catalog.import_layer(
        store,
        args.layer,
        result.gdf,
        title=args.title or args.layer,
        source=args.source or args.file.name,
        licence=args.licence,
        mode=args.mode,
        user=args.user,
        role=role,
        meta={"source_crs": result.source_crs},
    )
    return {
        "layer": args.layer,
        "features": count,
        "source_crs": result.source_crs,
        "warnings": result.warnings,
    }


def cmd_export(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``export``: write a layer to a file; the format follows the extension or --format."""
    gdf = store.read_layer(args.layer).drop(columns="_version")
    path = io.write_vector(gdf.reset_index(), args.file, fmt=args.format)
    return {"layer": args.layer, "features": len(gdf), "file": str(path)}
