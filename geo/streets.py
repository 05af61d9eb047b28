"""Street networks from OpenStreetMap files: drivable segments as a layer, ready for routing."""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pandas as pd

from geo.errors import GISInputError, UploadError

STREETS_LAYER = "streets"
COLUMNS = ["segment_id", "u", "v", "key", "osmid", "name", "highway", "oneway", "length_m"]


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


def edges_frame(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """One row per directed segment, with a stable ``segment_id`` ("u-v-key") and its length."""
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
    return out


def _first(value: object) -> object:
    """osmnx keeps lists where a simplified edge merged several ways: keep the first."""
    return value[0] if isinstance(value, list) and value else value


def _text(value: object) -> str | None:
    if isinstance(value, list):
        return " / ".join(str(v) for v in value if v) or None
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)
