"""Folium maps built from the layer registry: basemap, styled layers, legend and credits."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.util import find_spec
from typing import Any

import folium
import geopandas as gpd
from branca.element import MacroElement
from jinja2 import Template
from pyproj import CRS

import layers
from geo.payload import WGS84, prepare_for_web, web_escape, zoom_for_bounds
from layers import LayerSpec
from ui.i18n import t

LEAFLET_PACKAGE = "js_lib_leaflet"
"""A PyPI package (django-js-lib-leaflet) that ships Leaflet's files; used when installed."""


@dataclass(frozen=True)
class Basemap:
    """A tile basemap."""

    id: str
    tiles: str
    attribution: str
    max_zoom: int = 19


BASEMAPS: dict[str, Basemap | None] = {
    "none": None,
    "osm": Basemap(
        "osm",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "© OpenStreetMap contributors",
    ),
    "carto": Basemap(
        "carto",
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        "© OpenStreetMap contributors © CARTO",
        20,
    ),
}
"""Basemap choices by id; ``"none"`` draws no tiles, so the map works offline."""


def js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that is safe inside an HTML ``<script>``.

    Parameters
    ----------
    value
        Any text.
    """
    text = json.dumps(value, ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


@cache
def leaflet_assets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
    """Leaflet's script and stylesheet as ``data:`` URIs, if a local copy is installed.

    Streamlit-folium loads these links in its iframe; with them inlined the map needs
    no CDN. Returns ``None`` when the package is missing (the CDN links then stay).
    """
    if find_spec(LEAFLET_PACKAGE) is None:
        return None
    root = resources.files(LEAFLET_PACKAGE) / "static" / LEAFLET_PACKAGE
    script = (root / "leaflet.js").read_bytes()
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def inline_image(match: re.Match[str]) -> str:
        image = (root / "images" / match.group(1)).read_bytes()
        return f"url({_data_uri('image/png', image)})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline_image, css)
    return (
        [("leaflet", _data_uri("text/javascript", script))],
        [("leaflet_css", _data_uri("text/css", css.encode("utf-8")))],
    )


class Legend(MacroElement):
    """A legend control (bottom right) listing every layer drawn on the map.

    Parameters
    ----------
    title
        Heading of the legend.
    entries
        ``(style, label)`` per legend row; ``style`` holds ``color``, ``fill`` and
        ``dashArray`` as in Leaflet path options.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .gis-legend {background: rgba(255,255,255,0.94); padding: 8px 10px;
            border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);
            font: 12px/1.4 "Source Sans Pro", "Segoe UI", Roboto, sans-serif;
            color: #222; max-width: 260px;}
          .gis-legend .gis-legend-title {font-weight: 600; margin-bottom: 4px;}
          .gis-legend .gis-legend-row {display: flex; align-items: center; gap: 6px;
            margin: 2px 0;}
          .gis-legend .gis-swatch {flex: 0 0 22px; height: 12px; border-radius: 2px;
            box-sizing: border-box;}
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function() {
          var legend = L.control({position: "bottomright"});
          legend.onAdd = function() {
            var div = L.DomUtil.create("div", "gis-legend");
            div.innerHTML = {{ this.html_js }};
            L.DomEvent.disableClickPropagation(div);
            return div;
          };
          legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, title: str, entries: Sequence[tuple[Mapping[str, Any], str]]):
        super().__init__()
        self._name = "Legend"
        self.title = title
        self.entries = list(entries)
        rows = []
        for style, label in self.entries:
            colour = web_escape(str(style.get("color", "#333333")))
            dashed = bool(style.get("dashArray"))
            filled = style.get("fill", True) is not False
            border = f"2px {'dashed' if dashed else 'solid'} {colour}"
            background = f"{colour}40" if filled else "transparent"
            if style.get("swatchFill"):  # a thematic class: its fill colour, a thin outline
                background = web_escape(str(style["swatchFill"]))
                border = f"1px solid {colour}"
            rows.append(
                '<div class="gis-legend-row">'
                f'<span class="gis-swatch" style="border: {border}; '
                f'background: {background}"></span>'
                f"<span>{web_escape(label)}</span></div>"
            )
        self.html = f'<div class="gis-legend-title">{web_escape(title)}</div>' + "".join(rows)
        self.html_js = js_string(self.html)


