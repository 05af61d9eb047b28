"""Street segments whose lowest sampled point is at or below the "low street" threshold
(orange), and those the chosen water level floods (dark blue, drawn over them)."""

from __future__ import annotations

from geo.legends import GLO30_ATTRIBUTION
from layers import LayerSpec

LOW = "#e08214"
FLOODED: dict[str, object] = {"color": "#253494", "weight": 6.0, "opacity": 0.95}

LAYER = LayerSpec(
    id="low_streets",
    title={"vi": "Đoạn đường trũng", "en": "Low street segments"},
    source="OpenStreetMap streets sampled on the elevation model",
    licence="ODbL 1.0 (streets); Copernicus DEM licence (elevations)",
    attribution=GLO30_ATTRIBUTION,
    style={"color": LOW, "weight": 5.0, "opacity": 0.9, "fill": False},
    flag_styles=[("flooded", FLOODED)],
    popup_fields=[
        ("label", {"vi": "Tên đường", "en": "Street"}),
        ("elev_min", {"vi": "Cao độ thấp nhất (m)", "en": "Lowest elevation (m)"}),
        ("elev_mean", {"vi": "Cao độ trung bình (m)", "en": "Mean elevation (m)"}),
        ("depth_m", {"vi": "Ngập sâu (m)", "en": "Depth (m)"}),
    ],
    panel_fields=[("segment_id", {"vi": "Mã đoạn", "en": "Segment"})],
    legend=[
        (LOW, {"vi": "Đoạn đường trũng (dưới ngưỡng)", "en": "Low segment (below the threshold)"}),
        (str(FLOODED["color"]), {"vi": "Ngập ở mực nước đã chọn", "en": "Flooded at the level"}),
    ],
    z=35,
)
