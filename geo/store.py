"""The storage interface: layers of features with versions and history, on GeoPackage or PostGIS."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.errors import GISInputError

WriteMode = Literal["replace", "append"]
EPOCH = "0001-01-01T00:00:00+00:00"
"""A ``changed_since`` before any write."""
BBox = tuple[float, float, float, float]
LAYER_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class LayerInfo:
    """A layer's catalogue entry."""

    layer_id: str
    title: str
    source: str
    licence: str
    geometry_type: str
    feature_count: int
    bbox: BBox | None
    updated_at: str
    updated_by: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The layer's attribute names, in the order they were written."""
        return [name for name, _ in self.meta.get("dtypes", [])]

    @property
    def attribution(self) -> str:
        """The credit line for maps: the recorded attribution, else the source."""
        return str(self.meta.get("attribution") or self.source)


@dataclass(frozen=True)
class Feature:
    """One stored feature: its id, attributes, geometry (EPSG:4326) and version."""

    layer_id: str
    fid: int
    props: dict[str, Any]
    geometry: BaseGeometry | None
    version: int
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class FeatureUpdate:
    """One change for :meth:`Store.apply_edits`: a feature, the version it was read at, and
    what changes.

    ``effective_at`` (ISO date or date-time) is when the change took effect in the world, for
    records entered after the fact; the history keeps it beside the time it was recorded.
    """

    fid: int
    expected_version: int
    props: Mapping[str, Any] | None = None
    geometry: BaseGeometry | None = None
    reason: str = ""
    effective_at: str | None = None


@dataclass(frozen=True)
class EditResult:
    """What :meth:`Store.apply_edits` did: fids of new features and the updated features."""

    inserted: list[int]
    updated: list[Feature]


@dataclass(frozen=True)
class Attachment:
    """A document kept with a feature; removal only marks it deleted."""

    id: int
    layer_id: str
    fid: int
    filename: str
    mime: str
    size: int
    sha256: str
    created_at: str
    created_by: str
    deleted_at: str | None = None
    deleted_by: str | None = None


@dataclass(frozen=True)
class User:
    """An account as stored: the password only as its argon2id hash (never shown in a repr)."""

    username: str
    display_name: str
    role: str
    password_hash: str = field(repr=False)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: str | None = None
    created_at: str = ""
    created_by: str = ""
    updated_at: str = ""
    updated_by: str = ""
    last_login_at: str | None = None


@dataclass(frozen=True)
class Session:
    """A sign-in: only the SHA-256 of its token is stored; times are ISO 8601 UTC."""

    token_sha256: str = field(repr=False)
    username: str
    created_at: str
    expires_at: str
    last_seen_at: str


AUDIT_COLUMNS = ["id", "at", "actor", "role", "action", "layer_id", "fid", "before", "after",
                 "detail"]  # fmt: skip


def check_layer_id(layer_id: str) -> str:
    """Return ``layer_id`` if it is a safe identifier (lowercase letters, digits, underscore)."""
    if not isinstance(layer_id, str) or not layer_id or len(layer_id) > 63:
        raise GISInputError(f"layer_id: expected 1 to 63 characters, got {layer_id!r}")
    if not set(layer_id) <= LAYER_ID_CHARS or layer_id[0].isdigit():
        msg = (
            "layer_id: expected lowercase letters, digits and '_' (not starting with a digit), "
            f"got {layer_id!r}"
        )
        raise GISInputError(msg)
    return layer_id


