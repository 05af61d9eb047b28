"""The generated demo parcels (not real records), drawn like the real ones and labelled so."""

from __future__ import annotations

from geo.clearance import DEMO_LAYER
from geo.demo import DEMO_LICENCE, DEMO_SOURCE
from layers._parcels import parcel_spec

LAYER = parcel_spec(
    DEMO_LAYER,
    {"vi": "Thửa đất GPMB — DỮ LIỆU MẪU", "en": "Clearance parcels — DEMO DATA"},
    source=DEMO_SOURCE,
    licence=DEMO_LICENCE,
    z=41,
)
