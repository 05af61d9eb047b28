"""The SQL core shared by the GeoPackage and PostGIS stores; backends supply dialect hooks."""

from __future__ import annotations

import abc
import hashlib
import json
import math
import numbers
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import to_wgs84
from geo.errors import ConflictError, CRSError, GISInputError, NotFoundError, StoreError
from geo.migrations import LATEST, MIGRATIONS, Dialect
from geo.store import (
    Attachment,
    BBox,
    EditResult,
    Feature,
    FeatureUpdate,
    LayerInfo,
    Store,
    WriteMode,
    check_layer_id,
)

RESERVED_COLUMNS = {"fid", "_version", "geometry"}


def now_iso() -> str:
    """The current UTC time as ISO 8601, to the microsecond (cache keys follow it)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def json_value(value: Any) -> Any:
    """Turn a pandas/numpy cell into something ``json.dumps`` writes faithfully."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    return value


def props_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready attribute dict per row."""
    columns = list(frame.columns)
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def dtypes_of(frame: pd.DataFrame) -> list[list[str]]:
    """Columns in order with their dtypes, to restore on read (JSON keeps neither).

    A list of pairs, not a mapping: PostgreSQL's JSONB does not keep key order.
    """
    return [[str(c), str(t)] for c, t in frame.dtypes.items()]


def restore_dtypes(frame: pd.DataFrame, dtypes: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Give columns read back from JSON their written dtypes where the values allow it."""
    for col, dtype in dtypes:
        if col not in frame.columns or dtype in ("str", "string", "object"):
            continue
        try:
            target = pd.api.types.pandas_dtype(dtype)
            values = frame[col]
            if isinstance(target, pd.DatetimeTZDtype) or target.kind == "M":
                frame[col] = pd.to_datetime(values, utc=isinstance(target, pd.DatetimeTZDtype))
                frame[col] = frame[col].astype(target)
            elif isinstance(target, np.dtype) and target.kind in "iub" and values.isna().any():
                continue  # a numpy int or bool column cannot hold the missing values an edit made
            elif isinstance(target, np.dtype) and target.kind in "iuf":
                frame[col] = pd.to_numeric(values).astype(target)
            else:
                frame[col] = values.astype(target)
        except (TypeError, ValueError):
            continue  # values were edited to another type; keep them as read
    return frame


def int_fid(fid: Any) -> int:
    """A feature id as ``int``; refuses booleans, fractions and text."""
    if isinstance(fid, bool) or not isinstance(fid, numbers.Integral):
        raise GISInputError(f"fid: expected an integer feature id, got {fid!r}")
    return int(fid)


_ISO_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
)


