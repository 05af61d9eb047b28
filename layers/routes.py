"""Routes between two points: the shortest (dashed grey) and the one around floods (green)."""

from __future__ import annotations

from layers import LayerSpec

SHORTEST = "#555555"
SAFE = "#1a9850"

LAYER = LayerSpec(
    id="routes",
    title={"vi": "Tuyến đường đi", "en": "Routes"},
    source="OpenStreetMap; ward flood reports",
    licence="ODbL 1.0",
    attribution="Tuyến tính trên mạng đường OpenStreetMap",
    style={"color": SHORTEST, "weight": 5.0, "opacity": 0.9, "fill": False},
    style_field="kind",
    style_values={
        "shortest": {"color": SHORTEST, "dashArray": "8 8", "weight": 5.0},
        "safe": {"color": SAFE, "weight": 7.0, "opacity": 0.85},
    },
    popup_fields=[
        ("label", {"vi": "Tuyến", "en": "Route"}),
        ("length_m", {"vi": "Dài (m)", "en": "Length (m)"}),
    ],
    panel_fields=[("label", {"vi": "Tuyến", "en": "Route"})],
    legend=[
        (SHORTEST, {"vi": "Ngắn nhất (bỏ qua ngập)", "en": "Shortest (ignoring floods)"}),
        (SAFE, {"vi": "Tránh ngập", "en": "Avoiding floods"}),
    ],
    z=60,
)
