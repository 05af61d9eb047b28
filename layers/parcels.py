"""Parcels to clear in the Thủ Thiêm new urban area: the ward's real records, when imported."""

from __future__ import annotations

from geo.clearance import PARCELS_LAYER
from layers._parcels import parcel_spec

LAYER = parcel_spec(
    PARCELS_LAYER,
    {"vi": "Thửa đất giải phóng mặt bằng", "en": "Site clearance parcels"},
    source="Hồ sơ địa chính do phường nhập / cadastral records imported by the ward",
    licence="Dữ liệu nội bộ của phường / the ward's internal records",
    z=40,
)
