"""New wards from 1 July 2025: the configured ward highlighted among its neighbours."""

from __future__ import annotations

from layers import LayerSpec

WARD_COLOUR = "#c0392b"
NEIGHBOUR_COLOUR = "#2c7fb8"

LAYER = LayerSpec(
    id="wards_new",
    title={"vi": "Phường, xã mới (từ 01/07/2025)", "en": "New wards (from 1 July 2025)"},
    source="vietnam-3d-map / gis.vn / sapnhap.bando.com.vn",
    licence="Chưa rõ giấy phép / licence unclear",
    attribution="Ranh giới 2025: vietnam-3d-map / gis.vn / sapnhap.bando.com.vn",
    style={
        "color": NEIGHBOUR_COLOUR,
        "weight": 1.5,
        "opacity": 0.9,
        "fillColor": NEIGHBOUR_COLOUR,
        "fillOpacity": 0.12,
    },
    highlight_field="name",
    highlight_style={
        "color": WARD_COLOUR,
        "weight": 4,
        "fillColor": WARD_COLOUR,
        "fillOpacity": 0.22,
    },
    popup_fields=[
        ("name", {"vi": "Tên", "en": "Name"}),
        ("ward_code", {"vi": "Mã đơn vị", "en": "Ward code"}),
        ("area_km2", {"vi": "Diện tích công bố (km²)", "en": "Stated area (km²)"}),
        ("population", {"vi": "Dân số", "en": "Population"}),
    ],
    panel_fields=[
        ("name", {"vi": "Tên", "en": "Name"}),
        ("ward_code", {"vi": "Mã đơn vị", "en": "Ward code"}),
        ("area_km2", {"vi": "Diện tích công bố (km²)", "en": "Stated area (km²)"}),
        ("population", {"vi": "Dân số", "en": "Population"}),
        ("before_merger", {"vi": "Trước sáp nhập", "en": "Before the merger"}),
        ("admin_center", {"vi": "Trụ sở", "en": "Administrative centre"}),
    ],
    legend=[
        (WARD_COLOUR, {"vi": "Phường {ward} (mới)", "en": "{ward} ward (new)"}),
        (NEIGHBOUR_COLOUR, {"vi": "Phường, xã lân cận (mới)", "en": "Neighbouring new wards"}),
    ],
    default_visible=True,
    z=10,
)
