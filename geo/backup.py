"""Backup and restore of a whole store: layers, history, documents, accounts, audit log.

``backup`` writes one file; ``restore`` loads it into an empty store of either backend, so a
GeoPackage backup restores into PostGIS and a PostGIS backup into a GeoPackage.

The file is a ZIP archive (not a SQLite file):

- ``manifest.json``: the format and its version, the app's schema version (from
  ``schema_migrations``), the backend, when it was made, and per table its columns, row count,
  size and the SHA-256 of its content, and the last id handed out by each id sequence.
- ``tables/<table>.jsonl``: one JSON array per row, in the manifest's column order, sorted
  by primary key. Numbers, text and nulls are JSON values; binary values (documents) are
  ``{"b64": ...}``; geometries are ``{"wkb": ...}`` (ISO WKB, base64), whatever the backend.

Why a ZIP of JSON lines: it is neutral to both backends (no GeoPackage blobs, no PostGIS
EWKB, no dialect SQL), it is written and read as a stream (a store of any size goes through a
few megabytes of memory), and restoring reads it with the standard library's ``zipfile`` and
``json`` under explicit limits. A SQLite file would be handy but opening one from an untrusted
source runs SQLite's parser over hostile pages and its schema (views, triggers) over our
queries. Every member has a CRC-32 and every table a SHA-256, checked before anything is
written; in an emergency the file opens with any unzip tool and the rows are readable text.

Which tables: every table of the application, found in the database's catalogue
(``sqlite_master`` or ``pg_class`` of the current schema), so tables added by later
migrations are included with no change here. Left out: GeoPackage system tables
(``gpkg_*``), R-tree indexes and their shadow tables, SQLite's own tables, and the tables of
extensions (PostGIS's ``spatial_ref_sys``); a restore makes those again.

Restore is one transaction: the target's schema is built by the migrations up to the
backup's schema version, the rows are copied with their ids, the id sequences are moved past
them, the GeoPackage R-tree is rebuilt, later migrations are applied, and only then is it
committed. Killed halfway, the target is as it was. While rows are copied the target's own
triggers are switched off (PostgreSQL: ``ALTER TABLE ... DISABLE TRIGGER`` inside the
transaction; SQLite, which cannot switch them off: dropped and made again from their stored
SQL, in the same transaction). So the append-only ``audit_log`` triggers never see the copy
and no trigger adds rows the backup did not have. A target that holds data is refused unless
``force``; then, as when the target's schema version differs from the backup's, the
application's tables (and in PostgreSQL its functions, views and types) are dropped and built
again by the migrations, in the same transaction: nothing is ever updated or deleted row by
row, which the audit log's triggers would refuse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import sqlite3
import struct
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo.errors import GISInputError, NotFoundError, StoreError, UploadError
from geo.migrations import LATEST, MIGRATIONS, Dialect
from geo.store import Store
from geo.store_gpkg import decode_gpkg
from geo.store_sql import SQLStore, now_iso

FORMAT = "ward-gis-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TABLE_DIR = "tables/"
BATCH_ROWS = 2000
"""Rows read or written per batch."""
BLOB_BATCH_ROWS = 8
"""Rows per batch for tables with binary columns (documents of up to tens of megabytes)."""
BATCH_BYTES = 32 * 1024 * 1024
"""A restore batch is sent once its rows hold this many bytes of JSON."""
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ROW_BYTES = 512 * 1024 * 1024
"""One row (one line) at most: a document of about 380 MB once in base64."""
MAX_RATIO = 500
"""Uncompressed size / compressed size above which a member is taken for a zip bomb."""
MAX_MEMBERS = 10_000
COMPRESSLEVEL = 1
"""Deflate's fastest level: WKB and base64 gain little from more effort."""

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MEMBER = re.compile(r"tables/([A-Za-z_][A-Za-z0-9_]{0,62})\.jsonl")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)
_GPKG_ENVELOPE = struct.Struct("<2sBBi4d")
_GPKG_EMPTY = struct.Struct("<2sBBi")

Progress = Callable[[str, str, int, int], None]
"""``progress(stage, table, rows_done, rows_in_table)``; stage is ``backup``, ``verify`` or
``restore``."""


@dataclass(frozen=True)
class Column:
    """A column of a backed-up table; geometry columns carry their SRID."""

    name: str
    geometry: bool = False
    srid: int | None = None


@dataclass(frozen=True)
class TableEntry:
    """One table in the manifest."""

    name: str
    columns: tuple[Column, ...]
    rows: int
    bytes: int
    sha256: str
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def member(self) -> str:
        """The archive member holding the rows."""
        return f"{TABLE_DIR}{self.name}.jsonl"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, read before anything else."""

    format_version: int
    schema_version: int
    backend: str
    created_at: str
    tables: tuple[TableEntry, ...]
    skipped: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The manifest as written into the archive."""
        tables = []
        for entry in self.tables:
            record = asdict(entry)
            record["columns"] = [
                {"name": c.name, **({"geometry": True, "srid": c.srid} if c.geometry else {})}
                for c in entry.columns
            ]
            tables.append(record)
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": self.format_version,
                "schema_version": self.schema_version,
                "backend": self.backend,
                "created_at": self.created_at,
                "tables": tables,
                "skipped": list(self.skipped),
            },
            ensure_ascii=False,
            indent=1,
        )

    def table(self, name: str) -> TableEntry:
        """One table's entry."""
        for entry in self.tables:
            if entry.name == name:
                return entry
        raise NotFoundError(f"table: no table {name!r} in the backup")


@dataclass(frozen=True)
class Report:
    """What :func:`backup` or :func:`restore` did."""

    path: Path
    manifest: Manifest
    seconds: float
    file_bytes: int

    def summary(self) -> dict[str, Any]:
        """Plain values for the command line."""
        return {
            "file": str(self.path),
            "file_bytes": self.file_bytes,
            "seconds": round(self.seconds, 2),
            "schema_version": self.manifest.schema_version,
            "backend": self.manifest.backend,
            "created_at": self.manifest.created_at,
            "tables": {t.name: t.rows for t in self.manifest.tables},
            "skipped": list(self.manifest.skipped),
        }


