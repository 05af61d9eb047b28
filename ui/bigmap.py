"""Big layers on the map: the window's features or grid from geo.viewport, drawn in the browser.

The base map (basemap, context layers, legend) stays the same from one rerun to the next, so
streamlit-folium keeps it; only the feature group built here is replaced when the window
moves. Shapes go to a canvas renderer: tens of thousands of SVG paths would stall a browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import streamlit as st
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from geo import viewport
from geo.payload import zoom_for_bounds
from geo.viewport import ViewContent
from layers import LayerSpec
from ui.i18n import t

GROUP_NAME = "viewport"


_TEMPLATE_OPENER = re.compile(r"\{(?=[{%#])")


def js_json(value: Any) -> str:
    """``value`` as JSON that is inert inside an HTML ``<script>`` and a Jinja template."""
    return _js_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _js_text(text: str) -> str:
    """JSON text made inert inside ``<script>`` (no ``</script>``, no line separators) and
    for Jinja: a ``{`` that would open ``{{``, ``{%`` or ``{#`` (only possible inside a JSON
    string) is written ``\\u007b``."""
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    text = _TEMPLATE_OPENER.sub(r"\\u007b", text)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class _Raw(Element):
    """Rendered text kept as it is (branca's ``Element(text)`` would compile it as a Jinja
    template: slow for a megabyte of data, and unsafe for text a user typed)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class ViewportLayer(MacroElement):
    """Draws :class:`geo.viewport.ViewContent` into its parent feature group.

    Features become canvas polygons carrying ``{"p": fid}`` as GeoJSON properties (a click
    reports them to the page); grid cells show their counts on hover and zoom in on click.
    Labels reach the page as text nodes, never as HTML.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var group = {{ this._parent.get_name() }};
          var d = {{ this.data_js }};
          var cfg = {{ this.config_js }};
          var renderer = L.canvas({padding: 0.4});
          function text(lines) {
            var box = document.createElement("div");
            lines.forEach(function (line, i) {
              var row = document.createElement("div");
              if (i === 0) { row.style.fontWeight = "600"; }
              row.textContent = line;
              box.appendChild(row);
            });
            return box;
          }
          function styleOf(cat, flags, extra) {
            var s = Object.assign({}, cfg.base, {fillColor: cfg.colors[cat] || cfg.base.fillColor},
                                  extra || {});
            cfg.flags.forEach(function (patch, bit) {
              if (flags & (1 << bit)) { Object.assign(s, patch); }
            });
            s.renderer = renderer;
            return s;
          }
          if (d.mode === "features") {
            var ox = d.o[0], oy = d.o[1], q = d.q;
            d.d.forEach(function (f) {
              var parts = f[4].map(function (rings) {
                return rings.map(function (r) {
                  var x = 0, y = 0, out = new Array(r.length / 2);
                  for (var i = 0; i < r.length; i += 2) {
                    x += r[i]; y += r[i + 1];
                    out[i / 2] = [oy + y * q, ox + x * q];
                  }
                  return out;
                });
              });
              var shape = L.polygon(parts.length === 1 ? parts[0] : parts, styleOf(f[1], f[2]));
              shape.feature = {type: "Feature", properties: {p: f[0], layer: cfg.layer}};
              // What the map already holds shows at once on a click; the full record
              // follows in the side panel when the page has rerun.
              shape.bindPopup(function () {
                var lines = [f[3] || ("#" + f[0]), cfg.categories[f[1]] || ""];
                (f[5] || []).forEach(function (code, i) {
                  var value = d.v[i][code];
                  if (value) { lines.push(cfg.detailLabels[i] + ": " + value); }
                });
                cfg.flagLabels.forEach(function (label, bit) {
                  if (f[2] & (1 << bit)) { lines.push(label); }
                });
                lines.push(cfg.opening);
                var box = text(lines);
                box.className = "gis-parcel-popup";
                return box;
              }, {closeButton: false, autoPan: false});
              shape.bindTooltip(function () {
                var lines = [f[3] || ("#" + f[0]), cfg.categories[f[1]] || ""];
                cfg.flagLabels.forEach(function (label, bit) {
                  if (f[2] & (1 << bit)) { lines.push(label); }
                });
                return text(lines);
              }, {sticky: true});
              group.addLayer(shape);
            });
          } else {
            var most = 1;
            d.d.forEach(function (c) { most = Math.max(most, c[2]); });
            d.d.forEach(function (c) {
              var bounds = [[c[1], c[0]], [c[1] + d.h, c[0] + d.w]];
              var share = 0.35 + 0.5 * Math.sqrt(c[2] / most);
              var cell = L.rectangle(bounds, styleOf(c[3], 0, {
                weight: 0.6, color: "#ffffff", fillOpacity: share}));
              cell.feature = {type: "Feature", properties: {cell: c[2]}};
              cell.bindTooltip(function () {
                var lines = [cfg.cellTitle.replace("{n}", c[2].toLocaleString(cfg.locale))];
                function count(label, n) {
                  if (n > 0) { lines.push(label + ": " + n.toLocaleString(cfg.locale)); }
                }
                c[4].forEach(function (n, i) { count(cfg.categories[i], n); });
                c[5].forEach(function (n, bit) { count(cfg.flagLabels[bit], n); });
                lines.push(cfg.cellHint);
                return text(lines);
              }, {sticky: true});
              cell.on("click", function () { cell._map.fitBounds(bounds); });
              group.addLayer(cell);
            });
          }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content: ViewContent, config: Mapping[str, Any]):
        super().__init__()
        self._name = "ViewportLayer"
        self.data_js = _js_text(content.geojson)
        self.config_js = js_json(dict(config))

    def render(self, **kwargs: Any) -> str:
        """Add the script to the figure without branca's template round trip."""
        script = self._template.module.__dict__["script"]
        root = self.get_root()
        assert isinstance(root, Figure), "a ViewportLayer renders inside a map"
        root.script.add_child(_Raw(script(self, kwargs)), name=self.get_name())
        return ""


def layer_config(
    spec: LayerSpec,
    categories: Sequence[tuple[str, str]],
    flags: Sequence[tuple[str, str]],
    lang: str,
    details: Sequence[str] = (),
) -> dict[str, Any]:
    """What the browser needs to draw a big layer.

    Parameters
    ----------
    spec
        The layer's spec: base style, fill colour by category, outline patch by flag.
    categories
        ``(value, label)`` in the order of the index's categories.
    flags
        ``(column, label)`` in the order of the index's flags.
    lang
        Language of the grid cells' texts and number format.
    details
        Labels of the index's detail columns, shown in the click popup.
    """
    patches = dict(spec.flag_styles)
    return {
        "layer": spec.id,
        "base": {**spec.style},
        "colors": [
            str(spec.style_values.get(code, {}).get("fillColor", spec.style.get("fillColor")))
            for code, _ in categories
        ],
        "categories": [label for _, label in categories],
        "flags": [patches.get(name, {}) for name, _ in flags],
        "flagLabels": [label for _, label in flags],
        "cellTitle": t("big.cell_title", lang),
        "cellHint": t("big.cell_hint", lang),
        "detailLabels": list(details),
        "opening": t("big.opening", lang),
        "locale": "vi-VN" if lang == "vi" else "en-GB",
    }


def feature_group(content: ViewContent, config: Mapping[str, Any]) -> folium.FeatureGroup:
    """The feature group streamlit-folium swaps in when the window moves."""
    group = folium.FeatureGroup(name=GROUP_NAME, control=False)
    ViewportLayer(content, config).add_to(group)
    return group


def window(
    key: str,
    bounds: tuple[float, float, float, float] | None,
    width_px: int = 900,
    height_px: int = 600,
) -> viewport.View:
    """The map's window as the browser last reported it (streamlit-folium keeps its value
    under ``key`` in the session), else the data's bounds at the zoom that fits them."""
    last = st.session_state.get(key) or {}
    box, zoom = last.get("bounds") or {}, last.get("zoom")
    try:
        sw, ne = box["_southWest"], box["_northEast"]
        view = viewport.View(float(sw["lng"]), float(sw["lat"]), float(ne["lng"]),
                             float(ne["lat"]), float(zoom))  # type: ignore[arg-type]  # fmt: skip
        return _clamped(view)
    except (KeyError, TypeError, ValueError):
        pass
    west, south, east, north = bounds or (106.70, 10.76, 106.76, 10.82)
    fit = zoom_for_bounds((west, south, east, north), width_px, height_px)
    lon, lat = (west + east) / 2, (south + north) / 2
    return viewport.View.around(lon, lat, fit, width_px, height_px)


MAX_WINDOW_PX = 4096
"""A reported window wider or taller than this many pixels is cut to it around its centre
(the browser's value is input: a forged or huge one must not make a huge page)."""


def _clamped(view: viewport.View) -> viewport.View:
    pixel = 360.0 / (256 * 2.0**view.zoom)
    lon, lat = (view.west + view.east) / 2, (view.south + view.north) / 2
    width = min((view.east - view.west) / pixel, MAX_WINDOW_PX)
    height = min((view.north - view.south) / pixel, MAX_WINDOW_PX)
    if width * pixel >= view.east - view.west and height * pixel >= view.north - view.south:
        return view
    half_w, half_h = width * pixel / 2, height * pixel / 2
    return viewport.View(lon - half_w, lat - half_h, lon + half_w, lat + half_h, view.zoom)
