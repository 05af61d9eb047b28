"""The office store: PostgreSQL with PostGIS, for many users at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
import shapely

from geo.errors import StoreError
from geo.store import BBox
from geo.store_sql import SQLStore


class PostGISStore(SQLStore):
    """The store in a PostGIS database; geometries in ``geometry(Geometry, 4326)``."""

    backend = "postgis"
    dialect = "postgresql"
    placeholder = "%s"
    json_param = "%s::jsonb"
    lock_clause = " FOR UPDATE OF f"

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=10)
        except psycopg.OperationalError as e:
            safe = self.url.split("@")[-1]
            raise StoreError(f"url: could not connect to PostGIS at {safe}: {e}") from e

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
