"""Old wards before 1 July 2025 (GADM 4.1 with later merges), drawn as dashed outlines."""

from __future__ import annotations

from layers import LayerSpec

OLD_COLOUR = "#555555"

LAYER = LayerSpec(
    id="wards_old",
    title={"vi": "Phường, xã cũ (trước 01/07/2025)", "en": "Old wards (before 1 July 2025)"},
    source="GADM 4.1",
    licence="GADM: phi thương mại, không phân phối lại khi chưa được phép",
    attribution="GADM 4.1 (www.gadm.org), phi thương mại",
    style={
        "color": OLD_COLOUR,
        "weight": 1.5,
        "opacity": 0.9,
        "dashArray": "6 4",
        "fill": False,
        "fillColor": OLD_COLOUR,
        "fillOpacity": 0.0,
    },
    popup_fields=[
        ("name", {"vi": "Tên", "en": "Name"}),
        ("district", {"vi": "Quận, huyện cũ", "en": "Former district"}),
    ],
    panel_fields=[
        ("name", {"vi": "Tên", "en": "Name"}),
        ("district", {"vi": "Quận, huyện cũ", "en": "Former district"}),
        ("gadm_units", {"vi": "Đơn vị GADM", "en": "GADM units"}),
    ],
    legend=[(OLD_COLOUR, {"vi": "Ranh giới phường, xã cũ", "en": "Old ward boundaries"})],
    default_visible=True,
    z=20,
)
