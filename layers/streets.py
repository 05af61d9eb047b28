"""The ward's street network from OpenStreetMap, drawn as thin grey lines under the floods."""

from __future__ import annotations

from layers import LayerSpec

LAYER = LayerSpec(
    id="streets",
    title={"vi": "Đường phố (OpenStreetMap)", "en": "Streets (OpenStreetMap)"},
    source="OpenStreetMap",
    licence="ODbL 1.0",
    attribution="© OpenStreetMap contributors (ODbL)",
    style={"color": "#8a8f98", "weight": 2.0, "opacity": 0.8, "fill": False},
    popup_fields=[
        ("name", {"vi": "Tên đường", "en": "Street"}),
        ("highway", {"vi": "Loại đường", "en": "Road type"}),
        ("length_m", {"vi": "Dài (m)", "en": "Length (m)"}),
    ],
    panel_fields=[
        ("name", {"vi": "Tên đường", "en": "Street"}),
        ("segment_id", {"vi": "Mã đoạn", "en": "Segment"}),
    ],
    legend=[("#8a8f98", {"vi": "Đường phố", "en": "Streets"})],
    z=30,
)
