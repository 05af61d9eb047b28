"""Cached access for the pages: settings, the seeded store, layers and merger results."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo import auth, clearance, wards
from geo import catalog as layer_catalog
from geo.config import Settings, load_settings
from geo.errors import SessionExpiredError
from geo.io import ImportResult, export_bytes, read_vector
from geo.live import LiveLayer
from geo.store import LayerInfo, Store, open_store
from geo.viewport import FeatureIndex
from geo.wards import LookupResult, PointLookup, WardSummary

LANGS = ("vi", "en")
TOKEN_KEY = "auth_token"
"""The signed-in session's token in ``st.session_state`` (the store keeps only its SHA-256)."""
ACCOUNT_KEY = "_auth_account"
"""The account :func:`check_sign_in` found for this run."""
ENDED_KEY = "auth_ended"
"""Why a session ended (``expired``, ``idle``, ...), for the sign-in page to say."""


def _env_key() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GIS_")))


@st.cache_resource(show_spinner=False)
def _settings(env: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings(dict(env))


def get_settings() -> Settings:
    """The settings, read once per distinct set of ``GIS_*`` variables."""
    return _settings(_env_key())


def lang() -> str:
    """The UI language chosen in the sidebar (the configured default until then)."""
    value = st.session_state.get("lang")
    return value if value in LANGS else get_settings().lang


@st.cache_resource(show_spinner=False)
def _store(db_url: str, ward: str, _config: Settings) -> Store:
    store = open_store(db_url)
    wards.seed_store(store, _config.profile)
    return store


def get_store() -> Store:
    """The store, opened and seeded with the ward layers once per process."""
    settings = get_settings()
    return _store(settings.db_url, settings.ward, settings)


def check_store() -> None:
    """Raise ``StoreError`` now if the database cannot be reached: one cheap query, which
    also reconnects a store whose server restarted (the cached store is never left broken:
    it reopens its connection on its next use)."""
    get_store().schema_version()


def catalog() -> list[LayerInfo]:
    """Every layer in the store (not cached: it is one small query)."""
    return get_store().list_layers()


def layer_token(layer_id: str) -> str:
    """A value that changes whenever the layer is written; part of every cache key."""
    info = get_store().layer_info(layer_id)
    return f"{info.updated_at}|{info.feature_count}"


@st.cache_data(show_spinner=False, max_entries=32)
def _read_layer(
    db_url: str, layer_id: str, token: str, bbox: tuple[float, float, float, float] | None
) -> gpd.GeoDataFrame:
    return get_store().read_layer(layer_id, bbox=bbox)


def read_layer(
    layer_id: str, bbox: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """A layer's features (EPSG:4326, indexed by ``fid``), optionally within ``bbox``."""
    return _read_layer(get_settings().db_url, layer_id, layer_token(layer_id), bbox)


def _tokens() -> tuple[str, str]:
    return layer_token(wards.OLD_LAYER), layer_token(wards.NEW_LAYER)


def _ward_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The old and the new ward layers, as geo.wards takes them."""
    return read_layer(wards.OLD_LAYER), read_layer(wards.NEW_LAYER)


@st.cache_data(show_spinner=False, max_entries=8)
def _summary(db_url: str, ward: str, tokens: tuple[str, str]) -> WardSummary:
    settings = get_settings()
    return wards.ward_summary(*_ward_frames(), settings.profile)


def summary() -> WardSummary:
    """The configured ward's summary: areas, population and composition."""
    settings = get_settings()
    return _summary(settings.db_url, settings.ward, _tokens())


@st.cache_data(show_spinner=False, max_entries=8)
def _merger(db_url: str, ward: str, tokens: tuple[str, str]) -> pd.DataFrame:
    settings = get_settings()
    return wards.merger_table(*_ward_frames(), settings.profile)


def merger() -> pd.DataFrame:
    """How the old wards around the configured ward were divided among new wards."""
    settings = get_settings()
    return _merger(settings.db_url, settings.ward, _tokens())


@st.cache_data(show_spinner=False, max_entries=64)
def _lookup_name(db_url: str, ward: str, tokens: tuple[str, str], query: str) -> list[LookupResult]:
    settings = get_settings()
    return wards.lookup_name(query, *_ward_frames(), settings.profile)


def lookup_name(query: str) -> list[LookupResult]:
    """New ward(s) of an old ward, however its name is written."""
    settings = get_settings()
    return _lookup_name(settings.db_url, settings.ward, _tokens(), query.strip())


def lookup_point(lon: float, lat: float) -> PointLookup:
    """The old and new wards containing a lon/lat point."""
    return wards.lookup_point(lon, lat, *_ward_frames())


@st.cache_data(show_spinner=False, max_entries=16)
def _export(db_url: str, layer_id: str, token: str, fmt: str) -> tuple[bytes, str, str]:
    gdf = read_layer(layer_id)
    gdf = gdf.drop(columns=[c for c in gdf.columns if c.startswith("_")])
    return export_bytes(gdf, fmt, name=layer_id)


def export(layer_id: str, fmt: str) -> tuple[bytes, str, str]:
    """A layer as a file: ``(bytes, filename, mime)``."""
    return _export(get_settings().db_url, layer_id, layer_token(layer_id), fmt)


@st.cache_data(show_spinner=False, max_entries=2)
def read_upload(
    data: bytes,
    filename: str,
    crs: str | None,
    swap_xy: bool,
    repair: bool,
    max_bytes: int,
) -> ImportResult:
    """An uploaded file read by :func:`geo.io.read_vector`, cached for the next reruns."""
    return read_vector(
        data, filename=filename, crs=crs, swap_xy=swap_xy, repair=repair, max_bytes=max_bytes
    )


def write_layer(layer_id: str, gdf: gpd.GeoDataFrame, **kwargs: Any) -> int:
    """Import a layer as the signed-in account (admins; one transaction) and drop cached
    results that depended on it."""
    count = layer_catalog.import_layer(
        get_store(), layer_id, gdf, user=user_name(), role=role(), **kwargs
    )
    st.cache_data.clear()
    return count


def remove_layer(layer_id: str) -> int:
    """Remove a layer as the signed-in account (admins) and drop cached results."""
    count = layer_catalog.remove_layer(get_store(), layer_id, user=user_name(), role=role())
    st.cache_data.clear()
    return count


# --- site clearance -------------------------------------------------------------------------
def parcel_layers() -> list[LayerInfo]:
    """The parcel layers in the store: real records first, then the demo set."""
    return clearance.parcel_layers(get_store())


_DERIVING = threading.Lock()


# One entry: a layer in memory for today; after midnight yesterday's is let go (each holds
# 100,000 parcels and their index).
@st.cache_resource(show_spinner=False, max_entries=1)
def _live_parcels(db_url: str, layer_id: str, today: date) -> tuple[LiveLayer, dict[str, Any]]:
    """The layer in memory, and what is derived from it (the map's index), per process."""
    return LiveLayer(layer_id, transform=lambda gdf: clearance.annotate(gdf, today)), {}


def read_parcels(layer_id: str, today: date) -> gpd.GeoDataFrame:
    """A parcel layer with the computed columns (overdue, complaint, key), kept in memory and
    brought up to date with only the parcels changed since (shared: do not modify it)."""
    live, _ = _live_parcels(get_settings().db_url, layer_id, today)
    return live.refresh(get_store())


def parcels_in_memory(layer_id: str, today: date) -> bool:
    """Whether the parcel layer is already in memory (else the next read takes seconds)."""
    live, _ = _live_parcels(get_settings().db_url, layer_id, today)
    return live.frame is not None


@dataclass(frozen=True)
class ParcelData:
    """A parcel layer in memory with what its pages derive from it once per change."""

    frame: gpd.GeoDataFrame
    index: FeatureIndex
    people: list[str]
    area: pd.Series
    totals: dict[str, float]


def parcel_index(layer_id: str, today: date) -> ParcelData:
    """The parcels, their map index (stage colours, overdue and complaint outlines), the
    people responsible and the page's totals, rebuilt only when a parcel changed."""
    live, derived = _live_parcels(get_settings().db_url, layer_id, today)
    frame, generation = live.snapshot(get_store())
    with _DERIVING:  # one session derives; the others wait and take its result
        current = derived.get("data")
        if derived.get("generation") == generation and current is not None:
            return current
        area = clearance.area_of(frame)
        data = ParcelData(
            frame=frame,
            index=FeatureIndex.from_frame(
                frame, category="stage", categories=[s.code for s in clearance.STAGES],
                flags=list(PARCEL_FLAGS), label="key", details=list(PARCEL_DETAILS),
            ),
            people=sorted({str(p) for p in frame["responsible"].dropna()}),
            area=area,
            totals=parcel_totals(frame, area),
        )  # fmt: skip
        if generation >= derived.get("generation", -1):  # never replace newer with older
            derived["data"], derived["generation"] = data, generation
        return data


def parcel_totals(frame: pd.DataFrame, area: pd.Series) -> dict[str, float]:
    """Parcels, area, handed-over share of the area, overdue and open complaints."""
    total = float(area.sum())
    done = float(area[(frame["stage"] == clearance.DONE_STAGE).to_numpy()].sum())
    return {
        "parcels": float(len(frame)),
        "area": total,
        "handed": done / total if total else 0.0,
        "overdue": float(frame["any_overdue"].sum()),
        "complaints": float(frame["complaint_open"].sum()),
    }


PARCEL_FLAGS = ("any_overdue", "complaint_open")
"""Boolean parcel columns drawn as outlines, in the index's bit order."""
PARCEL_DETAILS = ("responsible", "deadline")
"""Parcel columns the map shows at once on a click (rõ người, rõ tiến độ)."""


def changed() -> None:
    """Drop cached data after this session wrote to the store."""
    st.cache_data.clear()


# --- who is signed in ------------------------------------------------------------------------
def check_sign_in() -> auth.Account | None:
    """Check this browser session's token (every run of the app): the signed-in account, or
    None. A session that ended (expired, idle, account disabled) is forgotten and the reason
    kept for the sign-in page."""
    token = st.session_state.get(TOKEN_KEY)
    found: auth.Account | None = None
    if token:
        try:
            found = auth.check_session(get_store(), str(token), settings=get_settings())
        except SessionExpiredError as e:
            del st.session_state[TOKEN_KEY]
            st.session_state[ENDED_KEY] = e.reason
    st.session_state[ACCOUNT_KEY] = found
    return found


def account() -> auth.Account | None:
    """The signed-in account of this run (None for a visitor)."""
    found = st.session_state.get(ACCOUNT_KEY)
    return found if isinstance(found, auth.Account) else None


def sign_in(signed: auth.SignIn) -> None:
    """Keep a new session's token for the next runs."""
    st.session_state[TOKEN_KEY] = signed.token
    st.session_state[ACCOUNT_KEY] = signed.account
    st.session_state.pop(ENDED_KEY, None)


def sign_out() -> None:
    """End this browser session's sign-in (in the store too) and drop cached results."""
    token = st.session_state.pop(TOKEN_KEY, None)
    st.session_state[ACCOUNT_KEY] = None
    if token:
        auth.logout(get_store(), str(token))


def user_name() -> str:
    """The signed-in username, written to the history and the audit log ('' for a visitor)."""
    found = account()
    return found.username if found else ""


def role() -> str:
    """The signed-in account's role; ``viewer`` for a visitor (anonymous reading)."""
    found = account()
    return found.role if found else "viewer"


def can(action: str) -> bool:
    """Whether the signed-in role may do ``action`` (:data:`geo.auth.PERMISSIONS`); pages use
    it to hide what the role cannot use, while ``geo`` checks again on every write."""
    return auth.can(role(), action)


@st.cache_data(show_spinner=False, max_entries=8)
def _export_parcels(db_url: str, layer_id: str, token: str, fmt: str) -> tuple[bytes, str, str]:
    parcels = get_store().read_layer(layer_id)
    frame = clearance.export_frame(parcels, shapefile=fmt == "shp").reset_index()
    return export_bytes(frame, fmt, name=layer_id)


def export_parcels(layer_id: str, fmt: str) -> tuple[bytes, str, str]:
    """A parcel layer as a GIS file (tasks as JSON text): ``(bytes, filename, mime)``."""
    return _export_parcels(get_settings().db_url, layer_id, layer_token(layer_id), fmt)


@st.cache_data(show_spinner=False, max_entries=8)
def _dashboard(
    db_url: str, layer_id: str, token: str, today: date, lang: str
) -> dict[str, pd.DataFrame]:
    parcels = get_store().read_layer(layer_id)
    return clearance.dashboard_tables(parcels, get_store().history(layer_id), today, lang)


def dashboard(layer_id: str, today: date, lang: str) -> dict[str, pd.DataFrame]:
    """The dashboard's tables (stages, overdue by person, money, progress, parcels), cached
    until the layer changes."""
    return _dashboard(get_settings().db_url, layer_id, layer_token(layer_id), today, lang)
