"""Flooded street segments at a moment, coloured by PetaBencana's depth classes; closed
segments dashed black."""

from __future__ import annotations

from geo.legends import DEPTH_COLOURS
from layers import LayerSpec

CLOSED: dict[str, object] = {"color": "#111111", "dashArray": "6 6", "weight": 7.0, "opacity": 1.0}
LABELS = {
    "unknown": {"vi": "Ngập, chưa rõ độ sâu", "en": "Flooded, depth unknown"},
    "10-70": {"vi": "Ngập 10–70 cm", "en": "Flooded 10–70 cm"},
    "71-150": {"vi": "Ngập 71–150 cm", "en": "Flooded 71–150 cm"},
    "150+": {"vi": "Ngập trên 150 cm", "en": "Flooded over 150 cm"},
}

LAYER = LayerSpec(
    id="flood_state",
    title={"vi": "Đoạn đường đang ngập", "en": "Flooded segments"},
    source="Ward flood reports",
    licence="Ward record",
    attribution="Báo cáo ngập của phường",
    style={"color": DEPTH_COLOURS["unknown"], "weight": 7.0, "opacity": 0.95, "fill": False},
    style_field="depth_class",
    style_values={code: {"color": colour} for code, colour in DEPTH_COLOURS.items()},
    flag_styles=[("closed", CLOSED)],
    popup_fields=[
        ("label", {"vi": "Đoạn ngập", "en": "Flooded segment"}),
        ("name", {"vi": "Tên đường", "en": "Street"}),
        ("depth_cm", {"vi": "Độ sâu (cm)", "en": "Depth (cm)"}),
        ("since", {"vi": "Từ", "en": "Since"}),
        ("until", {"vi": "Dự kiến hết", "en": "Expected end"}),
        ("sources", {"vi": "Nguồn", "en": "Sources"}),
    ],
    panel_fields=[("segment_id", {"vi": "Mã đoạn", "en": "Segment"})],
    legend=[
        *[(DEPTH_COLOURS[code], LABELS[code]) for code in DEPTH_COLOURS],
        (str(CLOSED["color"]), {"vi": "Nét đứt đen: cấm đường", "en": "Dashed black: closed"}),
    ],
    z=40,
)
