"""Ground at or below the chosen water level, from the elevation model (a "bathtub" model):
dark blue where water from the river or the model's edge reaches it, pale blue where it is
enclosed by higher ground."""

from __future__ import annotations

from geo.legends import GLO30_ATTRIBUTION
from layers import LayerSpec

CONNECTED = "#2166ac"
ENCLOSED = "#9ecae1"

LAYER = LayerSpec(
    id="low_ground",
    title={"vi": "Vùng thấp hơn mực nước", "en": "Ground below the water level"},
    source="Copernicus GLO-30 DEM (or the ward's uploaded GeoTIFF)",
    licence="Copernicus DEM licence (free, attribution required)",
    attribution=GLO30_ATTRIBUTION,
    style={
        "color": CONNECTED,
        "weight": 0.5,
        "opacity": 0.9,
        "fillColor": CONNECTED,
        "fillOpacity": 0.45,
    },
    style_field="connected",
    style_values={
        "True": {"color": CONNECTED, "fillColor": CONNECTED},
        "False": {"color": "#4292c6", "fillColor": ENCLOSED, "fillOpacity": 0.6},
    },
    popup_fields=[
        ("label", {"vi": "Vùng thấp", "en": "Low ground"}),
        ("area_m2", {"vi": "Diện tích (m²)", "en": "Area (m²)"}),
    ],
    panel_fields=[("connected", {"vi": "Nối với nguồn nước", "en": "Connected to the water"})],
    legend=[
        (CONNECTED, {"vi": "Dưới mực nước, nước tràn tới", "en": "Below the level, reached"}),
        (ENCLOSED, {"vi": "Dưới mực nước, trũng kín", "en": "Below the level, enclosed"}),
    ],
    z=25,
)
