"""``python -m geo backup FILE`` and ``python -m geo restore FILE [--db TARGET] [--force]``.

Both open the store themselves: a backup reads the store as it is (no migration, no seeding)
and a restore needs its target untouched until the backup file has been checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from geo import backup
from geo.config import Settings
from geo.store import Store, open_store


def add_parser(sub: Any) -> None:
    """Add the ``backup`` and ``restore`` commands."""
    p = sub.add_parser(
        "backup", help="write the whole store (history, documents, accounts) to one file"
    )
    p.add_argument("file", type=Path, help="the backup file to write, e.g. ward-2026-07-01.zip")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_backup, opens_store=True)

    p = sub.add_parser(
        "restore", help="load a backup into an empty store (GeoPackage or PostGIS, either way)"
    )
    p.add_argument("file", type=Path, help="a file written by `python -m geo backup`")
    p.add_argument(
        "--db", dest="target", metavar="TARGET",
        help="the store to restore into: a postgresql:// URL or a .gpkg path (default: GIS_DB)",
    )  # fmt: skip
    p.add_argument(
        "--force", action="store_true",
        help="replace everything the target holds (one transaction; default: refuse)",
    )  # fmt: skip
    p.add_argument("--check", action="store_true", help="only check the file; restore nothing")
    p.set_defaults(func=cmd_restore, opens_store=True)


def _progress() -> backup.Progress | None:
    """A one-line progress display on a terminal; nothing when output goes to a file."""
    if not sys.stderr.isatty():
        return None

    def show(stage: str, table: str, done: int, total: int) -> None:
        print(f"\r{stage} {table}: {done:,}/{total:,} rows\033[K", end="", file=sys.stderr)

    return show


def _end_progress() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)


def cmd_backup(args: argparse.Namespace, settings: Settings, store: Store | None) -> Any:
    """``backup FILE``: every table of the store into one checked file."""
    with open_store(settings.db_url, migrate=False) as source:
        try:
            report = backup.backup(
                source, args.file, overwrite=args.overwrite, progress=_progress()
            )
        finally:
            _end_progress()
    return report.summary()


def cmd_restore(args: argparse.Namespace, settings: Settings, store: Store | None) -> Any:
    """``restore FILE``: check the file, then load it into an empty store in one transaction."""
    if args.check:
        manifest = backup.inspect(args.file)
        return {"file": str(args.file), "ok": True, "schema_version": manifest.schema_version,
                "backend": manifest.backend, "created_at": manifest.created_at,
                "tables": {t.name: t.rows for t in manifest.tables}}  # fmt: skip
    target = args.target or settings.db_url
    with open_store(target, migrate=False) as dest:
        try:
            report = backup.restore(args.file, dest, force=args.force, progress=_progress())
        finally:
            _end_progress()
    return {"restored_into": target.split("@")[-1], **report.summary()}