# --- identifiers and values ---------------------------------------------------------------


def _quote(name: str) -> str:
    """A SQL identifier, double-quoted (names are checked against ``_TABLE_NAME`` first)."""
    return '"' + name.replace('"', '""') + '"'


def _encode(value: Any) -> Any:
    """A database value as JSON: binary as ``{"b64": ...}``, other types as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _b64(value: Any, key: str, where: str) -> bytes:
    if not (isinstance(value, dict) and set(value) == {key} and isinstance(value[key], str)):
        msg = f"backup: {where}: expected null or {{{key!r}: base64 text}}, got {value!r:.80}"
        raise UploadError(msg)
    try:
        return base64.b64decode(value[key], validate=True)
    except (binascii.Error, ValueError) as e:
        raise UploadError(f"backup: {where}: expected base64 text, got {value[key]!r:.80}") from e


_SCALARS = frozenset({type(None), bool, int, float, str})


def _decode_row(line: bytes, columns: Sequence[Column], where: Callable[[], str]) -> list[Any]:
    """One JSON line back to Python values (geometries as WKB bytes), checked.

    ``where`` names the line for messages; it is only called when something is wrong.
    """
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise UploadError(f"backup: {where()}: expected one JSON array, got unreadable text") from e
    if type(row) is not list or len(row) != len(columns):
        got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
        msg = f"backup: {where()}: expected a JSON array of {len(columns)} values, got {got}"
        raise UploadError(msg)
    for i, (value, column) in enumerate(zip(row, columns, strict=True)):
        if column.geometry:
            if value is not None:
                row[i] = _b64(value, "wkb", f"{where()}, column {column.name!r}")
        elif type(value) not in _SCALARS:
            row[i] = _b64(value, "b64", f"{where()}, column {column.name!r}")
    return row


def _wkb_geoms(values: Sequence[bytes | None], where: str) -> np.ndarray:
    try:
        return np.asarray(shapely.from_wkb(list(values)), dtype=object)
    except (shapely.errors.GEOSException, ValueError, TypeError) as e:
        raise UploadError(f"backup: {where}: a geometry is not valid WKB: {e}") from e


def _gpkg_blobs(values: Sequence[bytes | None], srid: int, where: str) -> list[bytes | None]:
    """WKB → GeoPackage geometry blobs (header with envelope; the WKB is kept as it is)."""
    geoms = _wkb_geoms(values, where)
    bounds = shapely.bounds(geoms)
    empty = shapely.is_empty(geoms)
    out: list[bytes | None] = []
    for wkb, box, is_empty in zip(values, bounds, empty, strict=True):
        if wkb is None:
            out.append(None)
        elif is_empty:
            out.append(_GPKG_EMPTY.pack(b"GP", 0, 0b00010001, srid) + wkb)
        else:
            minx, miny, maxx, maxy = (float(v) for v in box)
            header = _GPKG_ENVELOPE.pack(b"GP", 0, 0b00000011, srid, minx, maxx, miny, maxy)
            out.append(header + wkb)
    return out


def _ewkb_hex(values: Sequence[bytes | None], srid: int, where: str) -> list[str | None]:
    """WKB → hex EWKB carrying ``srid``, which PostGIS reads from COPY's text."""
    geoms = _wkb_geoms(values, where)
    if srid:
        geoms = shapely.set_srid(geoms, srid)
    hexes = shapely.to_wkb(geoms, hex=True, flavor="extended", include_srid=bool(srid))
    return [None if v is None else str(h) for v, h in zip(values, hexes, strict=True)]


# --- the two catalogues ---------------------------------------------------------------------


@dataclass(frozen=True)
class _TableInfo:
    name: str
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    has_blobs: bool
    types: dict[str, str] = field(default_factory=dict)


class _Catalog:
    """What backup and restore need to know of one dialect's catalogue."""

    dialect: Dialect

    def app_tables(self, cur: Any) -> tuple[list[str], list[str]]:
        """The application's tables, and tables left out because of their names."""
        raise NotImplementedError

    def table_info(self, cur: Any, table: str) -> _TableInfo:
        raise NotImplementedError

    def select_expr(self, info: _TableInfo, column: Column) -> str:
        """The SELECT expression for one column: geometries as WKB, odd types as text."""
        return _quote(column.name)

    def sequences(self, cur: Any, table: str) -> dict[str, int]:
        """The last id handed out by each id sequence of ``table``, by column."""
        raise NotImplementedError

    def parents(self, cur: Any, table: str) -> set[str]:
        """Tables ``table`` refers to by foreign key."""
        raise NotImplementedError

    def drop_schema(self, cur: Any) -> None:
        """Drop the application's tables (and objects) so the migrations can build them."""
        raise NotImplementedError

    def disable_triggers(self, cur: Any, tables: Sequence[str]) -> Callable[[], None]:
        """Switch the tables' triggers off; return what switches them on again."""
        raise NotImplementedError

    def insert(
        self, cur: Any, table: str, columns: Sequence[Column], rows: list[list[Any]], where: str
    ) -> None:
        raise NotImplementedError

    def after_load(self, cur: Any, tables: Sequence[str], manifest: Manifest) -> None:
        """Move id sequences past the restored ids; rebuild spatial indexes."""
        raise NotImplementedError

    def lock(self, cur: Any, tables: Sequence[str]) -> None:
        """Keep other writers out of ``tables`` until the end of the transaction."""

    def geometry_srid(self, cur: Any, table: str, column: str) -> int | None:
        raise NotImplementedError