class Attribution(MacroElement):
    """Adds credit lines to the map's attribution control (bottom right).

    Parameters
    ----------
    texts
        One credit per data source, plain text (escaped here).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {% for text in this.texts_js %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ text }});
        {% endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, texts: Sequence[str]):
        super().__init__()
        self._name = "Attribution"
        self.texts = [text for text in dict.fromkeys(texts) if text]
        self.texts_js = [js_string(web_escape(text)) for text in self.texts]


class MapStyle(MacroElement):
    """Page CSS for the map: no focus box on clicked shapes, metric scale only.

    Parameters
    ----------
    background
        The map's background colour, seen where no tiles are drawn.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .leaflet-container {background: {{ this.background }};}
          .leaflet-interactive:focus {outline: none;}
          .leaflet-control-scale-line + .leaflet-control-scale-line {display: none;}
          .leaflet-bottom.leaflet-left .leaflet-control-scale {margin-bottom: 24px;}
          .leaflet-control-layers-expanded {font-size: 12px; line-height: 1.5;}
        </style>
        {% endmacro %}
        """
    )

    def __init__(self, background: str = "#f4f6f8"):
        super().__init__()
        self._name = "MapStyle"
        self.background = background if re.fullmatch(r"#[0-9a-fA-F]{3,8}", background) else "#fff"


def _path_style(base: Mapping[str, Any], opacity: float) -> dict[str, Any]:
    style = dict(base)
    style["opacity"] = float(style.get("opacity", 1.0)) * opacity
    style["fillOpacity"] = float(style.get("fillOpacity", 0.2)) * opacity
    return style


def _fill_labels(text: str, ward: str | None) -> str:
    return text.replace("{ward}", ward or "")


def _to_payload(data: gpd.GeoDataFrame | Mapping[str, Any], spec: LayerSpec, zoom: int) -> dict:
    if isinstance(data, gpd.GeoDataFrame):
        gdf = data
        if gdf.crs is not None and not CRS.from_user_input(gdf.crs).equals(WGS84):
            gdf = gdf.to_crs(WGS84)
        payload = prepare_for_web(gdf, zoom=zoom, fields=spec.fields)
    else:
        payload = json.loads(json.dumps(data))
    for feature in payload["features"]:
        feature.setdefault("properties", {})["layer"] = spec.id
    return payload


def data_bounds(
    data: Mapping[str, gpd.GeoDataFrame | Mapping[str, Any]],
) -> tuple[float, float, float, float] | None:
    """Lon/lat bounds of all given layers, or ``None`` if they hold no geometry."""
    boxes = []
    for item in data.values():
        if isinstance(item, gpd.GeoDataFrame):
            gdf = item if item.crs is None else item.to_crs(WGS84)
            if len(gdf) and not gdf.geometry.is_empty.all():
                boxes.append(tuple(gdf.total_bounds))
        elif item.get("features"):
            boxes.append(tuple(gpd.GeoDataFrame.from_features(item["features"]).total_bounds))
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def build_map(
    data: Mapping[str, gpd.GeoDataFrame | Mapping[str, Any]],
    *,
    lang: str = "vi",
    basemap: str = "none",
    opacity: Mapping[str, float] | None = None,
    specs: Sequence[LayerSpec] | None = None,
    focus: str | None = None,
    bounds: Sequence[float] | None = None,
    detail_zoom: int | None = None,
    popups: bool = True,
    width_px: int = 900,
    height_px: int = 620,
    dynamic: Sequence[LayerSpec] = (),
) -> folium.Map:
    """A folium map of the given layers, styled by their registry specs.

    Parameters
    ----------
    data
        Layer id to features: a GeoDataFrame (reprojected to EPSG:4326 and shrunk with
        :func:`geo.payload.prepare_for_web`) or a prepared GeoJSON FeatureCollection.
        Only these layers are drawn; the legend lists exactly them.
    lang
        UI language of titles, labels and the legend.
    basemap
        A key of :data:`BASEMAPS`; ``"none"`` draws no tiles.
    opacity
        Layer id to a factor (0 to 1) applied to the layer's line and fill opacity.
    specs
        Specs for layers not in the registry (imported layers, previews); registry
        specs are used for the rest.
    focus
        The configured ward's name: highlighted where a spec has ``highlight_field``,
        and put into legend labels.
    bounds
        ``(minx, miny, maxx, maxy)`` to fit the view to; the data's bounds if omitted.
    detail_zoom
        Zoom whose half-pixel sets the simplification; two levels past the fitted
        view if omitted, so shapes stay sharp when zooming in a little.
    popups
        Open a popup with the layer's popup fields on click; turn off where a side panel
        shows the clicked feature instead. Tooltips (the first popup field) are always on.
    width_px, height_px
        Expected map size, used to pick the initial zoom.
    dynamic
        Layers drawn by a feature group swapped in as the window moves
        (:mod:`ui.bigmap`): only their legend rows and credits are added here.

    Returns
    -------
    folium.Map
        With a scale bar, a layer control, a legend and a credit for every source.
    """
    if basemap not in BASEMAPS:
        known = ", ".join(BASEMAPS)
        raise ValueError(f"basemap: expected one of {known}, got {basemap!r}")
    opacity = opacity or {}
    extra = {spec.id: spec for spec in specs or ()}
    chosen: list[LayerSpec] = []
    for layer_id in data:
        if layer_id in extra:
            chosen.append(extra[layer_id])
        else:
            chosen.append(layers.get(layer_id))
    chosen.sort(key=lambda spec: (spec.z, spec.id))

    view = tuple(bounds) if bounds is not None else data_bounds(data)
    if view is None:
        view = (106.69, 10.75, 106.78, 10.83)
    minx, miny, maxx, maxy = view
    zoom = zoom_for_bounds(view, width_px, height_px)
    detail = detail_zoom if detail_zoom is not None else min(zoom + 2, 19)

    fmap = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        max_zoom=20,
        font_size="0.75rem",
    )
    assets = leaflet_assets()
    if assets is not None:
        fmap.default_js, fmap.default_css = assets

    tile = BASEMAPS[basemap]
    credits: list[str] = []
    MapStyle("#f4f6f8" if tile is None else "#ffffff").add_to(fmap)
    if tile is not None:
        folium.TileLayer(
            tiles=tile.tiles,
            attr=web_escape(tile.attribution),
            name=t("map.basemap." + tile.id, lang),
            max_zoom=tile.max_zoom,
            overlay=False,
            control=True,
        ).add_to(fmap)

    legend_rows: list[tuple[Mapping[str, Any], str]] = []
    for spec in chosen:
        factor = min(max(float(opacity.get(spec.id, 1.0)), 0.0), 1.0)
        geojson_layer(data[spec.id], spec, lang=lang, zoom=detail, focus=focus, factor=factor,
                      popups=popups).add_to(fmap)  # fmt: skip
        if spec.attribution:
            credits.append(spec.attribution)
        legend_rows += legend_rows_of(spec, focus, lang)
    for spec in dynamic:
        if spec.attribution:
            credits.append(spec.attribution)
        legend_rows += legend_rows_of(spec, focus, lang)

    Attribution(credits).add_to(fmap)
    Legend(t("map.legend", lang), legend_rows).add_to(fmap)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def legend_rows_of(
    spec: LayerSpec, focus: str | None, lang: str
) -> list[tuple[Mapping[str, Any], str]]:
    """A layer's legend rows: ``(swatch style, label)``."""
    rows: list[tuple[Mapping[str, Any], str]] = []
    for colour, labels_ in spec.legend:
        is_focus = bool(spec.highlight_style) and colour == spec.highlight_style.get("color")
        if is_focus and not focus:
            continue
        label = _fill_labels(labels_.get(lang) or labels_["vi"], focus)
        style = dict(spec.style)
        if is_focus:
            style.update(spec.highlight_style)
        style["color"] = colour
        fills = {str(v.get("fillColor")) for v in spec.style_values.values()}
        flag = next((dict(p) for _, p in spec.flag_styles if p.get("color") == colour), None)
        if colour in fills:
            style = {"color": spec.style.get("color", "#555555"), "swatchFill": colour}
        elif flag is not None:
            style = {**flag, "fill": False}
        rows.append((style, label))
    return rows


