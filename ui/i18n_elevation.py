"""UI texts of the elevation page, in Vietnamese and English."""

from __future__ import annotations

VI: dict[str, str] = {
    "nav.elevation": "Địa hình thấp",
}

EN: dict[str, str] = {
    "nav.elevation": "Low ground",
}
