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
    AUDIT_COLUMNS,
    Attachment,
    BBox,
    EditResult,
    Feature,
    FeatureUpdate,
    LayerInfo,
    Session,
    Store,
    User,
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


def _json_text(value: Any) -> str | None:
    """A value for a JSON column: JSON text kept as it is, None as NULL, else dumped."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=json_value)


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
        role: str = "",
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
            layer_id, data, title or layer_id, source, licence, mode, user, dict(meta or {}), role
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
        role: str = "",
    ) -> int:
        rows = self._prepare_rows(layer_id, gdf)
        stamp = now_iso()
        with self._write() as cur:
            self._lock_layer(cur, layer_id)
            before = self._layer_state(cur, layer_id)
            fids = self._insert_rows(
                cur, layer_id, rows, title, source, licence, mode, user, meta, stamp
            )
            self._layer_event(cur, layer_id, mode, stamp, user, len(fids), source)
            self._audit(
                cur,
                [(stamp, user, role, f"layer.{mode}", layer_id, None, before,
                  self._layer_state(cur, layer_id), {"written": len(fids), "source": source})],
            )  # fmt: skip
        return len(fids)

    def _layer_state(self, cur: Any, layer_id: str) -> dict[str, Any] | None:
        """A layer's count, bounds, title and source for the audit (None if there is none)."""
        cur.execute(
            self._sql(
                "SELECT feature_count, minx, miny, maxx, maxy, title, source FROM layers "
                "WHERE layer_id = ?"
            ),
            (layer_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        bounds = [None if v is None else float(v) for v in row[1:5]]
        return {
            "feature_count": int(row[0]),
            "bbox": None if None in bounds else bounds,
            "title": row[5],
            "source": row[6],
        }

    # --- the audit log (append-only: rows are only ever inserted) ------------------------
    def _audit(self, cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append audit rows inside the caller's transaction.

        Each row is ``(at, actor, role, action, layer_id, fid, before, after, detail)``;
        ``before``/``after`` are JSON text, a JSON-ready value, or None; ``detail`` a mapping.
        """
        if not rows:
            return
        cur.executemany(
            self._sql(
                "INSERT INTO audit_log (at, actor, role, action, layer_id, fid, before, after, "
                f"detail) VALUES (?, ?, ?, ?, ?, ?, {self.json_param}, {self.json_param}, "
                f"{self.json_param})"
            ),
            [
                (at, str(actor), str(role or ""), action, layer_id, fid, _json_text(before),
                 _json_text(after), _json_text(dict(detail or {})))
                for at, actor, role, action, layer_id, fid, before, after, detail in rows
            ],
        )  # fmt: skip

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

    def delete_layer(self, layer_id: str, *, user: str = "system", role: str = "") -> None:
        """Remove a layer and its features; its history and events stay."""
        self.layer_info(layer_id)  # NotFoundError for an unknown layer
        stamp = now_iso()
        with self._write() as cur:
            self._lock_layer(cur, layer_id)
            before = self._layer_state(cur, layer_id)
            if before is None:
                raise NotFoundError(f"layer_id: no layer {layer_id!r} in the store")
            cur.execute(self._sql("DELETE FROM features WHERE layer_id = ?"), (layer_id,))
            cur.execute(self._sql("DELETE FROM layers WHERE layer_id = ?"), (layer_id,))
            cur.execute(
                self._sql(
                    "INSERT INTO layer_events (layer_id, action, at, by, feature_count, source) "
                    "VALUES (?, 'delete', ?, ?, ?, '')"
                ),
                (layer_id, stamp, user, before["feature_count"]),
            )
            self._audit(cur, [(stamp, user, role, "layer.delete", layer_id, None, before, None,
                               {})])  # fmt: skip

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
            feature = self._fetch_feature(cur, layer_id, int_fid(fid))
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
        role: str = "",
    ) -> Feature:
        """Optimistic update: refused with ``ConflictError`` if the version moved on."""
        update = FeatureUpdate(int_fid(fid), expected_version, props, geometry, reason)
        return self.apply_edits(layer_id, updates=[update], user=user, role=role).updated[0]

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
        role: str = "",
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
                afters = [_with_wkt(text, g) for text, g in zip(texts, geoms, strict=True)]
                cur.executemany(
                    self._sql(
                        "INSERT INTO feature_history (layer_id, fid, version, action, "
                        "changed_at, changed_by, reason, before, after, effective_at) "
                        f"VALUES (?, ?, 1, 'insert', ?, ?, ?, NULL, {self.json_param}, ?)"
                    ),
                    [
                        (layer_id, fid, stamp, user, reason, after, effective_at)
                        for fid, after in zip(inserted, afters, strict=True)
                    ],
                )
                self._layer_event(cur, layer_id, "append", stamp, user, len(inserted), source)
                detail = {"version": 1, "reason": reason, "effective_at": effective_at}
                self._audit(
                    cur,
                    [(stamp, user, role, "feature.insert", layer_id, fid, None, after, detail)
                     for fid, after in zip(inserted, afters, strict=True)],
                )  # fmt: skip
            updated = [
                self._apply_update(cur, layer_id, u, user, reason, effective_at, stamp, role)
                for u in checked
            ]
            if updated:
                new_cols = sorted({k for u in checked for k in (u.props or {})})
                cur.execute(self._sql("SELECT meta FROM layers WHERE layer_id = ?"), (layer_id,))
                known = {n for n, _ in (self._load_json(cur.fetchone()[0]) or {}).get("dtypes", [])}
                self._add_columns(cur, layer_id, [c for c in new_cols if c not in known])
                if inserted or any(u.geometry is not None for u in checked):
                    self._refresh_layer(cur, layer_id, stamp, user)  # count or box may change
                else:  # attributes only: no rescan of the whole layer under the write lock
                    cur.execute(
                        self._sql(
                            "UPDATE layers SET updated_at = ?, updated_by = ? WHERE layer_id = ?"
                        ),
                        (stamp, user, layer_id),
                    )
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
        role: str = "",
    ) -> Feature:
        """One optimistic update inside the caller's transaction, with its history row and
        its audit row."""
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
        before_text = json.dumps(before, ensure_ascii=False)
        after_text = json.dumps(after, ensure_ascii=False)
        why, when = update.reason or reason, update.effective_at or effective_at
        cur.execute(
            self._sql(
                "INSERT INTO feature_history (layer_id, fid, version, action, changed_at, "
                "changed_by, reason, before, after, effective_at) VALUES (?, ?, ?, 'update', "
                f"?, ?, ?, {self.json_param}, {self.json_param}, ?)"
            ),
            (layer_id, fid, expected_version + 1, stamp, user, why, before_text, after_text,
             when),
        )  # fmt: skip
        detail = {"version": expected_version + 1, "reason": why, "effective_at": when}
        self._audit(cur, [(stamp, user, role, "feature.update", layer_id, fid, before_text,
                           after_text, detail)])  # fmt: skip
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
        self,
        cur: Any,
        att: Attachment,
        action: str,
        user: str,
        reason: str,
        stamp: str,
        role: str = "",
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
        kind = "attachment.add" if action == "attach" else "attachment.delete"
        self._audit(cur, [(stamp, user, role, kind, att.layer_id, att.fid, before, after,
                           {"reason": reason})])  # fmt: skip

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
        role: str = "",
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
            self._attachment_history(cur, att, "attach", user, reason, stamp, role)
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

    def delete_attachment(
        self, attachment_id: int, *, user: str, reason: str = "", role: str = ""
    ) -> Attachment:
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
            self._attachment_history(cur, att, "detach", user, reason, stamp, role)
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
            params += (int_fid(fid),)
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

    # --- accounts and sessions ---------------------------------------------------------
    _USER_COLUMNS = (
        "username, display_name, role, password_hash, disabled, failed_logins, locked_until, "
        "created_at, created_by, updated_at, updated_by, last_login_at"
    )

    def _user(self, row: Sequence[Any]) -> User:
        return User(
            username=row[0], display_name=row[1], role=row[2], password_hash=row[3],
            disabled=bool(row[4]), failed_logins=int(row[5]), locked_until=row[6],
            created_at=row[7], created_by=row[8], updated_at=row[9], updated_by=row[10],
            last_login_at=row[11],
        )  # fmt: skip

    def _fetch_user(self, cur: Any, username: str, *, lock: bool = False) -> User | None:
        cur.execute(
            self._sql(f"SELECT {self._USER_COLUMNS} FROM users WHERE username = ?")
            + (" FOR UPDATE" if lock and self.dialect == "postgresql" else ""),
            (username,),
        )
        row = cur.fetchone()
        return None if row is None else self._user(row)

    def _locked_user(self, cur: Any, username: str) -> User:
        user = self._fetch_user(cur, _check_name(username, "username"), lock=True)
        if user is None:
            raise NotFoundError(f"username: no account {username!r}")
        return user

    def add_user(
        self,
        username: str,
        *,
        display_name: str,
        role: str,
        password_hash: str,
        actor: str,
        actor_role: str,
    ) -> User:
        """Create an account; see :meth:`Store.add_user`."""
        username = _check_name(username, "username")
        _check_role(role)
        if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
            raise GISInputError("password_hash: expected an argon2 hash, got something else")
        display = _check_name(display_name, "display_name")
        stamp = now_iso()
        with self._write() as cur:
            if self._fetch_user(cur, username) is not None:
                raise GISInputError(f"username: an account {username!r} already exists")
            cur.execute(
                self._sql(
                    "INSERT INTO users (username, display_name, role, password_hash, created_at, "
                    "created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (username, display, role, password_hash, stamp, actor, stamp, actor),
            )
            user = self._fetch_user(cur, username)
            assert user is not None
            self._audit(cur, [(stamp, actor, actor_role, "user.add", None, None, None,
                               _public(user), {"username": username})])  # fmt: skip
        return user

    def get_user(self, username: str) -> User:
        """One account."""
        with self._read() as cur:
            user = self._fetch_user(cur, _check_name(username, "username"))
        if user is None:
            raise NotFoundError(f"username: no account {username!r}")
        return user

    def list_users(self) -> list[User]:
        """Every account, sorted by username."""
        with self._read() as cur:
            cur.execute(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY username")
            return [self._user(row) for row in cur.fetchall()]

    def update_user(
        self,
        username: str,
        *,
        actor: str,
        actor_role: str,
        display_name: str | None = None,
        role: str | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
        unlock: bool = False,
        end_sessions: bool = False,
    ) -> User:
        """Change an account; see :meth:`Store.update_user`."""
        changes: dict[str, Any] = {}
        if display_name is not None:
            changes["display_name"] = _check_name(display_name, "display_name")
        if role is not None:
            changes["role"] = _check_role(role)
        if password_hash is not None:
            if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
                raise GISInputError("password_hash: expected an argon2 hash, got something else")
            changes["password_hash"] = password_hash
        if disabled is not None:
            changes["disabled"] = bool(disabled)
        stamp = now_iso()
        with self._write() as cur:
            current = self._locked_user(cur, username)
            if unlock:
                changes.update(failed_logins=0, locked_until=None)
            changes = {
                k: v for k, v in changes.items()
                if k == "password_hash" or getattr(current, k) != v
            }  # fmt: skip
            ended = 0
            if end_sessions or changes.get("disabled") is True:
                cur.execute(self._sql("DELETE FROM sessions WHERE username = ?"), (username,))
                ended = max(int(cur.rowcount), 0)
            if not changes and not ended:
                return current
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)
                cur.execute(
                    self._sql(
                        f"UPDATE users SET {sets}, updated_at = ?, updated_by = ? "
                        "WHERE username = ?"
                    ),
                    (*changes.values(), stamp, actor, current.username),
                )
            user = self._fetch_user(cur, current.username)
            assert user is not None
            before, after = _public(current), _public(user)
            keys = [k for k in before if before[k] != after[k]]
            before = {k: before[k] for k in keys}
            after = {k: after[k] for k in keys}
            if "password_hash" in changes:
                before["password"], after["password"] = "(old)", "(changed)"
            self._audit(cur, [(stamp, actor, actor_role, _user_action(changes, unlock),
                               None, None, before, after,
                               {"username": user.username, "sessions_ended": ended})])  # fmt: skip
        return user

    def remove_user(self, username: str, *, actor: str, actor_role: str) -> User:
        """Delete an account and its sessions; see :meth:`Store.remove_user`."""
        stamp = now_iso()
        with self._write() as cur:
            current = self._locked_user(cur, username)
            cur.execute(self._sql("DELETE FROM sessions WHERE username = ?"), (current.username,))
            ended = max(int(cur.rowcount), 0)
            cur.execute(self._sql("DELETE FROM users WHERE username = ?"), (current.username,))
            detail = {"username": current.username, "sessions_ended": ended}
            self._audit(cur, [(stamp, actor, actor_role, "user.remove", None, None,
                               _public(current), None, detail)])  # fmt: skip
        return current

    def login_failed(self, username: str, *, lock_after: int, lock_until: str) -> User:
        """Count a failed sign-in; see :meth:`Store.login_failed`."""
        if isinstance(lock_after, bool) or not isinstance(lock_after, int) or lock_after < 1:
            raise GISInputError(f"lock_after: expected a positive integer, got {lock_after!r}")
        stamp = now_iso()
        with self._write() as cur:
            current = self._locked_user(cur, username)
            failures = current.failed_logins + 1
            locks = failures >= lock_after
            cur.execute(
                self._sql(
                    "UPDATE users SET failed_logins = ?, locked_until = ? WHERE username = ?"
                ),
                (0 if locks else failures, lock_until if locks else current.locked_until,
                 current.username),
            )  # fmt: skip
            rows: list[tuple[Any, ...]] = [
                (stamp, current.username, current.role, "login.failure", None, None, None, None,
                 {"reason": "wrong password", "failures": failures}),
            ]  # fmt: skip
            if locks:
                rows.append((stamp, current.username, current.role, "login.locked", None, None,
                             None, {"locked_until": lock_until},
                             {"failures": failures}))  # fmt: skip
            self._audit(cur, rows)
            user = self._fetch_user(cur, current.username)
            assert user is not None
        return user

    def create_session(
        self, session: Session, *, actor_role: str, password_hash: str | None = None
    ) -> None:
        """Record a successful sign-in; see :meth:`Store.create_session`."""
        if not isinstance(session, Session) or len(session.token_sha256) != 64:
            raise GISInputError("session: expected a Session with a SHA-256 hex digest")
        stamp = now_iso()
        with self._write() as cur:
            user = self._locked_user(cur, session.username)
            cur.execute(
                self._sql("DELETE FROM sessions WHERE expires_at <= ?"), (session.created_at,)
            )
            cur.execute(
                self._sql(
                    "INSERT INTO sessions (token_sha256, username, created_at, expires_at, "
                    "last_seen_at) VALUES (?, ?, ?, ?, ?)"
                ),
                (session.token_sha256, user.username, session.created_at, session.expires_at,
                 session.last_seen_at),
            )  # fmt: skip
            cur.execute(
                self._sql(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?, "
                    "password_hash = COALESCE(?, password_hash) WHERE username = ?"
                ),
                (session.created_at, password_hash, user.username),
            )
            self._audit(cur, [(stamp, user.username, actor_role, "login.success", None, None,
                               None, None, {"expires_at": session.expires_at,
                                            "rehashed": password_hash is not None})])  # fmt: skip

    _SESSION_COLUMNS = "token_sha256, username, created_at, expires_at, last_seen_at"

    def get_session(self, token_sha256: str) -> Session:
        """A session by its token's SHA-256."""
        with self._read() as cur:
            cur.execute(
                self._sql(f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE token_sha256 = ?"),
                (str(token_sha256),),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError("token: no such session (signed out, expired or never made)")
        return Session(*row)

    def touch_session(self, token_sha256: str, at: str) -> None:
        """Note a session's latest use; not audited."""
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "UPDATE sessions SET last_seen_at = ? WHERE token_sha256 = ? "
                    "AND last_seen_at < ?"
                ),
                (at, str(token_sha256), at),
            )

    def end_session(self, token_sha256: str, *, reason: str, actor_role: str = "") -> bool:
        """Remove a session; see :meth:`Store.end_session`."""
        stamp = now_iso()
        with self._write() as cur:
            cur.execute(
                self._sql(f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE token_sha256 = ?"),
                (str(token_sha256),),
            )
            row = cur.fetchone()
            if row is None:
                return False
            session = Session(*row)
            cur.execute(
                self._sql("DELETE FROM sessions WHERE token_sha256 = ?"), (str(token_sha256),)
            )
            action = "logout" if reason == "logout" else "session.expired"
            detail = {"reason": reason, "signed_in_at": session.created_at}
            self._audit(cur, [(stamp, session.username, actor_role, action, None, None, None,
                               None, detail)])  # fmt: skip
        return True

    def record_event(
        self,
        action: str,
        *,
        actor: str,
        actor_role: str = "",
        layer_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an audit row for something that is not a store write."""
        if not isinstance(action, str) or not action.strip():
            raise GISInputError(f"action: expected a name such as 'dem.replace', got {action!r}")
        if layer_id is not None:
            check_layer_id(layer_id)
        with self._write() as cur:
            self._audit(cur, [(now_iso(), actor, actor_role, action, layer_id, None, None, None,
                               detail)])  # fmt: skip

    def audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        layer_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Audit rows, newest first; see :meth:`Store.audit`."""
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GISInputError(f"{name}: expected a whole number >= 0, got {value!r}")
        where: list[str] = []
        params: list[Any] = []
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            if action.endswith("."):
                where.append("action LIKE ?")
                params.append(action.replace("%", "").replace("_", "\\_") + "%")
                where[-1] += " ESCAPE '\\'"
            else:
                where.append("action = ?")
                params.append(action)
        if layer_id:
            where.append("layer_id = ?")
            params.append(check_layer_id(layer_id))
        if since:
            where.append("at >= ?")
            params.append(utc_bound(since, "since"))
        if until:
            where.append("at < ?")
            params.append(utc_bound(until, "until", end=True))
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._read() as cur:
            cur.execute(self._sql(sql), (*params, limit, offset))
            rows = cur.fetchall()
        frame = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
        for col in ("before", "after", "detail"):
            frame[col] = frame[col].map(self._load_json)
        frame["fid"] = frame["fid"].astype("Int64")
        return frame


ROLES = ("viewer", "editor", "approver", "admin")
WARD_TIMEZONE = "Asia/Ho_Chi_Minh"
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 200:
        raise GISInputError(f"{name}: expected 1 to 200 characters of text, got {value!r}")
    return value.strip()


def _check_role(role: Any) -> str:
    if role not in ROLES:
        raise GISInputError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    return str(role)


def _public(user: User) -> dict[str, Any]:
    """What the audit may show of an account: never its password hash."""
    return {
        "username": user.username, "display_name": user.display_name, "role": user.role,
        "disabled": user.disabled, "failed_logins": user.failed_logins,
        "locked_until": user.locked_until,
    }  # fmt: skip


def _user_action(changes: Mapping[str, Any], unlock: bool) -> str:
    kinds = []
    if "display_name" in changes:
        kinds.append("user.rename")
    if "role" in changes:
        kinds.append("user.role")
    if "password_hash" in changes:
        kinds.append("user.password")
    if "disabled" in changes:
        kinds.append("user.disable" if changes["disabled"] else "user.enable")
    if unlock and ("failed_logins" in changes or "locked_until" in changes):
        kinds.append("user.unlock")
    if not kinds:
        return "user.sessions_ended"
    return kinds[0] if len(kinds) == 1 else "user.update"


def utc_bound(value: Any, name: str, *, end: bool = False) -> str:
    """An ISO date or date-time as the stored UTC text, for comparing with audit times.

    A value without an offset is the ward's time (Asia/Ho_Chi_Minh). With ``end``, a date
    alone means the end of that day (the bound is the next midnight).
    """
    text = value.isoformat() if isinstance(value, date | datetime) else value
    if not isinstance(text, str) or not _ISO_MOMENT.fullmatch(text.strip()):
        msg = f"{name}: expected an ISO date or date-time such as '2026-03-01', got {value!r}"
        raise GISInputError(msg)
    text = text.strip()
    try:
        moment = pd.Timestamp(text)
    except (TypeError, ValueError) as e:
        msg = f"{name}: expected an ISO date or date-time such as '2026-03-01', got {value!r}"
        raise GISInputError(msg) from e
    if end and _DATE_ONLY.fullmatch(text):
        moment += pd.Timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.tz_localize(WARD_TIMEZONE)
    return str(moment.tz_convert("UTC").to_pydatetime().isoformat(timespec="microseconds"))


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
