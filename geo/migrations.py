"""Versioned schema migrations for both storage backends (GeoPackage and PostGIS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Migration:
    """One schema step: its version, a description, and the SQL for each dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        """The SQL statements of this step for ``dialect``."""
        return self.sqlite if dialect == "sqlite" else self.postgresql


_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

# The GeoPackage core tables (OGC 12-128r18 §1.1) so the store file opens in QGIS and GDAL.
_GPKG_CORE = (
    "PRAGMA application_id = 1196444487",
    "PRAGMA user_version = 10400",
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
        ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian'),
        ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic'),
        ('WGS 84 geodetic', 4326, 'EPSG', 4326, '"""
    + _WGS84_WKT
    + """', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
        description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
        srs_id INTEGER REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        PRIMARY KEY (table_name, column_name))""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
        definition TEXT NOT NULL, scope TEXT NOT NULL,
        CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
)


def _gpkg_rtree(table: str, column: str, pk: str) -> tuple[str, ...]:
    """The GeoPackage R-tree spatial index extension (OGC 12-128r18 F.3) with its triggers.

    The triggers call ST_MinX, ST_IsEmpty, ...: GDAL defines them, and so does our store on
    every connection (``geo.store_gpkg``).
    """
    rtree = f"rtree_{table}_{column}"
    bounds = f"NEW.{pk}, ST_MinX(NEW.{column}), ST_MaxX(NEW.{column}), " + (
        f"ST_MinY(NEW.{column}), ST_MaxY(NEW.{column})"
    )
    return (
        f"CREATE VIRTUAL TABLE {rtree} USING rtree(id, minx, maxx, miny, maxy)",
        f"""CREATE TRIGGER {rtree}_insert AFTER INSERT ON {table}
            WHEN (NEW.{column} NOT NULL AND NOT ST_IsEmpty(NEW.{column}))
            BEGIN INSERT OR REPLACE INTO {rtree} VALUES ({bounds}); END""",
        f"""CREATE TRIGGER {rtree}_update1 AFTER UPDATE OF {column} ON {table}
            WHEN OLD.{pk} = NEW.{pk} AND (NEW.{column} NOTNULL AND NOT ST_IsEmpty(NEW.{column}))
            BEGIN INSERT OR REPLACE INTO {rtree} VALUES ({bounds}); END""",
        f"""CREATE TRIGGER {rtree}_update2 AFTER UPDATE OF {column} ON {table}
            WHEN OLD.{pk} = NEW.{pk} AND (NEW.{column} ISNULL OR ST_IsEmpty(NEW.{column}))
            BEGIN DELETE FROM {rtree} WHERE id = OLD.{pk}; END""",
        f"""CREATE TRIGGER {rtree}_delete AFTER DELETE ON {table} WHEN OLD.{column} NOT NULL
            BEGIN DELETE FROM {rtree} WHERE id = OLD.{pk}; END""",
        f"""INSERT INTO gpkg_extensions VALUES ('{table}', '{column}', 'gpkg_rtree_index',
            'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')""",
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "layers, features with versions, feature history, layer events",
        sqlite=(
            *_GPKG_CORE,
            """CREATE TABLE layers (
                layer_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
                licence TEXT NOT NULL DEFAULT '', geometry_type TEXT NOT NULL DEFAULT '',
                feature_count INTEGER NOT NULL DEFAULT 0, next_fid INTEGER NOT NULL DEFAULT 1,
                minx REAL, miny REAL, maxx REAL, maxy REAL,
                updated_at TEXT NOT NULL, updated_by TEXT NOT NULL,
                meta TEXT NOT NULL DEFAULT '{}')""",
            """CREATE TABLE features (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                layer_id TEXT NOT NULL REFERENCES layers(layer_id) ON DELETE CASCADE,
                fid INTEGER NOT NULL, props TEXT NOT NULL, geom GEOMETRY,
                version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL, UNIQUE (layer_id, fid))""",
            *_gpkg_rtree("features", "geom", "id"),
            """INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
                VALUES ('features', 'features', 'features',
                        'All layers; the layer_id column names the layer', 4326)""",
            """INSERT INTO gpkg_geometry_columns
                VALUES ('features', 'geom', 'GEOMETRY', 4326, 0, 0)""",
            """CREATE TABLE feature_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT, layer_id TEXT NOT NULL, fid INTEGER NOT NULL,
                version INTEGER NOT NULL, action TEXT NOT NULL, changed_at TEXT NOT NULL,
                changed_by TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
                before TEXT, after TEXT)""",
            "CREATE INDEX feature_history_fid ON feature_history (layer_id, fid, version)",
            """CREATE TABLE layer_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, layer_id TEXT NOT NULL, action TEXT NOT NULL,
                at TEXT NOT NULL, by TEXT NOT NULL, feature_count INTEGER NOT NULL,
                source TEXT NOT NULL DEFAULT '')""",
        ),
        postgresql=(
            "CREATE EXTENSION IF NOT EXISTS postgis",
            """CREATE TABLE layers (
                layer_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
                licence TEXT NOT NULL DEFAULT '', geometry_type TEXT NOT NULL DEFAULT '',
                feature_count INTEGER NOT NULL DEFAULT 0, next_fid BIGINT NOT NULL DEFAULT 1,
                minx DOUBLE PRECISION, miny DOUBLE PRECISION,
                maxx DOUBLE PRECISION, maxy DOUBLE PRECISION,
                updated_at TEXT NOT NULL, updated_by TEXT NOT NULL,
                meta JSONB NOT NULL DEFAULT '{}')""",
            """CREATE TABLE features (
                id BIGSERIAL PRIMARY KEY,
                layer_id TEXT NOT NULL REFERENCES layers(layer_id) ON DELETE CASCADE,
                fid BIGINT NOT NULL, props JSONB NOT NULL, geom geometry(Geometry, 4326),
                version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL, UNIQUE (layer_id, fid))""",
            "CREATE INDEX features_geom_gist ON features USING gist (geom)",
            """CREATE TABLE feature_history (
                id BIGSERIAL PRIMARY KEY, layer_id TEXT NOT NULL, fid BIGINT NOT NULL,
                version INTEGER NOT NULL, action TEXT NOT NULL, changed_at TEXT NOT NULL,
                changed_by TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
                before JSONB, after JSONB)""",
            "CREATE INDEX feature_history_fid ON feature_history (layer_id, fid, version)",
            """CREATE TABLE layer_events (
                id BIGSERIAL PRIMARY KEY, layer_id TEXT NOT NULL, action TEXT NOT NULL,
                at TEXT NOT NULL, by TEXT NOT NULL, feature_count INTEGER NOT NULL,
                source TEXT NOT NULL DEFAULT '')""",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "effective dates in history; attachments (documents kept with a record, never erased)",
        sqlite=(
            "ALTER TABLE feature_history ADD COLUMN effective_at TEXT",
            """CREATE TABLE attachments (
                id INTEGER PRIMARY KEY AUTOINCREMENT, layer_id TEXT NOT NULL,
                fid INTEGER NOT NULL, filename TEXT NOT NULL, mime TEXT NOT NULL,
                size INTEGER NOT NULL, sha256 TEXT NOT NULL, data BLOB NOT NULL,
                created_at TEXT NOT NULL, created_by TEXT NOT NULL,
                deleted_at TEXT, deleted_by TEXT)""",
            "CREATE INDEX attachments_fid ON attachments (layer_id, fid)",
        ),
        postgresql=(
            "ALTER TABLE feature_history ADD COLUMN effective_at TEXT",
            """CREATE TABLE attachments (
                id BIGSERIAL PRIMARY KEY, layer_id TEXT NOT NULL,
                fid BIGINT NOT NULL, filename TEXT NOT NULL, mime TEXT NOT NULL,
                size BIGINT NOT NULL, sha256 TEXT NOT NULL, data BYTEA NOT NULL,
                created_at TEXT NOT NULL, created_by TEXT NOT NULL,
                deleted_at TEXT, deleted_by TEXT)""",
            "CREATE INDEX attachments_fid ON attachments (layer_id, fid)",
        ),
    ),
)

_ROLE_CHECK = "CHECK (role IN ('viewer', 'editor', 'approver', 'admin'))"
_AUDIT_REFUSAL = "audit_log is append-only: its rows cannot be changed or deleted"

MIGRATIONS += (
    Migration(
        3,
        "accounts, sign-in sessions (token hashes only), and the append-only audit log",
        sqlite=(
            f"""CREATE TABLE users (
                username TEXT PRIMARY KEY, display_name TEXT NOT NULL,
                role TEXT NOT NULL {_ROLE_CHECK}, password_hash TEXT NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until TEXT, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
                updated_at TEXT NOT NULL, updated_by TEXT NOT NULL, last_login_at TEXT)""",
            """CREATE TABLE sessions (
                token_sha256 TEXT PRIMARY KEY,
                username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
                created_at TEXT NOT NULL, expires_at TEXT NOT NULL, last_seen_at TEXT NOT NULL)""",
            "CREATE INDEX sessions_username ON sessions (username)",
            """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL DEFAULT '', action TEXT NOT NULL, layer_id TEXT,
                fid INTEGER, before TEXT, after TEXT, detail TEXT NOT NULL DEFAULT '{}')""",
            "CREATE INDEX audit_log_at ON audit_log (at)",
            "CREATE INDEX audit_log_actor ON audit_log (actor, at)",
            "CREATE INDEX audit_log_layer ON audit_log (layer_id, fid)",
            f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                BEGIN SELECT RAISE(ABORT, '{_AUDIT_REFUSAL}'); END""",
            f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                BEGIN SELECT RAISE(ABORT, '{_AUDIT_REFUSAL}'); END""",
        ),
        postgresql=(
            f"""CREATE TABLE users (
                username TEXT PRIMARY KEY, display_name TEXT NOT NULL,
                role TEXT NOT NULL {_ROLE_CHECK}, password_hash TEXT NOT NULL,
                disabled BOOLEAN NOT NULL DEFAULT FALSE, failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until TEXT, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
                updated_at TEXT NOT NULL, updated_by TEXT NOT NULL, last_login_at TEXT)""",
            """CREATE TABLE sessions (
                token_sha256 TEXT PRIMARY KEY,
                username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
                created_at TEXT NOT NULL, expires_at TEXT NOT NULL, last_seen_at TEXT NOT NULL)""",
            "CREATE INDEX sessions_username ON sessions (username)",
            """CREATE TABLE audit_log (
                id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL DEFAULT '', action TEXT NOT NULL, layer_id TEXT,
                fid BIGINT, before JSONB, after JSONB, detail JSONB NOT NULL DEFAULT '{}')""",
            "CREATE INDEX audit_log_at ON audit_log (at)",
            "CREATE INDEX audit_log_actor ON audit_log (actor, at)",
            "CREATE INDEX audit_log_layer ON audit_log (layer_id, fid)",
            f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION '{_AUDIT_REFUSAL} (% refused)', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END $$""",
            """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
            """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
