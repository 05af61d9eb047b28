"""Streets the ward designates as flood-prone, with the anti-flooding programme's works."""

from __future__ import annotations

from layers import LayerSpec

COLOUR = "#6a3d9a"

LAYER = LayerSpec(
    id="flood_prone",
    title={"vi": "Tuyến đường hay ngập", "en": "Flood-prone streets"},
    source="Ward anti-flooding programme",
    licence="Ward record",
    attribution="UBND phường: chương trình chống ngập",
    style={"color": COLOUR, "weight": 9.0, "opacity": 0.35, "lineCap": "round", "fill": False},
    popup_fields=[
        ("street", {"vi": "Tuyến đường hay ngập", "en": "Flood-prone street"}),
        ("programme", {"vi": "Chương trình", "en": "Programme"}),
        ("works_summary", {"vi": "Công trình", "en": "Works"}),
    ],
    panel_fields=[("street", {"vi": "Tuyến đường", "en": "Street"})],
    legend=[(COLOUR, {"vi": "Tuyến đường hay ngập", "en": "Flood-prone street"})],
    z=32,
)
