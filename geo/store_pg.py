"""The office store: PostgreSQL with PostGIS, for many users at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg.conninfo import conninfo_to_dict

from geo.errors import GISInputError, StoreError
from geo.store import BBox
from geo.store_sql import SQLStore

CONNECT_TIMEOUT_S = 5
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 20,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
"""libpq options of every connection: fail fast when the server is gone."""


class PostGISStore(SQLStore):
    """The store in a PostGIS database; geometries in ``geometry(Geometry, 4326)``."""

    backend = "postgis"
    dialect = "postgresql"
    placeholder = "%s"
    json_param = "%s::jsonb"
    lock_clause = " FOR UPDATE OF f"

    def _connect(self) -> psycopg.Connection[Any]:
        """Connect, giving up after ``CONNECT_TIMEOUT_S``; TCP keepalives notice a server
        that vanished without closing the connection (a power cut, a cable) within a minute
        instead of the kernel's two hours."""
        try:
            return psycopg.connect(self.url, **CONNECT_OPTIONS)
        except psycopg.ProgrammingError as e:  # libpq could not parse it
            msg = f"url: expected a postgresql:// URL libpq understands, got an invalid one: {e}"
            raise GISInputError(msg) from e
        except psycopg.OperationalError as e:
            reason = " ".join(str(e).split()).removeprefix("connection is bad: ").rstrip(".")
            msg = f"the database at {self._where()} is not reachable: {reason}; retrying on the "
            raise StoreError(msg + "next action") from e

    def _where(self) -> str:
        """``host:port`` of the server (the socket folder for a local socket), no password."""
        try:
            info = conninfo_to_dict(self.url)
        except psycopg.Error:
            return self.url.split("@")[-1]
        host = str(info.get("host") or info.get("hostaddr") or "localhost")
        return f"{host}:{info.get('port') or 5432}"

    def _conn_lost(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def _is_disconnect(self, error: BaseException, conn: Any) -> bool:
        """A lost server breaks the connection; other operational errors (a deadlock, a
        cancelled statement) leave it usable and are not disconnections."""
        return isinstance(error, psycopg.Error) and bool(conn.closed or conn.broken)

    def _ping(self, conn: Any) -> None:
        conn.execute("SELECT 1")
        conn.rollback()

    def _begin(self, cur: Any) -> None:
        """psycopg opens a transaction on the first statement."""

    def _lock_layer(self, cur: Any, layer_id: str) -> None:
        """A transaction-scoped advisory lock per layer: concurrent writers of one layer wait
        for each other, so fids and the catalogue's column list stay consistent."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (layer_id,))

    def _table_exists(self, cur: Any, table: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cur.fetchone()[0])

    def _geom_params(self, geoms: np.ndarray) -> list[Any]:
        return [None if g is None else shapely.to_wkb(g, flavor="iso") for g in geoms]

    def _geom_sql(self) -> str:
        return "ST_SetSRID(ST_GeomFromWKB(%s), 4326)"

    def _geom_select(self) -> str:
        return "ST_AsBinary(f.geom)"

    def _decode_geoms(self, values: Sequence[Any]) -> np.ndarray:
        return shapely.from_wkb([None if v is None else bytes(v) for v in values])

    def _bbox_query(self, bbox: BBox) -> tuple[str, str, tuple[float, ...]]:
        # && compares float4 index boxes rounded outward; read_layer re-checks the exact box.
        return "features f", "f.geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)", tuple(bbox)

    def _layer_bounds(self, cur: Any, layer_id: str) -> tuple[Any, ...]:
        cur.execute(
            "SELECT COUNT(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), "
            "ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) FROM features WHERE layer_id = %s",
            (layer_id,),
        )
        return tuple(cur.fetchone())