class _SQLiteCatalog(_Catalog):
    dialect: Dialect = "sqlite"

    def app_tables(self, cur: Any) -> tuple[list[str], list[str]]:
        cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
        rows = [(str(name), str(sql or "")) for name, sql in cur.fetchall()]
        virtual = [n for n, sql in rows if sql.upper().startswith("CREATE VIRTUAL TABLE")]
        tables: list[str] = []
        skipped: list[str] = []
        for name, _ in rows:
            lowered = name.lower()
            if (
                lowered.startswith(("sqlite_", "gpkg_", "gpkgext_"))
                or name in virtual
                or any(name.startswith(v + "_") for v in virtual)
            ):
                continue
            (tables if _TABLE_NAME.fullmatch(name) else skipped).append(name)
        return tables, skipped

    def _geometry_columns(self, cur: Any, table: str) -> dict[str, int]:
        cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_geometry_columns'"
        )
        if cur.fetchone() is None:
            return {}
        cur.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (table,)
        )
        return {str(c): int(s) for c, s in cur.fetchall()}

    def table_info(self, cur: Any, table: str) -> _TableInfo:
        geometry = self._geometry_columns(cur, table)
        cur.execute(f"PRAGMA table_xinfo({_quote(table)})")
        rows = [r for r in cur.fetchall() if int(r[6]) == 0]  # hidden or generated: left out
        columns = tuple(
            Column(str(r[1]), True, geometry[r[1]]) if r[1] in geometry else Column(str(r[1]))
            for r in rows
        )
        pk = tuple(str(r[1]) for r in sorted((r for r in rows if int(r[5])), key=lambda r: r[5]))
        blobs = any("BLOB" in str(r[2]).upper() for r in rows if r[1] not in geometry)
        return _TableInfo(table, columns, tuple(_quote(c) for c in pk) or ("rowid",), blobs)

    def _integer_pk(self, cur: Any, table: str) -> str | None:
        cur.execute(f"PRAGMA table_info({_quote(table)})")
        pk = [r for r in cur.fetchall() if int(r[5])]
        if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER":
            return str(pk[0][1])
        return None

    def sequences(self, cur: Any, table: str) -> dict[str, int]:
        column = self._integer_pk(cur, table)
        cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
        if column is None or cur.fetchone() is None:
            return {}
        cur.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        row = cur.fetchone()
        return {} if row is None else {column: int(row[0])}

    def parents(self, cur: Any, table: str) -> set[str]:
        cur.execute(f"PRAGMA foreign_key_list({_quote(table)})")
        return {str(r[2]) for r in cur.fetchall()} - {table}

    def drop_schema(self, cur: Any) -> None:
        cur.execute("PRAGMA defer_foreign_keys = ON")
        self.disable_triggers(cur, [])  # dropped for good: the migrations make them again
        cur.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
        rows = [(str(t), str(n), str(s or "")) for t, n, s in cur.fetchall()]
        virtual = [n for t, n, s in rows if s.upper().startswith("CREATE VIRTUAL TABLE")]
        for kind, name, _ in rows:
            if kind == "view":
                cur.execute(f"DROP VIEW IF EXISTS {_quote(name)}")
        for name in virtual:
            cur.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
        plain = [
            n
            for t, n, _ in rows
            if t == "table" and n not in virtual and not any(n.startswith(v + "_") for v in virtual)
        ]
        for name in reversed(_parents_first(cur, self, plain)):
            cur.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
        cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
        if cur.fetchone() is not None:
            cur.execute("DELETE FROM sqlite_sequence")

    def disable_triggers(self, cur: Any, tables: Sequence[str]) -> Callable[[], None]:
        cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        triggers = [(str(n), str(s)) for n, s in cur.fetchall()]
        for name, _ in triggers:
            cur.execute(f"DROP TRIGGER {_quote(name)}")

        def again() -> None:
            for _, sql in triggers:
                cur.execute(sql)

        return again

    def geometry_srid(self, cur: Any, table: str, column: str) -> int | None:
        return self._geometry_columns(cur, table).get(column)

    def insert(
        self, cur: Any, table: str, columns: Sequence[Column], rows: list[list[Any]], where: str
    ) -> None:
        for i, column in enumerate(columns):
            if column.geometry:
                srid = self.geometry_srid(cur, table, column.name) or 0
                blobs = _gpkg_blobs([r[i] for r in rows], srid, where)
                for row, blob in zip(rows, blobs, strict=True):
                    row[i] = blob
        names = ", ".join(_quote(c.name) for c in columns)
        marks = ", ".join("?" * len(columns))
        cur.executemany(f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})", rows)

    def after_load(self, cur: Any, tables: Sequence[str], manifest: Manifest) -> None:
        cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        autoincrement = {str(n) for n, s in cur.fetchall() if _AUTOINCREMENT.search(str(s))}
        for table in tables:
            column = self._integer_pk(cur, table)
            if table not in autoincrement or column is None:
                continue
            cur.execute(f"SELECT COALESCE(MAX({_quote(column)}), 0) FROM {_quote(table)}")
            stored = int(cur.fetchone()[0])
            known = _manifest_sequence(manifest, table, column)
            cur.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            if max(stored, known) > 0:
                cur.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                    (table, max(stored, known)),
                )
        self._rebuild_rtrees(cur)

    def _rebuild_rtrees(self, cur: Any) -> None:
        """Fill each GeoPackage R-tree from its table and put the extent in gpkg_contents."""
        cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_extensions'")
        if cur.fetchone() is None:
            return
        cur.execute(
            "SELECT table_name, column_name FROM gpkg_extensions "
            "WHERE extension_name = 'gpkg_rtree_index'"
        )
        for table, column in [(str(t), str(c)) for t, c in cur.fetchall()]:
            pk = self._integer_pk(cur, table)
            rtree = _quote(f"rtree_{table}_{column}")
            if pk is None:
                continue
            geom, t, key = _quote(column), _quote(table), _quote(pk)
            cur.execute(f"DELETE FROM {rtree}")
            cur.execute(
                f"INSERT INTO {rtree} SELECT {key}, ST_MinX({geom}), ST_MaxX({geom}), "
                f"ST_MinY({geom}), ST_MaxY({geom}) FROM {t} "
                f"WHERE {geom} IS NOT NULL AND NOT ST_IsEmpty({geom})"
            )
            cur.execute(
                f"UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                f"min_x = (SELECT MIN(minx) FROM {rtree}), "
                f"min_y = (SELECT MIN(miny) FROM {rtree}), "
                f"max_x = (SELECT MAX(maxx) FROM {rtree}), "
                f"max_y = (SELECT MAX(maxy) FROM {rtree}) "
                "WHERE table_name = ?",
                (table,),
            )


