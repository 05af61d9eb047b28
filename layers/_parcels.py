"""The shared look of the clearance parcel layers: colour by stage, overdue and complaint flags."""

from __future__ import annotations

from typing import Any

from geo.clearance import STAGES
from layers import Labels, LayerSpec

OVERDUE: dict[str, Any] = {"color": "#e31a1c", "weight": 3.0, "opacity": 1.0}
COMPLAINT: dict[str, Any] = {"color": "#7a0177", "weight": 3.0, "dashArray": "5 4", "opacity": 1.0}
FIELDS: list[tuple[str, Labels]] = [
    ("key", {"vi": "Tờ/thửa", "en": "Sheet/parcel"}),
    ("holder", {"vi": "Chủ sử dụng", "en": "Holder"}),
    ("stage_label", {"vi": "Giai đoạn", "en": "Stage"}),
    ("responsible", {"vi": "Cán bộ phụ trách", "en": "Responsible"}),
    ("deadline", {"vi": "Hạn", "en": "Deadline"}),
]


def parcel_spec(layer_id: str, title: Labels, source: str, licence: str, z: int) -> LayerSpec:
    """A parcel layer's spec: fill by stage, red outline if overdue, dashed purple if disputed."""
    legend: list[tuple[str, Labels]] = [(s.color, {"vi": s.vi, "en": s.en}) for s in STAGES]
    legend += [
        (str(OVERDUE["color"]), {"vi": "Viền đỏ: quá hạn", "en": "Red outline: overdue"}),
        (str(COMPLAINT["color"]), {"vi": "Viền tím đứt: khiếu nại", "en": "Dashed: complaint"}),
    ]
    return LayerSpec(
        id=layer_id,
        title=title,
        source=source,
        licence=licence,
        attribution=source,
        style={"color": "#555555", "weight": 0.8, "fillColor": "#cccccc", "fillOpacity": 0.75},
        style_field="stage",
        style_values={s.code: {"fillColor": s.color} for s in STAGES},
        flag_styles=[("complaint_open", COMPLAINT), ("any_overdue", OVERDUE)],
        popup_fields=FIELDS,
        panel_fields=FIELDS,
        legend=legend,
        default_visible=True,
        z=z,
    )
