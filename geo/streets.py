"""Street networks from OpenStreetMap files: drivable segments as a layer, ready for routing."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import osmium
import osmnx as ox
import pandas as pd
import requests
from osmnx._errors import InsufficientResponseError
from shapely.geometry.base import BaseGeometry

from geo.config import DATA_DIR
from geo.errors import FetchError, GISInputError, UploadError
from geo.store import LayerInfo, Store

STREETS_LAYER = "streets"
COLUMNS = ["segment_id", "u", "v", "key", "osmid", "name", "highway", "oneway", "length_m"]
NOT_DRIVABLE = frozenset({
    "footway", "steps", "pedestrian", "path", "cycleway", "bridleway", "corridor", "elevator",
    "escalator", "platform", "construction", "proposed", "planned", "abandoned", "razed", "no",
    "raceway", "bus_guideway",
})  # fmt: skip
"""OSM highway values no car or motorbike drives on (service roads and alleys stay: in Vietnam
motorbikes use them)."""
SAMPLE_OSM = DATA_DIR / "osm" / "hcmc_district3_sample.osm"
"""A real OpenStreetMap download of central HCMC (District 3), shipped to learn the flooding
pages with; it is not the ward's network and is labelled so wherever it is used."""
SAMPLE_SOURCE = "MẪU / SAMPLE: OpenStreetMap, trung tâm TP.HCM (Quận 3), không phải phường"
OSM_LICENCE = "ODbL 1.0"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
PROLOG_BYTES = 64 * 1024
"""How much of an .osm file is searched for a DOCTYPE before its <osm> element (expat's own
limit on entity expansion guards the rest)."""


def read_osm(path: str | os.PathLike[str]) -> nx.MultiDiGraph:
    """The drivable street graph of an ``.osm`` XML file (osmnx, simplified, EPSG:4326).

    Raises
    ------
    UploadError
        If the file is missing, is not OSM XML, or holds no drivable street.
    """
    source = Path(path)
    if not source.is_file():
        raise UploadError(f"path: expected an existing .osm file, got {str(source)!r}")
    with source.open("rb") as f:
        head = f.read(PROLOG_BYTES)
    prolog = head.split(b"<osm", 1)[0]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        msg = (
            f"{source.name}: expected OpenStreetMap XML, which has no DOCTYPE; got a DOCTYPE "
            "declaration, refused because its entities can expand without bound or read "
            "local files"
        )
        raise UploadError(msg)
    root_tag = None
    try:  # one streaming pass: well-formed to the end, and an <osm> document
        with source.open("rb") as f:
            for event, element in ET.iterparse(f, events=("start", "end")):
                if root_tag is None:
                    root_tag = element.tag
                    if root_tag != "osm":
                        break
                elif event == "end":
                    element.clear()
    except ET.ParseError as e:
        msg = f"{source.name}: expected OpenStreetMap XML (<osm ...>); it does not parse: {e}"
        raise UploadError(msg) from e
    if root_tag != "osm":
        raise UploadError(f"{source.name}: expected an <osm> document, got <{root_tag}>")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            graph = ox.graph_from_xml(source, simplify=True, retain_all=False)
    except (ValueError, KeyError, ET.ParseError) as e:
        raise UploadError(f"{source.name}: no drivable street network could be built: {e}") from e
    if graph.number_of_edges() == 0:
        raise UploadError(f"{source.name}: expected streets (highway ways), found none")
    return graph


def read_streets(path: str | os.PathLike[str]) -> nx.MultiDiGraph:
    """The street graph of an ``.osm`` or ``.osm.pbf`` file.

    Raises
    ------
    UploadError
        If the file is missing, of another type, broken, or holds no street.
    """
    source = Path(path)
    name = source.name.lower()
    if name.endswith(".pbf"):
        with tempfile.TemporaryDirectory(prefix="osm-") as tmp:
            return read_osm(pbf_to_osm(source, Path(tmp) / "streets.osm"))
    if name.endswith((".osm", ".xml")):
        return read_osm(source)
    msg = f"path: expected an OpenStreetMap .osm or .osm.pbf file, got {source.name!r}"
    raise UploadError(msg)


def pbf_to_osm(source: Path, dest: Path) -> Path:
    """Convert an ``.osm.pbf`` extract to OSM XML (pyosmium), for osmnx to read."""
    if not source.is_file():
        raise UploadError(f"path: expected an existing .osm.pbf file, got {str(source)!r}")
    try:
        with osmium.SimpleWriter(str(dest)) as writer:
            for obj in osmium.FileProcessor(str(source)):
                writer.add(obj)
    except RuntimeError as e:
        raise UploadError(f"{source.name}: expected an OpenStreetMap PBF file; {e}") from e
    return dest