def geojson_layer(
    data: gpd.GeoDataFrame | Mapping[str, Any],
    spec: LayerSpec,
    *,
    lang: str = "vi",
    zoom: int = 16,
    focus: str | None = None,
    factor: float = 1.0,
    popups: bool = True,
) -> folium.GeoJson:
    """One layer styled by its spec (fill by value, flags, the focus highlight), with its
    tooltip and popup; :func:`build_map` adds one per layer, pages may put one in a feature
    group swapped as the map moves.

    Parameters
    ----------
    data
        The features (reprojected and shrunk for the web here) or prepared GeoJSON.
    spec
        The layer's spec.
    zoom
        Zoom whose half-pixel sets the simplification.
    factor
        Opacity factor, 0 to 1.
    """
    base = _path_style(spec.style, factor)
    hi = _path_style({**spec.style, **spec.highlight_style}, factor)
    focus_value = web_escape(focus) if focus else None
    field = spec.highlight_field

    values = {
        web_escape(str(k)): _path_style({**spec.style, **v}, factor)
        for k, v in spec.style_values.items()
    }
    flags = [(name, dict(patch)) for name, patch in spec.flag_styles]

    def style_function(
        feature: dict[str, Any],
        base: dict[str, Any] = base,
        hi: dict[str, Any] = hi,
        field: str | None = field,
        focus_value: str | None = focus_value,
        by: str | None = spec.style_field,
        values: dict[str, dict[str, Any]] = values,
        flags: list[tuple[str, dict[str, Any]]] = flags,
    ) -> dict[str, Any]:
        props = feature.get("properties") or {}
        if field and focus_value is not None and props.get(field) == focus_value:
            return hi
        style = values.get(str(props.get(by)), base) if by else base
        for name, patch in flags:
            if props.get(name) is True:
                style = {**style, **patch}
        return style

    def highlight_function(feature: dict[str, Any], spec: LayerSpec = spec) -> dict[str, Any]:
        return {"weight": float(spec.style.get("weight", 2)) + 1.5}

    payload = _to_payload(data, spec, zoom)
    present = set()
    for feature in payload["features"]:
        present.update(feature["properties"])
    popup_fields = [(f, lab) for f, lab in spec.popup_fields if web_escape(f) in present]
    marker = folium.CircleMarker(radius=spec.marker_radius) if spec.marker_radius else None
    geojson = folium.GeoJson(
        payload,
        name=web_escape(spec.label(lang)),
        marker=marker,
        style_function=style_function,
        highlight_function=highlight_function,
        show=True,
        overlay=True,
        control=True,
        zoom_on_click=False,
    )
    if popup_fields and payload["features"]:
        names = [web_escape(f) for f, _ in popup_fields]  # as prepare_for_web names them
        labels = [web_escape(lab.get(lang) or lab["vi"]) for _, lab in popup_fields]
        folium.GeoJsonTooltip(fields=names[:1], labels=False, sticky=True).add_to(geojson)
        if popups:
            folium.GeoJsonPopup(fields=names, aliases=labels, max_width=320).add_to(geojson)
    return geojson