_PG_PLAIN_TYPES = {"int2", "int4", "int8", "float4", "float8", "bool", "text", "varchar",
                   "bpchar", "bytea"}  # fmt: skip
_PG_SCHEMA = "current_schema()::regnamespace"
_PG_NOT_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
)


class _PostgresCatalog(_Catalog):
    dialect: Dialect = "postgresql"

    def app_tables(self, cur: Any) -> tuple[list[str], list[str]]:
        cur.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = "
            f"{_PG_SCHEMA} AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            f"AND c.relname <> 'spatial_ref_sys' AND {_PG_NOT_EXTENSION.format(oid='c.oid')} "
            "ORDER BY c.relname"
        )
        names = [str(r[0]) for r in cur.fetchall()]
        return (
            [n for n in names if _TABLE_NAME.fullmatch(n)],
            [n for n in names if not _TABLE_NAME.fullmatch(n)],
        )

    def _oid(self, table: str) -> str:
        return f"(SELECT oid FROM pg_class WHERE relname = %s AND relnamespace = {_PG_SCHEMA})"

    def _columns(self, cur: Any, table: str) -> list[tuple[str, str]]:
        cur.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = "
            f"a.atttypid WHERE a.attrelid = {self._oid(table)} AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            (table,),
        )
        return [(str(n), str(t)) for n, t in cur.fetchall()]

    def geometry_srid(self, cur: Any, table: str, column: str) -> int | None:
        cur.execute(
            "SELECT srid FROM geometry_columns WHERE f_table_schema = current_schema() "
            "AND f_table_name = %s AND f_geometry_column = %s",
            (table, column),
        )
        row = cur.fetchone()
        return None if row is None else int(row[0])

    def table_info(self, cur: Any, table: str) -> _TableInfo:
        raw = self._columns(cur, table)
        columns = tuple(
            Column(n, True, self.geometry_srid(cur, table, n) or 0)
            if t == "geometry"
            else Column(n)
            for n, t in raw
        )
        cur.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            f"AND a.attnum = ANY(i.indkey) WHERE i.indrelid = {self._oid(table)} "
            "AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (table,),
        )
        pk = tuple(_quote(str(r[0])) for r in cur.fetchall())
        order = pk or tuple(str(i + 1) for i in range(len(columns)))
        return _TableInfo(table, columns, order, any(t == "bytea" for _, t in raw), dict(raw))

    def select_expr(self, info: _TableInfo, column: Column) -> str:
        if column.geometry:
            return f"ST_AsBinary({_quote(column.name)})"
        if info.types.get(column.name) in _PG_PLAIN_TYPES:
            return _quote(column.name)
        return f"{_quote(column.name)}::text"  # json, jsonb, numeric, dates...: their text

    def _serial_columns(self, cur: Any, table: str) -> list[str]:
        cur.execute(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = "
            f"{self._oid(table)} AND a.attnum > 0 AND NOT a.attisdropped "
            "AND pg_get_serial_sequence(%s, a.attname) IS NOT NULL ORDER BY a.attnum",
            (table, _quote(table)),
        )
        return [str(r[0]) for r in cur.fetchall()]

    def sequences(self, cur: Any, table: str) -> dict[str, int]:
        out = {}
        for column in self._serial_columns(cur, table):
            cur.execute(
                "SELECT COALESCE(s.last_value, 0) FROM pg_sequences s "
                "WHERE format('%%I.%%I', s.schemaname, s.sequencename) = "
                "pg_get_serial_sequence(%s, %s)",
                (_quote(table), column),
            )
            row = cur.fetchone()
            out[column] = int(row[0]) if row else 0
        return out

    def parents(self, cur: Any, table: str) -> set[str]:
        cur.execute(
            "SELECT p.relname FROM pg_constraint c JOIN pg_class p ON p.oid = c.confrelid "
            f"WHERE c.contype = 'f' AND c.conrelid = {self._oid(table)}",
            (table,),
        )
        return {str(r[0]) for r in cur.fetchall()} - {table}

    def lock(self, cur: Any, tables: Sequence[str]) -> None:
        if tables:
            names = ", ".join(_quote(t) for t in tables)
            cur.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")

    def drop_schema(self, cur: Any) -> None:
        not_ext = _PG_NOT_EXTENSION
        cur.execute(
            f"SELECT c.relkind, c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = "
            f"{_PG_SCHEMA} AND c.relkind IN ('v', 'm', 'r', 'p', 'S') "
            f"AND {not_ext.format(oid='c.oid')} AND c.relname <> 'spatial_ref_sys' "
            "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))"
        )
        relations = [(str(k), str(n)) for k, n in cur.fetchall()]
        statements = {"v": "VIEW", "m": "MATERIALIZED VIEW", "r": "TABLE", "p": "TABLE",
                      "S": "SEQUENCE"}  # fmt: skip
        for kinds in (("v", "m"), ("r", "p"), ("S",)):
            for kind, name in relations:
                if kind in kinds:
                    cur.execute(f"DROP {statements[kind]} IF EXISTS {name} CASCADE")
        cur.execute(
            "SELECT p.prokind, p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = "
            f"{_PG_SCHEMA} AND {not_ext.format(oid='p.oid')}"
        )
        routines = {"f": "FUNCTION", "p": "PROCEDURE", "a": "AGGREGATE", "w": "FUNCTION"}
        for kind, signature in [(str(k), str(s)) for k, s in cur.fetchall()]:
            cur.execute(f"DROP {routines.get(kind, 'FUNCTION')} IF EXISTS {signature} CASCADE")
        cur.execute(
            "SELECT t.oid::regtype::text FROM pg_type t WHERE t.typnamespace = "
            f"{_PG_SCHEMA} AND t.typtype IN ('e', 'd') AND {not_ext.format(oid='t.oid')}"
        )
        for (name,) in cur.fetchall():
            cur.execute(f"DROP TYPE IF EXISTS {name} CASCADE")

    def disable_triggers(self, cur: Any, tables: Sequence[str]) -> Callable[[], None]:
        if not tables:
            return lambda: None
        cur.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"WHERE c.relnamespace = {_PG_SCHEMA} AND NOT t.tgisinternal "
            "AND t.tgenabled <> 'D' AND c.relname = ANY(%s) ORDER BY 1, 2",
            (list(tables),),
        )
        triggers = [(str(r), str(t)) for r, t in cur.fetchall()]
        for table, trigger in triggers:
            cur.execute(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER {_quote(trigger)}")

        def again() -> None:
            for table, trigger in triggers:
                cur.execute(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER {_quote(trigger)}")

        return again

    def insert(
        self, cur: Any, table: str, columns: Sequence[Column], rows: list[list[Any]], where: str
    ) -> None:
        for i, column in enumerate(columns):
            if column.geometry:
                srid = self.geometry_srid(cur, table, column.name) or column.srid or 0
                hexes = _ewkb_hex([r[i] for r in rows], srid, where)
                for row, value in zip(rows, hexes, strict=True):
                    row[i] = value
        names = ", ".join(_quote(c.name) for c in columns)
        with cur.copy(f"COPY {_quote(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def after_load(self, cur: Any, tables: Sequence[str], manifest: Manifest) -> None:
        for table in tables:
            for column in self._serial_columns(cur, table):
                cur.execute(f"SELECT COALESCE(MAX({_quote(column)}), 0) FROM {_quote(table)}")
                value = max(int(cur.fetchone()[0]), _manifest_sequence(manifest, table, column))
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                    (_quote(table), column, max(value, 1), value > 0),
                )


def _manifest_sequence(manifest: Manifest, table: str, column: str) -> int:
    for entry in manifest.tables:
        if entry.name == table:
            return int(entry.sequences.get(column, 0))
    return 0


def _parents_first(cur: Any, catalog: _Catalog, tables: Sequence[str]) -> list[str]:
    """``tables`` ordered so that a table comes after those its foreign keys refer to."""
    wanted = set(tables)
    parents = {t: catalog.parents(cur, t) & wanted for t in tables}
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in done and parents[t] <= done)
        if not ready:  # a cycle: keep the rest in name order (SQLite defers the checks)
            ready = sorted(t for t in tables if t not in done)
        ordered += ready
        done.update(ready)
    return ordered


def _catalog(store: SQLStore) -> _Catalog:
    return _SQLiteCatalog() if store.dialect == "sqlite" else _PostgresCatalog()


def _sql_store(store: Store) -> SQLStore:
    if not isinstance(store, SQLStore):
        msg = f"store: expected a GeoPackage or PostGIS store, got {type(store).__name__}"
        raise GISInputError(msg)
    return store


def _db_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    return (sqlite3.Error, psycopg.Error)


def _schema_version(cur: Any, store: SQLStore) -> int:
    if not store._table_exists(cur, "schema_migrations"):
        return 0
    cur.execute("SELECT MAX(version) FROM schema_migrations")
    return int(cur.fetchone()[0] or 0)


# --- backup ---------------------------------------------------------------------------------


def backup(
    store: Store,
    path: str | Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Write the whole store into one file: every table, history and documents included.

    The rows are read in one snapshot (a read transaction on a connection of its own), so the
    app may keep working meanwhile and the backup is consistent. The file appears only when
    complete (written beside it, flushed to disk, then renamed) and is readable by its owner
    only: it holds password hashes.

    Parameters
    ----------
    store
        A GeoPackage or PostGIS store (not necessarily migrated to this app's version).
    path
        The backup file to write (``.zip`` by convention).
    overwrite
        Replace ``path`` if it exists; without it an existing file is refused.
    progress
        Called after each batch with ``("backup", table, rows_done, rows_in_table)``.

    Returns
    -------
    Report
        The manifest written, the time taken and the file's size.

    Raises
    ------
    GISInputError
        If ``path`` exists (without ``overwrite``) or is a folder.
    NotFoundError
        If the store holds no schema (nothing to back up), or the GeoPackage does not exist.
    StoreError
        If the store cannot be read or the file cannot be written.
    """
    started = time.monotonic()
    sql_store = _sql_store(store)
    path = Path(path)
    if path.is_dir():
        raise GISInputError(f"file: expected a file name for the backup, got the folder {path}")
    if path.exists() and not overwrite:
        msg = f"file: {path} exists already; choose a new name, or overwrite it explicitly"
        raise GISInputError(msg)
    gpkg_path = getattr(sql_store, "path", None)
    if isinstance(gpkg_path, Path) and not gpkg_path.is_file():
        raise NotFoundError(f"url: no GeoPackage at {gpkg_path}: nothing to back up")
    catalog = _catalog(sql_store)
    conn = sql_store._connect()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        cur = _snapshot(conn, sql_store)
        version = _schema_version(cur, sql_store)
        if version == 0:
            raise NotFoundError(f"url: the store at {sql_store._where()} has no schema yet")
        names, skipped = catalog.app_tables(cur)
        entries = []
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as zf:
                for name in names:
                    entries.append(_dump_table(conn, cur, catalog, zf, name, progress))
                manifest = Manifest(
                    FORMAT_VERSION, version, sql_store.backend, now_iso(), tuple(entries),
                    tuple(skipped),
                )  # fmt: skip
                zf.writestr(MANIFEST_NAME, manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except _db_errors() as e:
        raise StoreError(f"backup: could not read the store at {sql_store._where()}: {e}") from e
    except OSError as e:
        raise StoreError(f"file: could not write the backup {path}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)
        _close(conn)
    return Report(path, manifest, time.monotonic() - started, path.stat().st_size)


def _snapshot(conn: Any, store: SQLStore) -> Any:
    """A cursor in one read-only snapshot of the whole database."""
    if store.dialect == "sqlite":
        conn.execute("BEGIN")
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM sqlite_master")  # the snapshot starts here
        return cur
    from psycopg import IsolationLevel

    conn.rollback()
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn.cursor()


def _close(conn: Any) -> None:
    with suppress(*_db_errors()):
        conn.rollback()
    conn.close()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _dump_table(
    conn: Any,
    cur: Any,
    catalog: _Catalog,
    zf: zipfile.ZipFile,
    table: str,
    progress: Progress | None,
) -> TableEntry:
    info = catalog.table_info(cur, table)
    sequences = catalog.sequences(cur, table)
    cur.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
    total = int(cur.fetchone()[0])
    select = ", ".join(catalog.select_expr(info, c) for c in info.columns)
    sql = f"SELECT {select} FROM {_quote(table)} ORDER BY {', '.join(info.order_by)}"
    batch = BLOB_BATCH_ROWS if info.has_blobs else BATCH_ROWS
    geometry = [i for i, c in enumerate(info.columns) if c.geometry]
    sqlite = catalog.dialect == "sqlite"
    digest, size, count = hashlib.sha256(), 0, 0
    rows_cur = conn.cursor() if sqlite else conn.cursor(name=f"backup_{uuid.uuid4().hex}")
    with zf.open(f"{TABLE_DIR}{table}.jsonl", "w", force_zip64=True) as member:
        rows_cur.execute(sql)
        while rows := rows_cur.fetchmany(batch):
            lines = []
            for row in rows:
                values = [v if type(v) in _SCALARS else _encode(v) for v in row]
                for i in geometry:
                    if row[i] is not None:
                        wkb = decode_gpkg(bytes(row[i])) if sqlite else bytes(row[i])
                        values[i] = {"wkb": base64.b64encode(wkb or b"").decode("ascii")}
                lines.append(json.dumps(values, ensure_ascii=False, separators=(",", ":")))
            chunk = ("\n".join(lines) + "\n").encode("utf-8")
            digest.update(chunk)
            member.write(chunk)
            size += len(chunk)
            count += len(rows)
            if progress is not None:
                progress("backup", table, count, total)
        rows_cur.close()
    if progress is not None and count == 0:
        progress("backup", table, 0, 0)
    return TableEntry(table, info.columns, count, size, digest.hexdigest(), sequences)


# --- reading and checking a backup ----------------------------------------------------------


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise GISInputError(
            f"file: expected a backup file, got {str(path)!r}, which does not exist"
        )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        msg = (
            f"file: {path} is not a backup of this app (expected a ZIP archive with "
            f"{MANIFEST_NAME}; it may be truncated or damaged): {e}"
        )
        raise UploadError(msg) from e
    try:
        _check_members(zf, path)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_members(zf: zipfile.ZipFile, path: Path) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        msg = f"file: {path}: expected at most {MAX_MEMBERS} members, got {len(infos)}"
        raise UploadError(msg)
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if name != MANIFEST_NAME and not _MEMBER.fullmatch(name):
            msg = (
                f"file: {path}: member {name!r} is not part of a backup (a path leaving the "
                "archive, a folder or a foreign file); refused, nothing was changed"
            )
            raise UploadError(msg)
        if name in seen:
            raise UploadError(f"file: {path}: member {name!r} appears twice; refused")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise UploadError(f"file: {path}: member {name!r} is encrypted; refused")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            msg = f"file: {path}: member {name!r} uses compression {info.compress_type}; refused"
            raise UploadError(msg)
        if info.file_size > MAX_RATIO * max(info.compress_size, 1024):
            msg = (
                f"file: {path}: member {name!r} would unpack to {info.file_size} bytes from "
                f"{info.compress_size} (a zip bomb?); refused"
            )
            raise UploadError(msg)
    if MANIFEST_NAME not in seen:
        raise UploadError(f"file: {path} is not a backup of this app: it has no {MANIFEST_NAME}")


def _field(record: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = record.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        msg = f"backup: manifest {where}{key!r}: expected {expected}, got {value!r:.80}"
        raise UploadError(msg)
    return value


def read_manifest(zf: zipfile.ZipFile) -> Manifest:
    """The manifest of an open backup archive, checked field by field.

    Raises
    ------
    UploadError
        If it is missing, too large, not JSON, of another format or version, or any field
        has the wrong type.
    """
    info = zf.getinfo(MANIFEST_NAME)
    if info.file_size > MAX_MANIFEST_BYTES:
        msg = f"backup: manifest: expected at most {MAX_MANIFEST_BYTES} bytes, got {info.file_size}"
        raise UploadError(msg)
    try:
        with zf.open(info) as fh:
            record = json.loads(fh.read(MAX_MANIFEST_BYTES + 1))
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError, EOFError) as e:
        raise UploadError(
            f"backup: manifest: expected readable JSON, got a damaged one: {e}"
        ) from e
    if not isinstance(record, dict):
        raise UploadError(f"backup: manifest: expected a JSON object, got {type(record).__name__}")
    if record.get("format") != FORMAT:
        msg = f"backup: manifest 'format': expected {FORMAT!r}, got {record.get('format')!r:.80}"
        raise UploadError(msg)
    version = _field(record, "format_version", int, "")
    if version != FORMAT_VERSION:
        msg = (
            f"backup: format version {version} is unknown; this app reads version "
            f"{FORMAT_VERSION}. Restore it with the app that made it, or update this app"
        )
        raise UploadError(msg)
    schema = _field(record, "schema_version", int, "")
    if not 1 <= schema <= LATEST:
        msg = (
            f"backup: schema version {schema}: this app knows versions 1 to {LATEST}; "
            "a backup from a newer app needs that app (update this one first)"
        )
        raise UploadError(msg)
    tables = []
    for i, raw in enumerate(_field(record, "tables", list, "")):
        where = f"tables[{i}]."
        if not isinstance(raw, dict):
            raise UploadError(f"backup: manifest tables[{i}]: expected an object, got {raw!r:.80}")
        name = _field(raw, "name", str, where)
        if not _TABLE_NAME.fullmatch(name):
            raise UploadError(
                f"backup: manifest {where}'name': expected a table name, got {name!r:.80}"
            )
        columns = []
        for j, col in enumerate(_field(raw, "columns", list, where)):
            cwhere = f"{where}columns[{j}]."
            if not isinstance(col, dict):
                raise UploadError(
                    f"backup: manifest {cwhere[:-1]}: expected an object, got {col!r:.80}"
                )
            cname = _field(col, "name", str, cwhere)
            if not _TABLE_NAME.fullmatch(cname):
                msg = f"backup: manifest {cwhere}'name': expected a column name, got {cname!r:.80}"
                raise UploadError(msg)
            geometry = col.get("geometry", False) is True
            srid = _field(col, "srid", int, cwhere) if geometry else None
            columns.append(Column(cname, geometry, srid))
        if not columns or len({c.name for c in columns}) != len(columns):
            raise UploadError(f"backup: manifest {where}'columns': expected distinct column names")
        rows = _field(raw, "rows", int, where)
        size = _field(raw, "bytes", int, where)
        sha = _field(raw, "sha256", str, where)
        if rows < 0 or size < 0 or not _SHA256.fullmatch(sha):
            msg = f"backup: manifest {where[:-1]}: expected rows >= 0, bytes >= 0 and a SHA-256"
            raise UploadError(msg)
        sequences = _field(raw, "sequences", dict, where) if "sequences" in raw else {}
        if not all(isinstance(k, str) and type(v) is int for k, v in sequences.items()):
            raise UploadError(f"backup: manifest {where}'sequences': expected column: integer")
        tables.append(TableEntry(name, tuple(columns), rows, size, sha, dict(sequences)))
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise UploadError("backup: manifest 'tables': a table is listed twice")
    if "schema_migrations" not in names:
        raise UploadError("backup: manifest 'tables': expected schema_migrations among them")
    skipped = record.get("skipped", [])
    if not isinstance(skipped, list) or not all(isinstance(s, str) for s in skipped):
        raise UploadError("backup: manifest 'skipped': expected a list of table names")
    return Manifest(
        version,
        schema,
        str(_field(record, "backend", str, "")),
        str(_field(record, "created_at", str, "")),
        tuple(tables),
        tuple(skipped),
    )


def _member_info(zf: zipfile.ZipFile, entry: TableEntry) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(entry.member)
    except KeyError as e:
        raise UploadError(f"backup: table {entry.name!r}: member {entry.member} is missing") from e
    if info.file_size != entry.bytes:
        msg = (
            f"backup: table {entry.name!r}: expected {entry.bytes} bytes as the manifest says, "
            f"got {info.file_size}; the file was altered or damaged"
        )
        raise UploadError(msg)
    return info


def verify(zf: zipfile.ZipFile, manifest: Manifest, progress: Progress | None = None) -> None:
    """Check every table's size, row count and SHA-256 against the manifest.

    Raises
    ------
    UploadError
        At the first table that differs, is missing, or fails its CRC-32.
    """
    listed = {MANIFEST_NAME} | {t.member for t in manifest.tables}
    extra = sorted(set(zf.namelist()) - listed)
    if extra:
        raise UploadError(f"backup: members {extra[:5]} are not in the manifest; refused")
    for entry in manifest.tables:
        info = _member_info(zf, entry)
        digest, rows, size = hashlib.sha256(), 0, 0
        try:
            with zf.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    rows += chunk.count(b"\n")
                    size += len(chunk)
                    if progress is not None:
                        progress("verify", entry.name, rows, entry.rows)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
            msg = f"backup: table {entry.name!r} is damaged (truncated or altered): {e}"
            raise UploadError(msg) from e
        if (rows, size, digest.hexdigest()) != (entry.rows, entry.bytes, entry.sha256):
            msg = (
                f"backup: table {entry.name!r}: expected {entry.rows} rows with SHA-256 "
                f"{entry.sha256[:12]}…, got {rows} rows with {digest.hexdigest()[:12]}…; "
                "the file was altered or damaged, nothing was restored"
            )
            raise UploadError(msg)


def _rows(
    zf: zipfile.ZipFile, entry: TableEntry, progress: Progress | None
) -> Iterator[list[list[Any]]]:
    """The table's rows in batches, decoded and checked."""
    batch: list[list[Any]] = []
    held, number = 0, 0

    def where() -> str:
        return f"{entry.member} line {number}"

    with zf.open(_member_info(zf, entry)) as fh:
        for line in _lines(fh, entry.member):
            number += 1
            batch.append(_decode_row(line, entry.columns, where))
            held += len(line)
            if len(batch) >= BATCH_ROWS or held >= BATCH_BYTES:
                yield batch
                if progress is not None:
                    progress("restore", entry.name, number, entry.rows)
                batch, held = [], 0
    if batch or number == 0:
        yield batch
    if progress is not None:
        progress("restore", entry.name, number, entry.rows)


def _lines(fh: Any, member: str) -> Iterator[bytes]:
    """The lines of a member without their ends, read a megabyte at a time; a line longer
    than ``MAX_ROW_BYTES`` or a last line without its end is refused."""
    pending: list[bytes] = []
    held = 0
    while chunk := fh.read(1 << 20):
        parts = chunk.split(b"\n")
        if pending:
            parts[0] = b"".join([*pending, parts[0]])
            pending, held = [], 0
        tail = parts.pop()
        if tail:
            pending.append(tail)
            held += len(tail)
        if held > MAX_ROW_BYTES or (parts and max(map(len, parts)) > MAX_ROW_BYTES):
            msg = f"backup: {member}: expected lines of at most {MAX_ROW_BYTES} bytes"
            raise UploadError(msg)
        yield from parts
    if pending:
        raise UploadError(f"backup: {member}: the last line is cut off")


def inspect(path: str | Path) -> Manifest:
    """The manifest of a backup file, with every table's checksum verified."""
    path = Path(path)
    with _open_archive(path) as zf:
        manifest = read_manifest(zf)
        verify(zf, manifest)
    return manifest


# --- restore --------------------------------------------------------------------------------


def restore(
    path: str | Path,
    store: Store,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Load a backup into a store, in one transaction.

    The backup is checked first (manifest, every member's name and size, every table's row
    count and SHA-256); a damaged or hostile file is refused before the store is touched. The
    target must be empty (no rows in any table but ``schema_migrations``) unless ``force``.

    Parameters
    ----------
    path
        A file written by :func:`backup`, from either backend.
    store
        The target store, GeoPackage or PostGIS, opened with or without migrations.
    force
        Replace whatever the target holds (in the same transaction).
    progress
        Called with ``("verify" | "restore", table, rows_done, rows_in_table)``.

    Returns
    -------
    Report
        The backup's manifest and the time taken.

    Raises
    ------
    UploadError
        If the file is not a backup, is damaged, truncated, of an unknown format version or
        from a newer schema, or holds hostile member names, sizes or values.
    GISInputError
        If the target holds data and ``force`` is not given.
    StoreError
        If the target cannot be reached or refuses the rows; nothing was changed.
    """
    started = time.monotonic()
    sql_store = _sql_store(store)
    path = Path(path)
    with _open_archive(path) as zf:
        manifest = read_manifest(zf)
        verify(zf, manifest, progress)
        try:
            with sql_store._write() as cur:
                _load(cur, sql_store, zf, manifest, force, progress)
        except _db_errors() as e:
            msg = (
                f"restore: the store at {sql_store._where()} refused the backup, so nothing was "
                f"changed: {str(e).strip()}"
            )
            raise StoreError(msg) from e
    if sql_store.dialect == "sqlite":  # GDAL and QGIS see the restored file at once
        with sql_store._lock, suppress(*_db_errors()):
            sql_store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Report(path, manifest, time.monotonic() - started, path.stat().st_size)


def _load(
    cur: Any,
    store: SQLStore,
    zf: zipfile.ZipFile,
    manifest: Manifest,
    force: bool,
    progress: Progress | None,
) -> None:
    """Everything a restore writes, inside the caller's transaction."""
    catalog = _catalog(store)
    if catalog.dialect == "sqlite":
        cur.execute("PRAGMA defer_foreign_keys = ON")
    current = _schema_version(cur, store)
    existing, _ = catalog.app_tables(cur)
    catalog.lock(cur, existing)
    held = {}
    for table in existing:
        if table == "schema_migrations":
            continue
        cur.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
        count = int(cur.fetchone()[0])
        if count:
            held[table] = count
    if held and not force:
        listed = ", ".join(f"{t}: {n}" for t, n in sorted(held.items()))
        msg = (
            f"target: the store at {store._where()} is not empty ({listed}); restore into an "
            "empty store, or pass --force to replace everything in it"
        )
        raise GISInputError(msg)
    if existing and (held or current != manifest.schema_version):
        catalog.drop_schema(cur)
        current = 0
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in MIGRATIONS:
        if current < migration.version <= manifest.schema_version:
            for statement in migration.statements(catalog.dialect):
                cur.execute(statement)
    cur.execute("DELETE FROM schema_migrations")
    target, _ = catalog.app_tables(cur)
    _check_tables(cur, catalog, manifest, target)
    switch_on = catalog.disable_triggers(cur, target)
    order = _parents_first(cur, catalog, [t.name for t in manifest.tables])
    for name in order:
        entry = manifest.table(name)
        for rows in _rows(zf, entry, progress):
            if rows:
                catalog.insert(cur, name, entry.columns, rows, entry.member)
    switch_on()
    catalog.after_load(cur, target, manifest)
    for entry in manifest.tables:
        cur.execute(f"SELECT COUNT(*) FROM {_quote(entry.name)}")
        count = int(cur.fetchone()[0])
        if count != entry.rows:
            msg = f"restore: table {entry.name!r}: expected {entry.rows} rows, got {count}"
            raise StoreError(msg)
    for migration in MIGRATIONS:
        if migration.version > manifest.schema_version:
            for statement in migration.statements(catalog.dialect):
                cur.execute(statement)
            cur.execute(
                store._sql("INSERT INTO schema_migrations VALUES (?, ?, ?)"),
                (migration.version, migration.description, now_iso()),
            )


def _check_tables(cur: Any, catalog: _Catalog, manifest: Manifest, target: Sequence[str]) -> None:
    """Every table and column of the backup exists in the target schema, geometry as such."""
    for entry in manifest.tables:
        if entry.name not in target:
            msg = (
                f"backup: table {entry.name!r} is not part of this app's schema version "
                f"{manifest.schema_version}; the backup was not made by this app"
            )
            raise UploadError(msg)
        columns = {c.name: c for c in catalog.table_info(cur, entry.name).columns}
        for column in entry.columns:
            found = columns.get(column.name)
            if found is None:
                msg = f"backup: table {entry.name!r}: column {column.name!r} is not in this schema"
                raise UploadError(msg)
            if found.geometry != column.geometry:
                msg = (
                    f"backup: table {entry.name!r}: column {column.name!r} is "
                    f"{'a geometry' if found.geometry else 'not a geometry'} in this schema"
                )
                raise UploadError(msg)