def fetch_streets(
    polygon: BaseGeometry,
    *,
    margin_m: float = 300.0,
    cache_dir: Path | None = None,
    timeout_s: int = 60,
) -> nx.MultiDiGraph:
    """Download the drivable streets in ``polygon`` (EPSG:4326) plus a margin from
    OpenStreetMap (Overpass, through osmnx).

    Raises
    ------
    FetchError
        When OpenStreetMap cannot be reached (offline) or refuses the query.
    """
    if polygon is None or polygon.is_empty:
        raise GISInputError("polygon: expected the ward's boundary, got an empty geometry")
    if margin_m < 0 or margin_m > 5000:
        raise GISInputError(f"margin_m: expected 0 to 5000 metres, got {margin_m}")
    area = gpd.GeoSeries([polygon], crs=4326)
    metric = area.to_crs(area.estimate_utm_crs())
    grown = metric.buffer(margin_m).to_crs(4326).iloc[0]
    try:
        with warnings.catch_warnings(), _osmnx_settings(cache_dir, timeout_s):
            warnings.simplefilter("ignore", category=FutureWarning)
            return ox.graph_from_polygon(grown, network_type="drive_service", retain_all=False)
    except (OSError, ConnectionError, requests.RequestException) as e:
        msg = (
            f"OpenStreetMap could not be reached ({type(e).__name__}: {e}); the machine may be "
            "offline. Import an .osm or .osm.pbf extract of the ward instead."
        )
        raise FetchError(msg) from e
    except (ValueError, InsufficientResponseError) as e:
        raise FetchError(f"OpenStreetMap returned no streets for the ward: {e}") from e


@contextlib.contextmanager
def _osmnx_settings(cache_dir: Path | None, timeout_s: int) -> Iterator[None]:
    """osmnx's global settings for one call: its HTTP cache in our folder (never the working
    directory), a timeout, and no rate-limit probe (which waits and retries when offline)."""
    names = ("use_cache", "cache_folder", "requests_timeout", "overpass_rate_limit", "log_console")
    saved = {name: getattr(ox.settings, name) for name in names}
    ox.settings.use_cache = cache_dir is not None
    if cache_dir is not None:
        ox.settings.cache_folder = str(cache_dir)
    ox.settings.requests_timeout = timeout_s
    ox.settings.overpass_rate_limit = False
    ox.settings.log_console = False
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def edges_frame(graph: nx.MultiDiGraph, *, drivable: bool = True) -> gpd.GeoDataFrame:
    """One row per directed segment, with a stable ``segment_id`` ("u-v-key") and its length.

    With ``drivable``, footways, steps and other ways no vehicle uses (:data:`NOT_DRIVABLE`)
    are left out.
    """
    if not isinstance(graph, nx.MultiDiGraph) or graph.number_of_edges() == 0:
        raise GISInputError("graph: expected a street MultiDiGraph with edges, got none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        edges = ox.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
    edges = edges.reset_index()
    out = gpd.GeoDataFrame(
        {
            "segment_id": [f"{u}-{v}-{k}" for u, v, k in zip(edges["u"], edges["v"],
                                                            edges["key"], strict=True)],
            "u": edges["u"].astype("int64"),
            "v": edges["v"].astype("int64"),
            "key": edges["key"].astype("int64"),
            "osmid": edges["osmid"].map(_first).astype("int64"),
            "name": edges.get("name", pd.Series(None, index=edges.index)).map(_text),
            "highway": edges["highway"].map(_text),
            "oneway": edges["oneway"].astype(bool),
            "length_m": edges["length"].astype(float).round(2),
        },
        geometry=edges.geometry.values,
        crs=edges.crs or 4326,
    )  # fmt: skip
    if drivable:
        kinds = out["highway"].fillna("").str.split(" / ")
        # osmnx reads every way of a file: ways with no highway tag (boundaries, outlines)
        # are not streets either
        out = out[~kinds.map(lambda parts: set(parts) <= NOT_DRIVABLE | {""})]
        out = out.reset_index(drop=True)
    return out


def save_streets(
    store: Store,
    edges: gpd.GeoDataFrame,
    *,
    source: str,
    user: str,
    role: str = "",
) -> int:
    """Store the segments as the ward's street layer (replacing the previous network).

    Returns the number of segments written. ``role`` is the writer's role, for the audit;
    callers check it first (:func:`geo.floods.replace_network`).
    """
    missing = sorted(set(COLUMNS) - set(edges.columns))
    if missing:
        raise GISInputError(f"edges: expected street segments, missing columns {missing}")
    if edges.empty:
        raise GISInputError("edges: expected street segments, got none")
    return store.write_layer(
        STREETS_LAYER, edges, title="Đường phố (OpenStreetMap) / Streets", source=source,
        licence=OSM_LICENCE, user=user, meta={"attribution": OSM_ATTRIBUTION}, role=role,
    )  # fmt: skip


def _first(value: object) -> object:
    """osmnx keeps lists where a simplified edge merged several ways: keep the first."""
    return value[0] if isinstance(value, list) and value else value


def _text(value: object) -> str | None:
    if isinstance(value, list):
        return " / ".join(str(v) for v in value if v) or None
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)


def save_sample(store: Store, *, user: str) -> int:
    """Store the shipped central-HCMC sample as the street network, labelled as a sample."""
    edges = edges_frame(read_streets(SAMPLE_OSM))
    return save_streets(store, edges, source=SAMPLE_SOURCE, user=user)


def is_sample(info: LayerInfo) -> bool:
    """Whether the stored street network is the shipped sample, not the ward's own."""
    return info.source == SAMPLE_SOURCE
