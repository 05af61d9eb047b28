"""The embedded store: one GeoPackage (SQLite) file, no setup, opened by GDAL and QGIS too."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import GISInputError, StoreError
from geo.store import BBox
from geo.store_sql import SQLStore

SRS_ID = 4326
# GeoPackage binary header: magic, version 0, flags, srs_id; flags 0b00000011 = little
# endian with an [minx, maxx, miny, maxy] envelope; 0b00010001 = little endian, empty.
_HEADER_ENVELOPE = struct.Struct("<2sBBi4d")
_HEADER_EMPTY = struct.pack("<2sBBi", b"GP", 0, 0b00010001, SRS_ID)
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def encode_gpkg(geom: BaseGeometry | None) -> bytes | None:
    """A shapely geometry as a GeoPackage geometry blob (EPSG:4326)."""
    if geom is None:
        return None
    wkb = shapely.to_wkb(geom, flavor="iso")
    if geom.is_empty:
        return _HEADER_EMPTY + wkb
    minx, miny, maxx, maxy = geom.bounds
    return _HEADER_ENVELOPE.pack(b"GP", 0, 0b00000011, SRS_ID, minx, maxx, miny, maxy) + wkb


def decode_gpkg(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise StoreError(f"geom: expected a GeoPackage blob starting with b'GP', got {blob[:2]!r}")
    flags = blob[3]
    envelope = _ENVELOPE_SIZES.get((flags >> 1) & 0b111)
    if envelope is None:
        raise StoreError(f"geom: unknown GeoPackage envelope code in flags {flags:#010b}")
    return blob[8 + envelope :]


def _envelope(blob: bytes | None, index: int) -> float | None:
    """One value of the blob's [minx, maxx, miny, maxy] envelope (None when empty)."""
    if blob is None or blob[3] & 0b00010000:
        return None
    if (blob[3] >> 1) & 0b111:
        return float(struct.unpack_from("<d" if blob[3] & 1 else ">d", blob, 8 + 8 * index)[0])
    minx, miny, maxx, maxy = shapely.bounds(shapely.from_wkb(decode_gpkg(blob)))
    return (minx, maxx, miny, maxy)[index]


def _register_gpkg_functions(conn: sqlite3.Connection) -> None:
    """Define the SQL functions the GeoPackage R-tree triggers call."""
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, lambda b, i=i: _envelope(b, i), deterministic=True)
    conn.create_function(
        "ST_IsEmpty",
        1,
        lambda b: None if b is None else int(bool(b[3] & 0b00010000)),
        deterministic=True,
    )


class GeoPackageStore(SQLStore):
    """The store in a GeoPackage file: WAL journal, the standard GeoPackage R-tree.

    Other programs (QGIS, ogr2ogr, another Python process) may open the file at any time.
    Do not open it with GDAL (pyogrio, ``geopandas.read_file``) *in the same process* while a
    store is open on it: GDAL links its own SQLite, and POSIX locks are per process, so when
    GDAL closes the file it deletes the WAL that this connection still uses. Export through
    the store (``read_layer``) instead.
    """

    backend = "gpkg"
    dialect = "sqlite"

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.suffix.lower() != ".gpkg":
            msg = f"url: expected a GeoPackage path ending in .gpkg, got {str(path)!r}"
            raise GISInputError(msg)
        super().__init__(str(path))
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            _register_gpkg_functions(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 30000")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"url: could not open the GeoPackage {self.path}: {e}") from e
        return conn

    def migrate(self) -> int:
        """Apply migrations, then checkpoint so GDAL sees the GeoPackage header at once."""
        try:
            version = super().migrate()
            with self._lock:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            raise StoreError(f"url: the GeoPackage {self.path} is not usable: {e}") from e
        return version

    def _begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _table_exists(self, cur: Any, table: str) -> bool:
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return cur.fetchone() is not None

    def _geom_params(self, geoms: np.ndarray) -> list[Any]:
        return [encode_gpkg(g) for g in geoms]

    def _geom_sql(self) -> str:
        return "?"

    def _geom_select(self) -> str:
        return "f.geom"

    def _decode_geoms(self, values: Sequence[Any]) -> np.ndarray:
        return shapely.from_wkb([decode_gpkg(v) for v in values])

    def _bbox_query(self, bbox: BBox) -> tuple[str, str, tuple[float, ...]]:
        # The R-tree drives the join (CROSS JOIN fixes SQLite's loop order): 4x faster than
        # ``id IN (SELECT ...)``, which scans the layer's rows. Its float32 boxes are rounded
        # outward; read_layer re-checks the exact envelopes.
        x0, y0, x1, y1 = bbox
        source = "rtree_features_geom r CROSS JOIN features f ON f.id = r.id"
        where = "r.maxx >= ? AND r.maxy >= ? AND r.minx <= ? AND r.miny <= ?"
        return source, where, (x0, y0, x1, y1)

    def _after_insert(self, cur: Any, layer_id: str, first_fid: int, geoms: np.ndarray) -> None:
        cur.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
            "min_x = (SELECT MIN(minx) FROM rtree_features_geom), "
            "min_y = (SELECT MIN(miny) FROM rtree_features_geom), "
            "max_x = (SELECT MAX(maxx) FROM rtree_features_geom), "
            "max_y = (SELECT MAX(maxy) FROM rtree_features_geom) WHERE table_name = 'features'"
        )

    def _layer_bounds(self, cur: Any, layer_id: str) -> tuple[Any, ...]:
        cur.execute(  # the blobs' exact envelopes, not the R-tree's float32 boxes
            "SELECT COUNT(*), MIN(ST_MinX(geom)), MIN(ST_MinY(geom)), MAX(ST_MaxX(geom)), "
            "MAX(ST_MaxY(geom)) FROM features WHERE layer_id = ?",
            (layer_id,),
        )
        return tuple(cur.fetchone())