def check_when(value: Any, name: str) -> str | None:
    """An ISO date or date-time (not in the future) as text, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not _ISO_MOMENT.fullmatch(value.strip()):
        msg = f"{name}: expected an ISO date or date-time such as '2025-07-01', got {value!r}"
        raise GISInputError(msg)
    if not isinstance(value, str | date | datetime | pd.Timestamp):
        msg = f"{name}: expected an ISO date or date-time such as '2025-07-01', got {value!r}"
        raise GISInputError(msg)
    try:
        when = pd.Timestamp(value)
    except (TypeError, ValueError) as e:
        msg = f"{name}: expected an ISO date or date-time such as '2025-07-01', got {value!r}"
        raise GISInputError(msg) from e
    if pd.isna(when):
        return None
    moment = when.tz_convert("UTC") if when.tzinfo else when.tz_localize("UTC")
    if moment > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1):
        raise GISInputError(f"{name}: expected a moment in the past, got {value!r}")
    if when.hour or when.minute or when.second:
        return when.isoformat()
    return when.date().isoformat()


def _with_wkt(text: str, geom: BaseGeometry | None) -> str:
    """A feature's JSON props with its geometry as WKT, for the history's ``after``."""
    record = json.loads(text)
    record["geometry"] = None if geom is None else geom.wkt
    return json.dumps(record, ensure_ascii=False)


def _has_nul(text: str) -> bool:
    return "\\u0000" in text


class SQLStore(Store):
    """Everything but the dialect: transactions, versions, history, GeoDataFrame conversion."""

    dialect: Dialect
    placeholder: str = "?"
    json_param: str = "?"

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.RLock()
        self._conn: Any = None

    # --- dialect hooks -------------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any:
        """Open a DB-API connection."""

    @abc.abstractmethod
    def _begin(self, cur: Any) -> None:
        """Start a write transaction."""

    @abc.abstractmethod
    def _geom_params(self, geoms: np.ndarray) -> list[Any]:
        """Per-geometry parameters for ``_geom_sql``."""

    @abc.abstractmethod
    def _geom_sql(self) -> str:
        """The SQL expression that turns one geometry parameter into the stored value."""

    @abc.abstractmethod
    def _geom_select(self) -> str:
        """The SQL expression that selects the geometry for ``_decode_geoms``."""

    @abc.abstractmethod
    def _decode_geoms(self, values: Sequence[Any]) -> np.ndarray:
        """Stored values → shapely geometries."""

    @abc.abstractmethod
    def _bbox_query(self, bbox: BBox) -> tuple[str, str, tuple[float, ...]]:
        """The FROM source naming the features ``f``, a WHERE fragment (``?`` placeholders)
        choosing those whose index box meets ``bbox``, and its parameters. Index boxes may be
        rounded outward: :meth:`read_layer` re-checks the exact boxes."""

    def _lock_layer(self, cur: Any, layer_id: str) -> None:
        """Serialise writers of one layer inside the transaction (fids, catalogue)."""

    def _after_insert(self, cur: Any, layer_id: str, first_fid: int, geoms: np.ndarray) -> None:
        """Backend work after features were inserted (the GeoPackage's contents table)."""

    @abc.abstractmethod
    def _table_exists(self, cur: Any, table: str) -> bool:
        """Whether a table exists."""

    # --- plumbing --------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder) if self.placeholder != "?" else sql

    def _load_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    # --- connection health (a database server may restart under a running app) ----------
    PING_AFTER_S = 1.0
    """A connection idle this long is checked with a ping before its next use."""

    def _conn_lost(self, conn: Any) -> bool:
        """Whether ``conn`` is known to be unusable (closed, or broken by a lost server)."""
        return False

    def _is_disconnect(self, error: BaseException, conn: Any) -> bool:
        """Whether ``error``, raised while using ``conn``, means the connection is gone."""
        return False

    def _ping(self, conn: Any) -> None:
        """A round trip that fails if the server went away (no-op for an embedded store)."""

    def _unreachable(self, error: BaseException, what: str) -> StoreError:
        """The plain message for a lost database, after dropping the dead connection."""
        self._discard()
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
        return StoreError(
            f"the database at {self._where()} is not reachable: {what}: {reason}; "
            "retrying on the next action"
        )

    def _where(self) -> str:
        """Where the database is, without credentials, for messages."""
        return self.url

    def _discard(self) -> None:
        """Forget the connection (closing it quietly): the next use opens a fresh one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # it is dead already; nothing to save
                conn.close()

    @property
    def conn(self) -> Any:
        """The open connection, opened on first use and again after it was lost."""
        with self._lock:
            if self._conn is not None and self._conn_lost(self._conn):
                self._discard()
            if self._conn is None:
                self._conn = self._connect()
                self._used_at = time.monotonic()
            return self._conn

    def _checked_conn(self) -> Any:
        """The connection, pinged first if it sat idle: a server restarted meanwhile is
        noticed before any statement of the caller runs, so it costs one reconnect, not an
        error. Raises ``StoreError`` when the server cannot be reached."""
        conn = self.conn
        if time.monotonic() - getattr(self, "_used_at", 0.0) > self.PING_AFTER_S:
            try:
                self._ping(conn)
            except Exception as e:
                if not self._is_disconnect(e, conn):
                    raise
                self._discard()
                conn = self.conn  # one fresh connection; StoreError if the server is down
        return conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock:
            conn = self._checked_conn()
            cur = conn.cursor()
            try:
                yield cur
            except Exception as e:
                if self._is_disconnect(e, conn):
                    raise self._unreachable(e, "the connection was lost during a read") from e
                raise
            finally:
                self._close_quietly(cur)
                if self.dialect == "postgresql" and self._conn is conn:
                    self._end_read(conn)  # end the implicit read transaction
                self._used_at = time.monotonic()

    def _end_read(self, conn: Any) -> None:
        try:
            conn.rollback()
        except Exception as e:
            if not self._is_disconnect(e, conn):
                raise
            self._discard()

    @staticmethod
    def _close_quietly(cur: Any) -> None:
        with suppress(Exception):  # a cursor of a lost connection
            cur.close()

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction. If the server goes away during it, ``StoreError`` says so;
        a failed write is never retried here: only the caller knows whether to repeat it."""
        with self._lock:
            conn = self._checked_conn()
            cur = conn.cursor()
            begun = False
            try:
                self._begin(cur)
                begun = True
                yield cur
            except BaseException as e:
                lost = self._is_disconnect(e, conn)
                if begun and not lost:
                    try:
                        conn.rollback()
                    except Exception as rollback_error:
                        if not self._is_disconnect(rollback_error, conn):
                            raise
                        lost = True
                if lost:
                    what = "the connection was lost during a write, which was not saved"
                    raise self._unreachable(e, what) from e
                raise
            else:
                try:
                    conn.commit()
                except Exception as e:
                    if self._is_disconnect(e, conn):
                        what = (
                            "the connection was lost while saving: the change may or may not "
                            "have been saved, check before repeating it"
                        )
                        raise self._unreachable(e, what) from e
                    raise
            finally:
                self._close_quietly(cur)
                self._used_at = time.monotonic()

    def close(self) -> None:
        """Close the connection; the store reopens it on next use."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- schema ----------------------------------------------------------------------
    def schema_version(self) -> int:
        """The highest applied migration (0 for an empty store)."""
        with self._read() as cur:
            if not self._table_exists(cur, "schema_migrations"):
                return 0
            cur.execute("SELECT MAX(version) FROM schema_migrations")
            row = cur.fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction."""
        with self._write() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        current = self.schema_version()
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            with self._write() as cur:
                for statement in migration.statements(self.dialect):
                    cur.execute(statement)
                cur.execute(
                    self._sql("INSERT INTO schema_migrations VALUES (?, ?, ?)"),
                    (migration.version, migration.description, now_iso()),
                )
        return LATEST

    # --- layers ------------------------------------------------------------------------
    _LAYER_COLUMNS = (
        "layer_id, title, source, licence, geometry_type, feature_count, "
        "minx, miny, maxx, maxy, updated_at, updated_by, meta"
    )

    def _info(self, row: Sequence[Any]) -> LayerInfo:
        bounds: Any = tuple(row[6:10])
        return LayerInfo(
            layer_id=row[0],
            title=row[1],
            source=row[2],
            licence=row[3],
            geometry_type=row[4],
            feature_count=int(row[5]),
            bbox=None if any(b is None for b in bounds) else bounds,
            updated_at=row[10],
            updated_by=row[11],
            meta=self._load_json(row[12]) or {},
        )

    def list_layers(self) -> list[LayerInfo]:
        """Every layer in the catalogue, sorted by id."""
        with self._read() as cur:
            cur.execute(f"SELECT {self._LAYER_COLUMNS} FROM layers ORDER BY layer_id")
            return [self._info(row) for row in cur.fetchall()]

    def layer_info(self, layer_id: str) -> LayerInfo:
        """One layer's catalogue entry."""
        check_layer_id(layer_id)
        with self._read() as cur:
            cur.execute(
                self._sql(f"SELECT {self._LAYER_COLUMNS} FROM layers WHERE layer_id = ?"),
                (layer_id,),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"layer_id: no layer {layer_id!r} in the store")
        return self._info(row)

    def write_layer(
        self,
        layer_id: str,
        gdf: gpd.GeoDataFrame,
        *,
        title: str | None = None,
        source: str = "",
        licence: str = "",
        mode: WriteMode = "replace",
        user: str = "system",
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Write features in one transaction; see :meth:`Store.write_layer`."""
        check_layer_id(layer_id)
        if mode not in ("replace", "append"):
            raise GISInputError(f"mode: expected 'replace' or 'append', got {mode!r}")
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise GISInputError(f"gdf: expected a GeoDataFrame, got {type(gdf).__name__}")
        if gdf.crs is None:
            raise CRSError(f"gdf: layer {layer_id!r} has no CRS; declare it before storing")
        clash = RESERVED_COLUMNS & set(gdf.columns) - {gdf.geometry.name}
        if clash:
            raise GISInputError(f"gdf: columns {sorted(clash)} are reserved; rename them first")
        data = gdf if gdf.crs.to_epsg() == 4326 else to_wgs84(gdf)  # VN-2000: pinned EPSG:6960
        return self._write_layer_core(
            layer_id, data, title or layer_id, source, licence, mode, user, dict(meta or {})
        )

    def _prepare_rows(
        self, layer_id: str, gdf: gpd.GeoDataFrame
    ) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
        """Geometries, attributes and JSON texts of features to insert (checked for NUL)."""
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        texts = [json.dumps(rec, ensure_ascii=False) for rec in props_records(attrs)]
        bad = [i for i, text in enumerate(texts) if _has_nul(text)]
        if bad:
            msg = f"gdf: rows {bad[:5]} contain a NUL character (\\x00) in text; remove it first"
            raise GISInputError(msg)
        return geoms, attrs, texts

    def _write_layer_core(
        self,
        layer_id: str,
        gdf: gpd.GeoDataFrame,
        title: str,
        source: str,
        licence: str,
        mode: WriteMode,
        user: str,
        meta: dict[str, Any],
    ) -> int:
        rows = self._prepare_rows(layer_id, gdf)
        stamp = now_iso()
        with self._write() as cur:
            fids = self._insert_rows(
                cur, layer_id, rows, title, source, licence, mode, user, meta, stamp
            )
            self._layer_event(cur, layer_id, mode, stamp, user, len(fids), source)
        return len(fids)

    def _layer_event(
        self, cur: Any, layer_id: str, action: str, stamp: str, user: str, count: int, source: str
    ) -> None:
        cur.execute(
            self._sql(
                "INSERT INTO layer_events (layer_id, action, at, by, feature_count, source) "
                "VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (layer_id, action, stamp, user, count, source),
        )

    def _insert_rows(
        self,
        cur: Any,
        layer_id: str,
        rows: tuple[np.ndarray, pd.DataFrame, list[str]],
        title: str | None,
        source: str,
        licence: str,
        mode: WriteMode,
        user: str,
        meta: dict[str, Any],
        stamp: str,
    ) -> list[int]:
        """Insert prepared rows inside the caller's transaction; return their fids."""
        geoms, attrs, texts = rows
        self._lock_layer(cur, layer_id)
        types = {g.geom_type for g in geoms if g is not None and not g.is_empty}
        cur.execute(self._sql("SELECT next_fid, meta, title FROM layers WHERE layer_id = ?"),
                    (layer_id,))  # fmt: skip
        row = cur.fetchone()
        if row is not None and mode == "replace":
            cur.execute(self._sql("DELETE FROM features WHERE layer_id = ?"), (layer_id,))
        # fids are never reused, even after delete_layer, so a history row always means
        # one feature.
        if row is None:
            cur.execute(
                self._sql("SELECT COALESCE(MAX(fid), 0) + 1 FROM feature_history "
                          "WHERE layer_id = ?"),
                (layer_id,),
            )  # fmt: skip
            start = int(cur.fetchone()[0])
        else:
            start = int(row[0])
        old_meta = {} if row is None else self._load_json(row[1]) or {}
        kept = old_meta if mode == "append" else {}
        if mode == "append":
            cur.execute(
                self._sql("SELECT geometry_type FROM layers WHERE layer_id = ?"), (layer_id,)
            )
            found = cur.fetchone()
            types |= {t for t in (found[0] if found else "").split(",") if t}
        dtypes = _merge_dtypes(kept.get("dtypes", []), dtypes_of(attrs))
        meta = {**kept, **meta, "dtypes": dtypes}
        title = title or (row[2] if row is not None else layer_id)
        if row is None:
            cur.execute(
                self._sql(
                    "INSERT INTO layers (layer_id, title, source, licence, updated_at, "
                    f"updated_by, meta) VALUES (?, ?, ?, ?, ?, ?, {self.json_param})"
                ),
                (layer_id, title, source, licence, stamp, user, json.dumps(meta)),
            )
        fids = list(range(start, start + len(texts)))
        geom_params = self._geom_params(geoms)
        cur.executemany(
            self._sql(
                "INSERT INTO features (layer_id, fid, props, geom, version, updated_at, "
                f"updated_by) VALUES (?, ?, {self.json_param}, {self._geom_sql()}, 1, ?, ?)"
            ),
            [
                (layer_id, fid, text, g, stamp, user)
                for fid, text, g in zip(fids, texts, geom_params, strict=True)
            ],
        )
        self._after_insert(cur, layer_id, start, geoms)
        self._refresh_layer(cur, layer_id, stamp, user, next_fid=start + len(texts))
        cur.execute(
            self._sql(
                f"UPDATE layers SET title = ?, source = COALESCE(NULLIF(?, ''), source), "
                f"licence = COALESCE(NULLIF(?, ''), licence), geometry_type = ?, "
                f"meta = {self.json_param} WHERE layer_id = ?"
            ),
            (title, source, licence, ",".join(sorted(types)), json.dumps(meta), layer_id),
        )
        return fids

    @abc.abstractmethod
    def _layer_bounds(self, cur: Any, layer_id: str) -> tuple[Any, ...]:
        """(count, minx, miny, maxx, maxy) of a layer's features."""

    def _refresh_layer(
        self, cur: Any, layer_id: str, stamp: str, user: str, *, next_fid: int | None = None
    ) -> None:
        count, *bounds = self._layer_bounds(cur, layer_id)
        cur.execute(
            self._sql(
                "UPDATE layers SET feature_count = ?, next_fid = COALESCE(?, next_fid), "
                "minx = ?, miny = ?, maxx = ?, maxy = ?, updated_at = ?, updated_by = ? "
                "WHERE layer_id = ?"
            ),
            (int(count), next_fid, *bounds, stamp, user, layer_id),
        )

    def read_layer(
        self,
        layer_id: str,
        *,
        bbox: BBox | None = None,
        columns: list[str] | None = None,
        changed_since: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer, optionally only those whose box meets ``bbox``, or those
        written after ``changed_since``."""
        info = self.layer_info(layer_id)
        if bbox is not None:
            bbox = _check_bbox(bbox)
        source, where = "features f", "f.layer_id = ?"
        params: tuple[Any, ...] = (layer_id,)
        if bbox is not None:
            source, clause, bbox_params = self._bbox_query(bbox)
            where, params = f"{clause} AND {where}", (*bbox_params, layer_id)
        if changed_since is not None:
            where, params = f"{where} AND f.updated_at > ?", (*params, _check_iso(changed_since))
        stamp = ", f.updated_at" if changed_since is not None else ""
        sql = (
            f"SELECT f.fid, f.props, {self._geom_select()}, f.version{stamp} "
            f"FROM {source} WHERE {where} ORDER BY f.fid"
        )
        with self._read() as cur:
            cur.execute(self._sql(sql), params)
            rows = cur.fetchall()
        frame = self._frame(rows, info, columns)
        if bbox is not None and len(frame):
            x0, y0, x1, y1 = bbox
            b = shapely.bounds(frame.geometry.values)
            exact = (b[:, 2] >= x0) & (b[:, 3] >= y0) & (b[:, 0] <= x1) & (b[:, 1] <= y1)
            if not exact.all():
                frame = frame[exact]
        return frame

    def _frame(
        self, rows: list[Sequence[Any]], info: LayerInfo, columns: list[str] | None
    ) -> gpd.GeoDataFrame:
        dtypes: list[list[str]] = info.meta.get("dtypes", [])
        names = [name for name, _ in dtypes]
        props = pd.DataFrame.from_records(
            [self._load_json(r[1]) for r in rows], columns=names or None
        )
        if columns is not None:
            missing = sorted(set(columns) - set(props.columns))
            if missing:
                msg = f"columns: layer {info.layer_id!r} has no columns {missing}"
                raise GISInputError(msg)
            props = props.reindex(columns=columns)
        props = restore_dtypes(props, dtypes)
        props.index = pd.Index([int(r[0]) for r in rows], name="fid")
        props["_version"] = [int(r[3]) for r in rows]
        if rows and len(rows[0]) > 4:
            props["_updated_at"] = [str(r[4]) for r in rows]
        geoms = self._decode_geoms([r[2] for r in rows])
        return gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, index=props.index), crs=4326)

    def delete_layer(self, layer_id: str, *, user: str = "system") -> None:
        """Remove a layer and its features; its history and events stay."""
        info = self.layer_info(layer_id)
        with self._write() as cur:
            cur.execute(self._sql("DELETE FROM features WHERE layer_id = ?"), (layer_id,))
            cur.execute(self._sql("DELETE FROM layers WHERE layer_id = ?"), (layer_id,))
            cur.execute(
                self._sql(
                    "INSERT INTO layer_events (layer_id, action, at, by, feature_count, source) "
                    "VALUES (?, 'delete', ?, ?, ?, '')"
                ),
                (layer_id, now_iso(), user, info.feature_count),
            )

    # --- features --------------------------------------------------------------------
    def _add_columns(self, cur: Any, layer_id: str, names: list[str]) -> None:
        """Record attributes an edit introduced, so ``read_layer`` shows them."""
        if not names:
            return
        cur.execute(self._sql("SELECT meta FROM layers WHERE layer_id = ?"), (layer_id,))
        meta = self._load_json(cur.fetchone()[0]) or {}
        meta["dtypes"] = _merge_dtypes(meta.get("dtypes", []), [[n, "object"] for n in names])
        cur.execute(
            self._sql(f"UPDATE layers SET meta = {self.json_param} WHERE layer_id = ?"),
            (json.dumps(meta, ensure_ascii=False), layer_id),
        )

    lock_clause = ""

    def _fetch_feature(
        self, cur: Any, layer_id: str, fid: int, *, lock: bool = False
    ) -> Feature | None:
        cur.execute(
            self._sql(
                f"SELECT f.fid, f.props, {self._geom_select()}, f.version, f.updated_at, "
                "f.updated_by FROM features f WHERE f.layer_id = ? AND f.fid = ?"
                + (self.lock_clause if lock else "")
            ),
            (layer_id, fid),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return Feature(
            layer_id=layer_id,
            fid=int(row[0]),
            props=self._load_json(row[1]),
            geometry=self._decode_geoms([row[2]])[0],
            version=int(row[3]),
            updated_at=row[4],
            updated_by=row[5],
        )

    def get_feature(self, layer_id: str, fid: int) -> Feature:
        """One feature by layer and id."""
        check_layer_id(layer_id)
        with self._read() as cur:
            feature = self._fetch_feature(cur, layer_id, int(fid))
        if feature is None:
            raise NotFoundError(f"fid: no feature {fid!r} in layer {layer_id!r}")
        return feature

    def update_feature(
        self,
        layer_id: str,
        fid: int,
        *,
        expected_version: int,
        props: Mapping[str, Any] | None = None,
        geometry: BaseGeometry | None = None,
        user: str,
        reason: str = "",
    ) -> Feature:
        """Optimistic update: refused with ``ConflictError`` if the version moved on."""
        update = FeatureUpdate(int_fid(fid), expected_version, props, geometry, reason)
        return self.apply_edits(layer_id, updates=[update], user=user).updated[0]

    def apply_edits(
        self,
        layer_id: str,
        *,
        inserts: gpd.GeoDataFrame | None = None,
        updates: Sequence[FeatureUpdate] = (),
        user: str,
        reason: str = "",
        effective_at: str | None = None,
        title: str | None = None,
        source: str = "",
        licence: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> EditResult:
        """Inserts and optimistic updates in one transaction; see :meth:`Store.apply_edits`."""
        check_layer_id(layer_id)
        if not isinstance(user, str) or not user.strip():
            raise GISInputError("user: expected who makes the change, got an empty name")
        effective_at = check_when(effective_at, "effective_at")
        checked = [self._check_update(u) for u in updates]
        fids = [u.fid for u in checked]
        if len(set(fids)) != len(fids):
            dup = sorted({f for f in fids if fids.count(f) > 1})
            raise GISInputError(f"updates: expected each fid once, got {dup} more than once")
        rows = None
        if inserts is not None:
            if not isinstance(inserts, gpd.GeoDataFrame):
                msg = f"inserts: expected a GeoDataFrame, got {type(inserts).__name__}"
                raise GISInputError(msg)
            if inserts.crs is None:
                raise CRSError(f"inserts: features for {layer_id!r} have no CRS; declare it")
            clash = RESERVED_COLUMNS & set(inserts.columns) - {inserts.geometry.name}
            if clash:
                msg = f"inserts: columns {sorted(clash)} are reserved; rename them first"
                raise GISInputError(msg)
            data = inserts if inserts.crs.to_epsg() == 4326 else to_wgs84(inserts)
            rows = self._prepare_rows(layer_id, data)
        if rows is None and not checked:
            self.layer_info(layer_id)  # NotFoundError for an unknown layer
            return EditResult(inserted=[], updated=[])
        stamp = now_iso()
        with self._write() as cur:
            self._lock_layer(cur, layer_id)
            inserted: list[int] = []
            if rows is None:
                cur.execute(self._sql("SELECT 1 FROM layers WHERE layer_id = ?"), (layer_id,))
                if cur.fetchone() is None:
                    raise NotFoundError(f"layer_id: no layer {layer_id!r} in the store")
            else:
                inserted = self._insert_rows(
                    cur, layer_id, rows, title, source, licence, "append", user,
                    dict(meta or {}), stamp,
                )  # fmt: skip
                geoms, _, texts = rows
                cur.executemany(
                    self._sql(
                        "INSERT INTO feature_history (layer_id, fid, version, action, "
                        "changed_at, changed_by, reason, before, after, effective_at) "
                        f"VALUES (?, ?, 1, 'insert', ?, ?, ?, NULL, {self.json_param}, ?)"
                    ),
                    [
                        (layer_id, fid, stamp, user, reason, _with_wkt(text, g), effective_at)
                        for fid, text, g in zip(inserted, texts, geoms, strict=True)
                    ],
                )
                self._layer_event(cur, layer_id, "append", stamp, user, len(inserted), source)
            updated = [
                self._apply_update(cur, layer_id, u, user, reason, effective_at, stamp)
                for u in checked
            ]
            if updated:
                new_cols = sorted({k for u in checked for k in (u.props or {})})
                cur.execute(self._sql("SELECT meta FROM layers WHERE layer_id = ?"), (layer_id,))
                known = {n for n, _ in (self._load_json(cur.fetchone()[0]) or {}).get("dtypes", [])}
                self._add_columns(cur, layer_id, [c for c in new_cols if c not in known])
                self._refresh_layer(cur, layer_id, stamp, user)
        return EditResult(inserted=inserted, updated=updated)

    def _check_update(self, update: FeatureUpdate) -> FeatureUpdate:
        """Validate one update and return it with JSON-ready props."""
        if not isinstance(update, FeatureUpdate):
            msg = f"updates: expected FeatureUpdate items, got {type(update).__name__}"
            raise GISInputError(msg)
        version = update.expected_version
        if not isinstance(version, numbers.Integral) or isinstance(version, bool) or version < 1:
            msg = f"expected_version: expected a positive integer, got {version!r}"
            raise GISInputError(msg)
        if update.props is None and update.geometry is None:
            raise GISInputError("props, geometry: expected something to change, got neither")
        geometry = update.geometry
        if geometry is not None and not (isinstance(geometry, BaseGeometry) and geometry.is_valid):
            raise GISInputError(f"geometry: expected a valid shapely geometry, got {geometry!r}")
        changes = {str(k): json_value(v) for k, v in (update.props or {}).items()}
        clash = RESERVED_COLUMNS & set(changes)
        if clash:
            raise GISInputError(f"props: {sorted(clash)} are reserved and cannot be set")
        if _has_nul(json.dumps(changes)):
            raise GISInputError("props: text contains a NUL character (\\x00); remove it first")
        return FeatureUpdate(
            int_fid(update.fid),
            int(version),
            changes if update.props is not None else None,
            geometry,
            update.reason,
            check_when(update.effective_at, "effective_at"),
        )

    def _apply_update(
        self,
        cur: Any,
        layer_id: str,
        update: FeatureUpdate,
        user: str,
        reason: str,
        effective_at: str | None,
        stamp: str,
    ) -> Feature:
        """One optimistic update inside the caller's transaction, with its history row."""
        fid, expected_version, geometry = update.fid, update.expected_version, update.geometry
        changes = dict(update.props or {})
        current = self._fetch_feature(cur, layer_id, fid, lock=True)
        if current is None:
            raise NotFoundError(f"fid: no feature {fid!r} in layer {layer_id!r}")
        if current.version != expected_version:
            raise self._conflict(cur, current, expected_version)
        new_props = {**current.props, **changes}
        before = {k: current.props.get(k) for k in changes}
        after = dict(changes)
        if geometry is not None:
            before["geometry"] = None if current.geometry is None else current.geometry.wkt
            after["geometry"] = geometry.wkt
        geom_sql = self._geom_sql() if geometry is not None else "geom"
        geom_param: tuple[Any, ...] = (
            (self._geom_params(np.array([geometry], dtype=object))[0],)
            if geometry is not None
            else ()
        )
        cur.execute(
            self._sql(
                f"UPDATE features SET props = {self.json_param}, geom = {geom_sql}, "
                "version = version + 1, updated_at = ?, updated_by = ? "
                "WHERE layer_id = ? AND fid = ? AND version = ?"
            ),
            (json.dumps(new_props, ensure_ascii=False), *geom_param, stamp, user,
             layer_id, fid, expected_version),
        )  # fmt: skip
        if cur.rowcount != 1:
            raise self._conflict(cur, current, expected_version)
        cur.execute(
            self._sql(
                "INSERT INTO feature_history (layer_id, fid, version, action, changed_at, "
                "changed_by, reason, before, after, effective_at) VALUES (?, ?, ?, 'update', "
                f"?, ?, ?, {self.json_param}, {self.json_param}, ?)"
            ),
            (layer_id, fid, expected_version + 1, stamp, user, update.reason or reason,
             json.dumps(before, ensure_ascii=False), json.dumps(after, ensure_ascii=False),
             update.effective_at or effective_at),
        )  # fmt: skip
        updated = self._fetch_feature(cur, layer_id, fid)
        assert updated is not None
        return updated

    def _conflict(self, cur: Any, current: Feature, expected: int) -> ConflictError:
        cur.execute(
            self._sql(
                "SELECT version, changed_at, changed_by, reason, before, after "
                "FROM feature_history WHERE layer_id = ? AND fid = ? AND version > ? "
                "ORDER BY version"
            ),
            (current.layer_id, current.fid, expected),
        )
        changes = [
            {
                "version": int(v),
                "changed_at": at,
                "changed_by": by,
                "reason": reason,
                "before": self._load_json(before),
                "after": self._load_json(after),
            }
            for v, at, by, reason, before, after in cur.fetchall()
        ]
        who = ", ".join(sorted({c["changed_by"] for c in changes})) or current.updated_by
        msg = (
            f"expected_version: feature {current.fid} of {current.layer_id!r} is at version "
            f"{current.version}, not {expected}; {who} changed it in between. "
            "Reload it, check their changes, and save again."
        )
        return ConflictError(msg, current_version=current.version, changes=changes)

    # --- attachments -----------------------------------------------------------------
    _ATTACHMENT_COLUMNS = (
        "id, layer_id, fid, filename, mime, size, sha256, created_at, created_by, "
        "deleted_at, deleted_by"
    )

    def _attachment(self, row: Sequence[Any]) -> Attachment:
        return Attachment(
            id=int(row[0]), layer_id=row[1], fid=int(row[2]), filename=row[3], mime=row[4],
            size=int(row[5]), sha256=row[6], created_at=row[7], created_by=row[8],
            deleted_at=row[9], deleted_by=row[10],
        )  # fmt: skip

    def _attachment_history(
        self, cur: Any, att: Attachment, action: str, user: str, reason: str, stamp: str
    ) -> None:
        cur.execute(
            self._sql("SELECT version FROM features WHERE layer_id = ? AND fid = ?"),
            (att.layer_id, att.fid),
        )
        row = cur.fetchone()
        record = {"attachment_id": att.id, "filename": att.filename, "mime": att.mime,
                  "size": att.size, "sha256": att.sha256}  # fmt: skip
        before, after = (None, record) if action == "attach" else (record, None)
        cur.execute(
            self._sql(
                "INSERT INTO feature_history (layer_id, fid, version, action, changed_at, "
                f"changed_by, reason, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, "
                f"{self.json_param}, {self.json_param})"
            ),
            (att.layer_id, att.fid, int(row[0]) if row else 0, action, stamp, user, reason,
             None if before is None else json.dumps(before, ensure_ascii=False),
             None if after is None else json.dumps(after, ensure_ascii=False)),
        )  # fmt: skip

    def add_attachment(
        self,
        layer_id: str,
        fid: int,
        *,
        filename: str,
        mime: str,
        data: bytes,
        sha256: str,
        user: str,
        reason: str = "",
    ) -> Attachment:
        """Keep a document with a feature; see :meth:`Store.add_attachment`."""
        check_layer_id(layer_id)
        fid = int_fid(fid)
        if not isinstance(data, bytes) or not data:
            raise GISInputError("data: expected the file's bytes, got an empty file")
        for name, value in (("filename", filename), ("mime", mime), ("user", user)):
            if not isinstance(value, str) or not value.strip() or "\x00" in value:
                raise GISInputError(f"{name}: expected non-empty text, got {value!r}")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise GISInputError("sha256: expected the SHA-256 of data, got a different digest")
        stamp = now_iso()
        with self._write() as cur:
            if self._fetch_feature(cur, layer_id, fid, lock=True) is None:
                raise NotFoundError(f"fid: no feature {fid!r} in layer {layer_id!r}")
            cur.execute(
                self._sql(
                    "INSERT INTO attachments (layer_id, fid, filename, mime, size, sha256, data, "
                    "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (layer_id, fid, filename, mime, len(data), sha256, data, stamp, user),
            )
            cur.execute(
                self._sql(
                    f"SELECT {self._ATTACHMENT_COLUMNS} FROM attachments WHERE layer_id = ? "
                    "AND fid = ? ORDER BY id DESC LIMIT 1"
                ),
                (layer_id, fid),
            )
            att = self._attachment(cur.fetchone())
            self._attachment_history(cur, att, "attach", user, reason, stamp)
        return att

    def list_attachments(
        self, layer_id: str, fid: int, *, include_deleted: bool = False
    ) -> list[Attachment]:
        """A feature's documents, oldest first."""
        check_layer_id(layer_id)
        sql = f"SELECT {self._ATTACHMENT_COLUMNS} FROM attachments WHERE layer_id = ? AND fid = ?"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        with self._read() as cur:
            cur.execute(self._sql(sql + " ORDER BY id"), (layer_id, int_fid(fid)))
            return [self._attachment(row) for row in cur.fetchall()]

    def read_attachment(self, attachment_id: int) -> tuple[Attachment, bytes]:
        """A document and its bytes."""
        with self._read() as cur:
            cur.execute(
                self._sql(f"SELECT {self._ATTACHMENT_COLUMNS}, data FROM attachments WHERE id = ?"),
                (int_fid(attachment_id),),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"attachment_id: no attachment {attachment_id!r}")
        return self._attachment(row[:11]), bytes(row[11])

    def delete_attachment(self, attachment_id: int, *, user: str, reason: str = "") -> Attachment:
        """Mark a document deleted; its bytes stay for the record."""
        if not isinstance(user, str) or not user.strip():
            raise GISInputError("user: expected who makes the change, got an empty name")
        stamp = now_iso()
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "UPDATE attachments SET deleted_at = ?, deleted_by = ? "
                    "WHERE id = ? AND deleted_at IS NULL"
                ),
                (stamp, user, int_fid(attachment_id)),
            )
            if cur.rowcount != 1:
                msg = f"attachment_id: no attachment {attachment_id!r} (or it is already deleted)"
                raise NotFoundError(msg)
            cur.execute(
                self._sql(f"SELECT {self._ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?"),
                (int(attachment_id),),
            )
            att = self._attachment(cur.fetchone())
            self._attachment_history(cur, att, "detach", user, reason, stamp)
        return att

    def history(self, layer_id: str, fid: int | None = None) -> pd.DataFrame:
        """History rows, oldest first."""
        check_layer_id(layer_id)
        sql = (
            "SELECT fid, version, action, changed_at, changed_by, reason, before, after, "
            "effective_at FROM feature_history WHERE layer_id = ?"
        )
        params: tuple[Any, ...] = (layer_id,)
        if fid is not None:
            sql += " AND fid = ?"
            params += (int(fid),)
        with self._read() as cur:
            cur.execute(self._sql(sql + " ORDER BY id"), params)
            rows = cur.fetchall()
        frame = pd.DataFrame(
            rows,
            columns=["fid", "version", "action", "changed_at", "changed_by", "reason",
                     "before", "after", "effective_at"],
        )  # fmt: skip
        for col in ("before", "after"):
            frame[col] = frame[col].map(self._load_json)
        return frame

    def layer_events(self, layer_id: str | None = None) -> pd.DataFrame:
        """Bulk writes and removals of layers (who loaded what, when), oldest first."""
        sql = "SELECT layer_id, action, at, by, feature_count, source FROM layer_events"
        params: tuple[Any, ...] = ()
        if layer_id is not None:
            sql += " WHERE layer_id = ?"
            params = (check_layer_id(layer_id),)
        with self._read() as cur:
            cur.execute(self._sql(sql + " ORDER BY id"), params)
            rows = cur.fetchall()
        return pd.DataFrame(
            rows, columns=["layer_id", "action", "at", "by", "feature_count", "source"]
        )


def _merge_dtypes(old: Sequence[Sequence[str]], new: Sequence[Sequence[str]]) -> list[list[str]]:
    """Column order and dtypes after adding ``new`` to ``old``: new dtypes win, order kept."""
    merged = {name: dtype for name, dtype in old}
    merged.update({name: dtype for name, dtype in new})
    return [[name, dtype] for name, dtype in merged.items()]


def _check_iso(value: str) -> str:
    """An ISO 8601 time as stored in ``updated_at`` (UTC, to the microsecond)."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError as e:
        raise GISInputError(f"changed_since: expected an ISO 8601 time, got {value!r}") from e
    if when.tzinfo is None:
        raise GISInputError(f"changed_since: expected a time with its UTC offset, got {value!r}")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _check_bbox(bbox: BBox) -> BBox:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"bbox: expected (minx, miny, maxx, maxy) numbers, got {bbox!r}") from e
    if not (minx <= maxx and miny <= maxy):
        raise GISInputError(f"bbox: expected minx <= maxx and miny <= maxy, got {bbox!r}")
    return (minx, miny, maxx, maxy)


def geometry_bounds(geoms: np.ndarray) -> np.ndarray:
    """Bounds (minx, miny, maxx, maxy) per geometry; NaN for missing or empty ones."""
    return shapely.bounds(geoms)