class Store(abc.ABC):
    """A versioned feature store; every write is one transaction and leaves a history row.

    Geometries are stored in EPSG:4326. ``read_layer`` returns a GeoDataFrame indexed by
    ``fid`` with the stored attributes as columns plus ``_version``.
    """

    url: str
    backend: str

    @abc.abstractmethod
    def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version now in force."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the store (0 for an empty one)."""

    @abc.abstractmethod
    def list_layers(self) -> list[LayerInfo]:
        """Every layer in the catalogue, sorted by id."""

    def has_layer(self, layer_id: str) -> bool:
        """Whether a layer exists."""
        return any(info.layer_id == layer_id for info in self.list_layers())

    @abc.abstractmethod
    def layer_info(self, layer_id: str) -> LayerInfo:
        """One layer's catalogue entry; raises ``NotFoundError``."""

    @abc.abstractmethod
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
        """Write features in one transaction; return how many were written.

        ``gdf`` must have a CRS; it is stored in EPSG:4326. With ``mode="replace"`` the
        layer's old features are removed first. Nothing is written if anything fails. One
        audit row (``layer.replace`` or ``layer.append``) records the count and bounds before
        and after; ``role`` is the writer's role, for the audit.
        """

    @abc.abstractmethod
    def read_layer(
        self,
        layer_id: str,
        *,
        bbox: BBox | None = None,
        columns: list[str] | None = None,
        changed_since: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer, optionally those intersecting ``bbox`` (lon/lat), or only those
        written after ``changed_since`` (an ISO 8601 UTC time, as in ``updated_at``).

        The result carries a ``_version`` column, and ``_updated_at`` with ``changed_since``
        (pass ``EPOCH`` for every feature with its time).
        """

    @abc.abstractmethod
    def delete_layer(self, layer_id: str, *, user: str = "system", role: str = "") -> None:
        """Remove a layer and its features (its history stays); one audit row."""

    @abc.abstractmethod
    def get_feature(self, layer_id: str, fid: int) -> Feature:
        """One feature; raises ``NotFoundError``."""

    @abc.abstractmethod
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
        """Change a feature if it is still at ``expected_version``; else ``ConflictError``.

        ``props`` are merged into the stored attributes. The change is one history row and
        one audit row.
        """

    @abc.abstractmethod
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
        """Insert and update features in one transaction, each with a history row and an
        audit row (``feature.insert``, ``feature.update``: before and after, geometry as WKT).

        All or nothing: if any update is stale (``ConflictError``) or invalid, nothing is
        written. ``inserts`` may create the layer (with ``title``, ``source``, ``licence``,
        ``meta``). ``reason`` and ``effective_at`` apply to rows that do not set their own.
        """

    @abc.abstractmethod
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
        """Keep a document with a feature (checked by ``geo.attachments`` first); one history
        row and one audit row."""

    @abc.abstractmethod
    def list_attachments(
        self, layer_id: str, fid: int, *, include_deleted: bool = False
    ) -> list[Attachment]:
        """A feature's documents, oldest first."""

    @abc.abstractmethod
    def read_attachment(self, attachment_id: int) -> tuple[Attachment, bytes]:
        """A document and its bytes; raises ``NotFoundError``."""

    @abc.abstractmethod
    def delete_attachment(
        self, attachment_id: int, *, user: str, reason: str = "", role: str = ""
    ) -> Attachment:
        """Mark a document deleted (its bytes are kept for the record); one history row and
        one audit row."""

    @abc.abstractmethod
    def history(self, layer_id: str, fid: int | None = None) -> pd.DataFrame:
        """History rows (``fid, version, action, changed_at, changed_by, reason, before,
        after, effective_at``), oldest first; ``effective_at`` is when the change took effect
        if it was entered after the fact, else empty."""

    # --- accounts and sign-in sessions (policy lives in geo.auth) --------------------------
    @abc.abstractmethod
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
        """Create an account (``user.add`` in the audit, without the hash); ``GISInputError``
        if the username is taken."""

    @abc.abstractmethod
    def get_user(self, username: str) -> User:
        """One account; raises ``NotFoundError``."""

    @abc.abstractmethod
    def list_users(self) -> list[User]:
        """Every account, sorted by username."""

    @abc.abstractmethod
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
        """Change an account in one transaction with one audit row (``user.role``,
        ``user.password``, ``user.disable``, ``user.enable``, ``user.unlock``,
        ``user.rename``, or ``user.update`` for several at once). A new password is recorded
        only as changed. ``end_sessions`` signs the account out everywhere."""

    @abc.abstractmethod
    def remove_user(self, username: str, *, actor: str, actor_role: str) -> User:
        """Delete an account and its sessions (``user.remove``); returns what it was."""

    @abc.abstractmethod
    def login_failed(self, username: str, *, lock_after: int, lock_until: str) -> User:
        """Count a failed sign-in of an existing account (``login.failure``); at
        ``lock_after`` failures in a row lock it until ``lock_until`` and start counting
        again (``login.locked``). One transaction; returns the account as it is now."""

    @abc.abstractmethod
    def create_session(
        self, session: Session, *, actor_role: str, password_hash: str | None = None
    ) -> None:
        """Record a successful sign-in (``login.success``): the session, the account's
        failures reset, its last sign-in time, and optionally a re-hashed password, in one
        transaction. Sessions past their absolute expiry are removed on the way."""

    @abc.abstractmethod
    def get_session(self, token_sha256: str) -> Session:
        """A session by its token's SHA-256; raises ``NotFoundError``."""

    @abc.abstractmethod
    def touch_session(self, token_sha256: str, at: str) -> None:
        """Note a session's latest use (for the idle expiry); not audited."""

    @abc.abstractmethod
    def end_session(self, token_sha256: str, *, reason: str, actor_role: str = "") -> bool:
        """Remove a session (``logout``, or ``session.expired`` when ``reason`` is not
        ``"logout"``); whether there was one."""

    @abc.abstractmethod
    def record_event(
        self,
        action: str,
        *,
        actor: str,
        actor_role: str = "",
        layer_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an audit row for something that is not a store write (a refused sign-in,
        a file written beside the store)."""

    @abc.abstractmethod
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
        """Audit rows, newest first (columns :data:`AUDIT_COLUMNS`); ``action`` matches
        exactly or, ending in ``.``, as a prefix (``"user."``); ``since``/``until`` are ISO
        dates or date-times, in the ward's time (Asia/Ho_Chi_Minh) when they carry no
        offset, and ``until`` given as a date includes that day. The log can only be
        appended to: no method changes or deletes its rows."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``: a ``postgresql://`` URL or a GeoPackage path.

    Parameters
    ----------
    url
        ``postgresql://user@host/db`` for PostGIS; anything else is a GeoPackage file path
        (its folder is created).
    migrate
        Apply pending migrations on open.
    """
    if not isinstance(url, str) or not url.strip():
        raise GISInputError(f"url: expected a postgresql:// URL or a .gpkg path, got {url!r}")
    if url.startswith(("postgresql://", "postgres://")):
        from geo.store_pg import PostGISStore

        store: Store = PostGISStore(url)
    else:
        from geo.store_gpkg import GeoPackageStore

        store = GeoPackageStore(url)
    if migrate:
        store.migrate()
    return store
