"""Flood report points: where each live report was marked, coloured by its depth class."""

from __future__ import annotations

from geo.legends import DEPTH_COLOURS
from layers import LayerSpec

LAYER = LayerSpec(
    id="flood_reports",
    title={"vi": "Điểm báo ngập", "en": "Flood reports"},
    source="Ward flood reports",
    licence="Ward record",
    attribution="Báo cáo ngập của phường",
    style={"color": "#222222", "weight": 1.5, "fillColor": DEPTH_COLOURS["unknown"],
           "fillOpacity": 0.95},
    style_field="depth_class",
    style_values={code: {"fillColor": colour} for code, colour in DEPTH_COLOURS.items()},
    marker_radius=6,
    popup_fields=[
        ("label", {"vi": "Báo cáo", "en": "Report"}),
        ("street", {"vi": "Đường", "en": "Street"}),
        ("depth_cm", {"vi": "Độ sâu (cm)", "en": "Depth (cm)"}),
        ("source_label", {"vi": "Nguồn", "en": "Source"}),
        ("observed_at", {"vi": "Lúc", "en": "Observed"}),
        ("note", {"vi": "Ghi chú", "en": "Note"}),
    ],
    panel_fields=[("street", {"vi": "Đường", "en": "Street"})],
    legend=[("#222222", {"vi": "Điểm báo ngập (màu theo độ sâu)",
                         "en": "Report point (colour by depth)"})],
    z=50,
)
