"""The layer registry: one module per map layer, each with a module-level ``LAYER``."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from geo.store import LayerInfo

Labels = Mapping[str, str]
"""A text in every UI language, keyed by language code (``"vi"``, ``"en"``)."""

FieldList = Sequence[tuple[str, Labels]]
"""Attribute names with their labels, in display order."""


@dataclass(frozen=True)
class LayerSpec:
    """How one store layer is titled, credited, styled and described on the map.

    Parameters
    ----------
    id
        The store layer id.
    title
        The layer's name per language.
    source
        Where the data comes from.
    licence
        The data's licence terms, as far as known.
    attribution
        The credit line shown on the map whenever the layer is.
    style
        Leaflet path options: ``color``, ``weight``, ``fillColor``, ``fillOpacity`` and
        optionally ``opacity``, ``dashArray``, ``fill``.
    popup_fields
        Attributes shown in the map popup (the first one also in the tooltip).
    panel_fields
        Attributes shown in the side panel when a feature is clicked.
    legend
        Legend entries: swatch colour and label per language. A label may contain
        ``{ward}``, replaced by the configured ward's name.
    default_visible
        Whether the layer is drawn when the map first opens.
    z
        Drawing order: higher is drawn on top.
    highlight_field
        Attribute compared with the configured ward's name to pick the highlighted feature.
    highlight_style
        Path options merged into ``style`` for the highlighted feature.
    style_field
        An attribute whose value picks a patch from ``style_values`` (a thematic map).
    style_values
        Attribute value to path options merged into ``style``.
    flag_styles
        ``(attribute, options)``: where the attribute is true, the options are merged last
        (an overdue parcel's red outline).
    marker_radius
        Draw points as circle markers of this radius (pixels) styled like paths.
    """

    id: str
    title: Labels
    source: str
    licence: str
    attribution: str
    style: Mapping[str, Any]
    popup_fields: FieldList
    panel_fields: FieldList
    legend: Sequence[tuple[str, Labels]]
    default_visible: bool = True
    z: int = 0
    highlight_field: str | None = None
    highlight_style: Mapping[str, Any] = field(default_factory=dict)
    style_field: str | None = None
    style_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    flag_styles: Sequence[tuple[str, Mapping[str, Any]]] = ()
    marker_radius: float | None = None

    def label(self, lang: str) -> str:
        """The layer's title in ``lang``, falling back to Vietnamese."""
        return self.title.get(lang) or self.title["vi"]

    @property
    def fields(self) -> list[str]:
        """Every attribute the map or the panel needs, popup fields first, without repeats."""
        names = [name for name, _ in self.popup_fields] + [name for name, _ in self.panel_fields]
        names += [self.style_field] if self.style_field else []
        names += [name for name, _ in self.flag_styles]
        return list(dict.fromkeys(names))


@cache
def _discover() -> tuple[LayerSpec, ...]:
    specs: list[LayerSpec] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "LAYER", None)
        if not isinstance(spec, LayerSpec):
            raise TypeError(f"layers.{info.name}: expected a module-level LAYER = LayerSpec(...)")
        specs.append(spec)
    ids = [spec.id for spec in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"layers: duplicate layer ids {duplicates}")
    return tuple(sorted(specs, key=lambda spec: (spec.z, spec.id)))


def registry() -> list[LayerSpec]:
    """Every registered layer, in drawing order (lowest ``z`` first)."""
    return list(_discover())


def get(layer_id: str) -> LayerSpec:
    """The registered layer ``layer_id``.

    Raises
    ------
    KeyError
        If no module in ``layers`` defines that layer.
    """
    for spec in _discover():
        if spec.id == layer_id:
            return spec
    known = ", ".join(spec.id for spec in _discover())
    raise KeyError(f"layer {layer_id!r} is not registered; known layers: {known}")


def generic(
    layer_id: str,
    title: str,
    fields: Sequence[str],
    *,
    source: str = "",
    licence: str = "",
    z: int = 100,
) -> LayerSpec:
    """A plain spec for a store layer that has no module here (e.g. an imported layer).

    Parameters
    ----------
    layer_id
        The store layer id.
    title
        Its catalogue title, used in every language.
    fields
        Attributes to show in the popup and the side panel (the first five at most in
        the popup).
    source
        Where the data comes from; also the map credit line.
    licence
        The data's licence terms, as far as known.
    z
        Drawing order.
    """
    colour = "#6a3d9a"
    listed = [(name, {"vi": name, "en": name}) for name in fields]
    return LayerSpec(
        id=layer_id,
        title={"vi": title, "en": title},
        source=source,
        licence=licence,
        attribution=source,
        style={"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.15},
        popup_fields=listed[:5],
        panel_fields=listed,
        legend=[(colour, {"vi": title, "en": title})],
        default_visible=False,
        z=z,
    )


def specs_for(infos: Sequence[LayerInfo]) -> list[LayerSpec]:
    """The specs to draw the store's layers with, in drawing order.

    A registered layer keeps its module's style, but its source, licence and credit line
    come from the store: they describe the data actually loaded, which a user may have
    replaced (their own boundaries, OpenStreetMap's). A layer with no module gets a
    :func:`generic` spec.

    Parameters
    ----------
    infos
        The store's catalogue, from ``Store.list_layers``.
    """
    registered = {spec.id: spec for spec in registry()}
    specs = []
    for info in infos:
        spec = registered.get(info.layer_id)
        if spec is None:
            fields = [c for c in info.columns if not c.startswith("_")]
            spec = generic(
                info.layer_id, info.title, fields, source=info.source, licence=info.licence
            )
        specs.append(
            replace(
                spec,
                source=info.source or spec.source,
                licence=info.licence or spec.licence,
                attribution=info.attribution or spec.attribution,
            )
        )
    return sorted(specs, key=lambda spec: spec.z)
