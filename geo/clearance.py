"""Site clearance of land parcels: the record, the Land Law 2024 stages and rules, progress."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import auth
from geo.crs import from_wgs84
from geo.errors import GISInputError, NotFoundError, PermissionDeniedError, RuleError
from geo.store import Feature, LayerInfo, Store
from geo.values import is_blank

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
"""Deadlines and stage dates are the ward's calendar days, whatever the server's clock says."""

PARCELS_LAYER = "parcels"
DEMO_LAYER = "parcels_demo"
PARCEL_LAYERS = (PARCELS_LAYER, DEMO_LAYER)

Role = Literal["viewer", "editor", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "approver", "admin")
EDIT_ROLES = auth.roles_for("parcel.edit")
OVERRIDE_ROLES = auth.roles_for("parcel.override")
MIN_REASON = 10  # characters of a written reason for an override


@dataclass(frozen=True)
class Stage:
    """One step of the recovery and clearance process (Land Law 2024, arts. 87-89)."""

    code: str
    vi: str
    en: str
    color: str
    rank: int  # position on the main line; branches share the rank of the step they replace
    branch: bool = False

    def label(self, lang: str) -> str:
        """The stage's name in ``lang`` ("vi" or "en")."""
        return self.vi if lang == "vi" else self.en


STAGES: tuple[Stage, ...] = (
    Stage("thong_bao", "Thông báo thu hồi", "Recovery notice", "#c6dbef", 1),
    Stage("kiem_dem", "Kiểm đếm", "Inventory", "#9ecae1", 2),
    Stage("kiem_dem_bb", "Kiểm đếm bắt buộc", "Compulsory inventory", "#fd8d3c", 2, True),
    Stage("pa_du_thao", "Dự thảo phương án", "Plan drafted", "#6baed6", 3),
    Stage("pa_niem_yet", "Niêm yết phương án", "Plan posted", "#4292c6", 4),
    Stage("pa_phe_duyet", "Phê duyệt phương án", "Plan approved", "#2171b5", 5),
    Stage("qd_thu_hoi", "Quyết định thu hồi", "Recovery decision", "#807dba", 6),
    Stage("da_chi_tra", "Đã chi trả", "Paid", "#74c476", 7),
    Stage("cuong_che", "Cưỡng chế thu hồi", "Enforcement", "#d62728", 7, True),
    Stage("da_ban_giao", "Đã bàn giao mặt bằng", "Land handed over", "#006d2c", 8),
)
STAGE_BY_CODE: dict[str, Stage] = {s.code: s for s in STAGES}
FIRST_STAGE = "thong_bao"
DONE_STAGE = "da_ban_giao"

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "thong_bao": ("kiem_dem", "kiem_dem_bb"),
    "kiem_dem": ("pa_du_thao", "kiem_dem_bb", "thong_bao"),
    "kiem_dem_bb": ("pa_du_thao",),
    "pa_du_thao": ("pa_niem_yet",),
    "pa_niem_yet": ("pa_phe_duyet", "pa_du_thao"),  # revised after the public consultation
    "pa_phe_duyet": ("qd_thu_hoi",),
    "qd_thu_hoi": ("da_chi_tra", "cuong_che"),
    "da_chi_tra": ("da_ban_giao", "cuong_che"),
    "cuong_che": ("da_ban_giao",),
    "da_ban_giao": (),
}
"""Moves a planner may make without an override: forward along the law's steps, into the
compulsory inventory and enforcement branches, and back where the process loops."""

Kind = Literal["text", "int", "money", "area", "date", "bool", "stage", "tasks"]


@dataclass(frozen=True)
class Field:
    """One attribute of the parcel record."""

    name: str
    kind: Kind
    vi: str
    en: str
    required: bool = False

    def label(self, lang: str) -> str:
        """The field's name in ``lang``."""
        return self.vi if lang == "vi" else self.en


FIELDS: tuple[Field, ...] = (
    Field("map_sheet", "text", "Số tờ bản đồ", "Map sheet", True),
    Field("parcel_no", "text", "Số thửa", "Parcel number", True),
    Field("holder", "text", "Hộ gia đình / tổ chức", "Household or organisation"),
    Field("holder_kind", "text", "Loại chủ sử dụng", "Holder kind"),
    Field("address", "text", "Địa chỉ", "Address"),
    Field("land_type", "text", "Loại đất", "Land type"),
    Field("area_total_m2", "area", "Diện tích thửa (hồ sơ, m²)", "Parcel area (recorded, m²)"),
    Field("area_recovered_m2", "area", "Diện tích thu hồi (m²)", "Area recovered (m²)"),
    Field("area_measured_m2", "area", "Diện tích đo (VN-2000, m²)", "Measured area (VN-2000, m²)"),
    Field("old_ward", "text", "Phường cũ", "Old ward"),
    Field("new_ward", "text", "Phường mới", "New ward"),
    Field("stage", "stage", "Giai đoạn", "Stage"),
    Field("stage_date", "date", "Ngày chuyển giai đoạn", "Stage since"),
    Field("notice_date", "date", "Ngày thông báo thu hồi", "Notice date"),
    Field("decision_no", "text", "Số quyết định thu hồi", "Recovery decision no."),
    Field("decision_date", "date", "Ngày quyết định", "Decision date"),
    Field("comp_land", "money", "Bồi thường về đất (đ)", "Compensation for land (VND)"),
    Field("comp_assets", "money", "Bồi thường tài sản (đ)", "Compensation for assets (VND)"),
    Field("comp_support", "money", "Hỗ trợ (đ)", "Support (VND)"),
    Field("paid_amount", "money", "Đã chi trả (đ)", "Amount paid (VND)"),
    Field("paid_date", "date", "Ngày chi trả", "Payment date"),
    Field("resettlement", "bool", "Cần tái định cư", "Needs resettlement"),
    Field("responsible", "text", "Rõ người: cán bộ phụ trách", "Responsible person"),
    Field("task", "text", "Rõ việc: nhiệm vụ", "Task"),
    Field("unit", "text", "Rõ trách nhiệm: đơn vị", "Responsible unit"),
    Field("deadline", "date", "Rõ tiến độ: hạn hoàn thành", "Deadline"),
    Field("result", "text", "Rõ kết quả", "Result"),
    Field("authority", "text", "Rõ thẩm quyền", "Deciding authority"),
    Field("complaint_filed", "date", "Ngày khiếu nại", "Complaint filed"),
    Field("complaint_resolved", "date", "Ngày giải quyết khiếu nại", "Complaint resolved"),
    Field("complaint_note", "text", "Nội dung khiếu nại", "Complaint"),
    Field("tasks", "tasks", "Nhiệm vụ", "Tasks"),
    Field("note", "text", "Ghi chú", "Note"),
)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COLUMNS = [f.name for f in FIELDS]
SIX_CLEARS = ("responsible", "task", "unit", "deadline", "result", "authority")
TASK_FIELDS = ("task", "responsible", "unit", "deadline", "result", "authority", "done")
COMPUTED = ("area_measured_m2", "old_ward", "new_ward")
MAX_TEXT = 2000


def local_today() -> date:
    """Today in Vietnam (UTC+7): a server on UTC would be a day behind until 07:00."""
    return datetime.now(TIMEZONE).date()


# --- values -------------------------------------------------------------------------------


def normalize_number(value: Any) -> str:
    """A map sheet or parcel number as text: trimmed, leading zeros of plain numbers dropped."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s+", " ", str(value)).strip()
    return str(int(text)) if text.isdigit() else text.upper()


def parcel_key(map_sheet: Any, parcel_no: Any) -> str:
    """The parcel's identity, ``"sheet/parcel"`` with both numbers normalised."""
    return f"{normalize_number(map_sheet)}/{normalize_number(parcel_no)}"


def _number(value: Any, name: str, *, integer: bool) -> float | int:
    if isinstance(value, bool):
        raise GISInputError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().replace(" ", "").replace("\u00a0", "")
        # Vietnamese writing: 1.234.567,5 ; also 1,234,567.5 and 1234.5. One group of three
        # digits after a single dot ("12.345") is ambiguous: thousands in Vietnamese, a
        # decimal in English. Money has no decimals, so it is thousands there; an area is
        # refused rather than guessed 1000 times too large or small.
        single = re.fullmatch(r"-?([1-9]\d{0,2})\.(\d{3})", text)
        if single and not integer:
            msg = (
                f"{name}: {value!r} is ambiguous (twelve thousand, or twelve point three?); "
                "write it without a thousands dot, with a decimal comma such as 12345 or "
                "12,345"
            )
            raise GISInputError(msg)
        if re.fullmatch(r"-?[1-9]\d{0,2}(\.\d{3})+(,\d+)?", text):
            text = text.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"-?[1-9]\d{0,2}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")
        elif re.fullmatch(r"-?\d+,\d+", text):
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError as e:
            raise GISInputError(f"{name}: expected a number, got {value!r}") from e
    elif isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    else:
        raise GISInputError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise GISInputError(f"{name}: expected a number ≥ 0, got {value!r}")
    return round(number) if integer else round(number, 2)


def parse_date(value: Any, name: str) -> str:
    """A date as ISO ``YYYY-MM-DD``; accepts ISO, ``dd/mm/yyyy`` and date objects."""
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError as e:
        msg = f"{name}: expected a date such as 2025-07-01 or 01/07/2025, got {value!r}"
        raise GISInputError(msg) from e


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "x", "có", "co", "c"):
        return True
    if text in ("0", "false", "no", "n", "không", "khong", "k"):
        return False
    raise GISInputError(f"{name}: expected yes/no (có/không), got {value!r}")


def _text(value: Any, name: str) -> str:
    text = str(value).strip()
    if "\x00" in text:
        raise GISInputError(f"{name}: text contains a NUL character")
    if len(text) > MAX_TEXT:
        raise GISInputError(f"{name}: expected at most {MAX_TEXT} characters, got {len(text)}")
    return text


def normalize_value(name: str, value: Any) -> Any:
    """One field's value checked and converted to its stored form (None when blank)."""
    spec = FIELD_BY_NAME.get(name)
    if spec is None:
        raise GISInputError(f"{name}: not a field of the parcel record")
    if spec.kind == "tasks":
        return normalize_tasks(value)
    if is_blank(value):
        if spec.required:
            raise GISInputError(f"{name}: required, got nothing")
        return None
    if spec.kind == "text":
        return normalize_number(value) if name in ("map_sheet", "parcel_no") else _text(value, name)
    if spec.kind in ("int", "money"):
        return _number(value, name, integer=True)
    if spec.kind == "area":
        return _number(value, name, integer=False)
    if spec.kind == "date":
        return parse_date(value, name)
    if spec.kind == "bool":
        return _bool(value, name)
    code = str(value).strip()
    stage = stage_of(code)
    if stage is None:
        known = ", ".join(s.code for s in STAGES)
        raise GISInputError(f"{name}: expected a stage ({known}) or its name, got {value!r}")
    return stage.code


def stage_of(value: str) -> Stage | None:
    """The stage named by its code or its Vietnamese or English name (any case, accents)."""
    from geo.names import strip_diacritics

    key = strip_diacritics(str(value)).lower().strip()
    for stage in STAGES:
        names = (stage.code, strip_diacritics(stage.vi).lower(), stage.en.lower())
        if key in names:
            return stage
    return None


def normalize_tasks(value: Any) -> list[dict[str, Any]]:
    """A parcel's task list: each task with the six clears and a done flag, and an id."""
    if is_blank(value) if not isinstance(value, list | tuple) else False:
        return []
    if not isinstance(value, list | tuple):
        raise GISInputError(f"tasks: expected a list of tasks, got {type(value).__name__}")
    tasks = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise GISInputError(f"tasks[{i}]: expected a mapping, got {type(item).__name__}")
        unknown = set(item) - {*TASK_FIELDS, "id", "done_date"}
        if unknown:
            raise GISInputError(f"tasks[{i}]: unknown keys {sorted(unknown)}")
        task: dict[str, Any] = {"id": str(item.get("id") or uuid.uuid4().hex[:8])}
        for key in ("task", "responsible", "unit", "result", "authority"):
            raw = item.get(key)
            task[key] = None if is_blank(raw) else _text(raw, f"tasks[{i}].{key}")
        if not task["task"]:
            raise GISInputError(f"tasks[{i}].task: expected what is to be done, got nothing")
        deadline = item.get("deadline")
        task["deadline"] = None if is_blank(deadline) else parse_date(deadline, f"tasks[{i}]")
        task["done"] = False if is_blank(item.get("done")) else _bool(item["done"], "done")
        done_date = item.get("done_date")
        task["done_date"] = None if is_blank(done_date) else parse_date(done_date, "done_date")
        tasks.append(task)
    return tasks


def normalize_record(record: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A parcel record (or, with ``partial``, some of its fields) checked and converted.

    Raises ``GISInputError`` naming the first bad field; unknown fields are refused.
    """
    unknown = sorted(set(record) - set(COLUMNS) - {"demo", "created_at"})
    if unknown:
        raise GISInputError(f"record: unknown fields {unknown}; known: {', '.join(COLUMNS)}")
    names = list(record) if partial else COLUMNS
    out = {name: normalize_value(name, record.get(name)) for name in names if name in COLUMNS}
    for extra in ("demo", "created_at"):
        if extra in record:
            out[extra] = record[extra]
    total, recovered = out.get("area_total_m2"), out.get("area_recovered_m2")
    if total is not None and recovered is not None and recovered > total * 1.0001:
        msg = (
            f"area_recovered_m2: expected at most the parcel's area {total} m², got {recovered} m²"
        )
        raise GISInputError(msg)
    return out


# --- stage rules ----------------------------------------------------------------------------
def has_payment(props: Mapping[str, Any]) -> bool:
    """Whether a payment is recorded: an amount above zero and its date."""
    amount: Any = props.get("paid_amount")
    if is_blank(amount):
        return False
    try:
        positive = float(amount) > 0
    except (TypeError, ValueError):
        return False
    return positive and not is_blank(props.get("paid_date"))


def rule_problems(props: Mapping[str, Any], new_stage: str) -> list[str]:
    """What stops a move from the record's stage to ``new_stage`` (empty when it is allowed)."""
    current = props.get("stage") or FIRST_STAGE
    if new_stage not in STAGE_BY_CODE:
        raise GISInputError(f"stage: expected one of {', '.join(STAGE_BY_CODE)}, got {new_stage!r}")
    problems = []
    if new_stage != current and new_stage not in TRANSITIONS.get(current, ()):
        allowed = ", ".join(TRANSITIONS.get(current, ())) or "none"
        problems.append(
            f"stage: {current} → {new_stage} is not a step of the process "
            f"(from {current} the next steps are: {allowed})"
        )
    if new_stage in ("da_chi_tra", "da_ban_giao") and not has_payment(props):
        problems.append(
            f"stage: {new_stage} needs a payment record (paid_amount > 0 and paid_date)"
        )
    if new_stage == "qd_thu_hoi" and (
        is_blank(props.get("decision_no")) or is_blank(props.get("decision_date"))
    ):
        problems.append("stage: qd_thu_hoi needs the decision number and date")
    return problems


def check_role(role: str, action: str = "edit", permission: str = "parcel.edit") -> None:
    """Refuse a role that may not ``action`` parcels (:func:`geo.auth.require`)."""
    auth.require(role, permission, f"{action} parcels")


def record_problems(record: Mapping[str, Any]) -> list[str]:
    """What is inconsistent within a whole record (areas, complaint dates)."""
    problems = []
    total: Any = record.get("area_total_m2")
    recovered: Any = record.get("area_recovered_m2")
    if not is_blank(total) and not is_blank(recovered) and float(recovered) > float(total) * 1.0001:
        problems.append(
            f"area_recovered_m2: expected at most the parcel's area {total} m², got {recovered} m²"
        )
    filed, resolved = (
        _as_date(record.get("complaint_filed")),
        _as_date(record.get("complaint_resolved")),
    )
    if resolved is not None and (filed is None or resolved < filed):
        problems.append(
            f"complaint_resolved: expected on or after the filing date {filed}, got {resolved}"
        )
    return problems


def check_change(
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    role: str,
    override_reason: str | None = None,
) -> bool:
    """Check an edit against the stage rules; return whether it is an override.

    Raises
    ------
    RuleError
        If the edit breaks a rule and no override was asked for.
    PermissionDeniedError
        If the role may not edit, or asks to override without being an approver or admin.
    """
    check_role(role)
    merged = {**current, **changes}
    new_stage = merged.get("stage") or FIRST_STAGE
    stage_moves = "stage" in changes and changes["stage"] != (current.get("stage") or FIRST_STAGE)
    problems = rule_problems({**merged, "stage": current.get("stage") or FIRST_STAGE}, new_stage)
    if not stage_moves:
        # an edit that keeps the stage must not break what the stage needs (erase a payment),
        # but a record that already lacked it (an override, an import) stays editable
        before = rule_problems({**current, "stage": new_stage}, new_stage)
        problems = [p for p in problems if p not in before]
    if not problems:
        return False
    if override_reason is None:
        hint = " An approver may override with a written reason."
        raise RuleError("; ".join(problems) + "." + hint)
    if not auth.can(role, "parcel.override"):
        msg = f"role: only an approver or admin may override the stage rules; you are {role}"
        raise PermissionDeniedError(msg)
    if len(override_reason.strip()) < MIN_REASON:
        msg = (
            f"override_reason: expected a written reason of at least {MIN_REASON} characters, "
            f"got {override_reason.strip()!r}"
        )
        raise RuleError(msg)
    return True


def edit_parcel(
    store: Store,
    layer_id: str,
    fid: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    user: str,
    role: str,
    reason: str = "",
    override_reason: str | None = None,
    today: date | None = None,
) -> Feature:
    """Change a parcel: fields checked, stage rules applied, one history row.

    A stale ``expected_version`` raises ``ConflictError`` with the changes made in between.
    Moving the stage sets ``stage_date`` (today unless given).
    """
    check_parcel_layer(layer_id)
    check_role(role)
    fixed = sorted(set(changes) & {"demo", "created_at", *COMPUTED})
    if fixed:
        raise GISInputError(f"changes: {fixed} are set by the app, not typed")
    clean = normalize_record(changes, partial=True)
    current = store.get_feature(layer_id, fid)
    if current.version != expected_version:
        # stale: the store refuses it and reports what changed in between
        return store.update_feature(
            layer_id, fid, expected_version=expected_version, props=clean, user=user, role=role
        )
    override = check_change(current.props, clean, role=role, override_reason=override_reason)
    problems = record_problems({**current.props, **clean})
    if problems:
        raise GISInputError("; ".join(problems))
    if "stage" in clean and clean["stage"] != current.props.get("stage"):
        clean.setdefault("stage_date", (today or local_today()).isoformat())
    clean = {k: v for k, v in clean.items() if current.props.get(k) != v}
    if not clean:
        raise GISInputError("changes: nothing differs from the stored record")
    note = reason.strip()
    if override:
        note = f"[override] {override_reason.strip() if override_reason else ''}" + (
            f" — {note}" if note else ""
        )
    return store.update_feature(
        layer_id, fid, expected_version=expected_version, props=clean, user=user, reason=note,
        role=role,
    )  # fmt: skip


def check_parcel_layer(layer_id: str) -> str:
    """Return ``layer_id`` if it is a parcel layer."""
    if layer_id not in PARCEL_LAYERS:
        raise GISInputError(
            f"layer_id: expected one of {', '.join(PARCEL_LAYERS)}, got {layer_id!r}"
        )
    return layer_id


def parcel_layers(store: Store) -> list[LayerInfo]:
    """The parcel layers present: real records first, then the demo set."""
    present = {info.layer_id: info for info in store.list_layers()}
    return [present[layer_id] for layer_id in PARCEL_LAYERS if layer_id in present]


def is_demo(info: LayerInfo) -> bool:
    """Whether a layer is the generated demo set."""
    return info.layer_id == DEMO_LAYER or bool(info.meta.get("demo"))


# --- computed columns -----------------------------------------------------------------------
def _as_date(value: Any) -> date | None:
    if is_blank(value):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def task_overdue(task: Mapping[str, Any], today: date) -> bool:
    """Whether a task is past its deadline and not done."""
    deadline = _as_date(task.get("deadline"))
    return deadline is not None and deadline < today and not task.get("done")


def parcel_overdue(props: Mapping[str, Any], today: date) -> bool:
    """Whether the parcel is past its deadline and not handed over."""
    deadline = _as_date(props.get("deadline"))
    return deadline is not None and deadline < today and props.get("stage") != DONE_STAGE


def annotate(gdf: gpd.GeoDataFrame, today: date) -> gpd.GeoDataFrame:
    """Parcels with the computed columns: overdue, overdue tasks, open complaint, totals."""
    out = gdf.copy()
    for name in COLUMNS:
        if name not in out.columns:
            out[name] = None
    # Only the columns read below, as plain lists: ``to_dict("records")`` of every column
    # took 14 s for 100,000 parcels with Arrow strings; this takes well under one.
    used = ("deadline", "stage", "tasks", "complaint_filed", "complaint_resolved", "map_sheet",
            "parcel_no")  # fmt: skip
    values = [out[name].astype(object).tolist() for name in used]
    records = [dict(zip(used, row, strict=True)) for row in zip(*values, strict=True)]
    out["overdue"] = [parcel_overdue(r, today) for r in records]
    tasks = [r["tasks"] if isinstance(r["tasks"], list) else [] for r in records]
    out["tasks_overdue"] = [sum(task_overdue(t, today) for t in ts) for ts in tasks]
    out["tasks_open"] = [sum(not t.get("done") for t in ts) for ts in tasks]
    out["any_overdue"] = out["overdue"] | (out["tasks_overdue"] > 0)
    out["days_overdue"] = [
        (today - d).days if r and (d := _as_date(rec["deadline"])) else 0
        for r, rec in zip(out["overdue"], records, strict=True)
    ]
    out["complaint_open"] = [
        not is_blank(r["complaint_filed"]) and is_blank(r["complaint_resolved"]) for r in records
    ]
    money = out[["comp_land", "comp_assets", "comp_support"]].apply(pd.to_numeric, errors="coerce")
    out["comp_total"] = money.fillna(0).sum(axis=1)
    out["paid_amount"] = pd.to_numeric(out["paid_amount"], errors="coerce").fillna(0)
    out["stage"] = out["stage"].fillna(FIRST_STAGE)
    out["key"] = [parcel_key(r["map_sheet"], r["parcel_no"]) for r in records]
    return out


def measure_and_join(
    gdf: gpd.GeoDataFrame,
    measure_crs: str,
    old_wards: gpd.GeoDataFrame | None,
    new_wards: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    """Add the measured area (m², in ``measure_crs``) and the old and new ward of each parcel.

    A parcel belongs to the ward holding the largest part of it.
    """
    if gdf.crs is None:
        raise GISInputError("gdf: parcels have no CRS; declare it before measuring")
    out = gdf.copy()
    metric = (
        from_wgs84(out.to_crs(4326), measure_crs)
        if out.crs.to_epsg() != 4326
        else (from_wgs84(out, measure_crs))
    )
    valid = metric.geometry.notna() & ~metric.geometry.is_empty
    valid &= metric.geom_type.isin(["Polygon", "MultiPolygon"])
    out["area_measured_m2"] = np.where(valid, metric.geometry.area.round(1), np.nan)
    for column, wards in (("old_ward", old_wards), ("new_ward", new_wards)):
        out[column] = _majority_ward(metric, wards, measure_crs) if wards is not None else None
    return out


def _majority_ward(
    metric: gpd.GeoDataFrame, wards: gpd.GeoDataFrame, measure_crs: str
) -> list[str | None]:
    wards_m = from_wgs84(wards[["name", "geometry"]].to_crs(4326), measure_crs)
    parcels = gpd.GeoDataFrame(
        {"_row": np.arange(len(metric))}, geometry=metric.geometry.values, crs=metric.crs
    )
    polygonal = parcels.geom_type.isin(["Polygon", "MultiPolygon"])
    parcels = parcels[
        parcels.geometry.notna() & ~parcels.geometry.is_empty & parcels.is_valid & polygonal
    ]
    result: list[str | None] = [None] * len(metric)
    if parcels.empty:
        return result
    pieces = gpd.overlay(parcels, wards_m, how="intersection", keep_geom_type=True)
    if pieces.empty:
        return result
    pieces["_area"] = pieces.geometry.area
    best = pieces.sort_values("_area", ascending=False).drop_duplicates("_row")
    for row, name in zip(best["_row"], best["name"], strict=True):
        result[int(row)] = str(name)
    return result


# --- dashboard -----------------------------------------------------------------------------
def area_of(frame: pd.DataFrame) -> pd.Series:
    """Each parcel's area to count: recovered, else recorded, else measured (m²)."""
    area = pd.Series(np.nan, index=frame.index, dtype=float)
    for column in ("area_measured_m2", "area_total_m2", "area_recovered_m2"):
        if column in frame:
            values = pd.to_numeric(frame[column], errors="coerce")
            area = values.where(values.notna(), area)
    return area.fillna(0.0)


def by_stage(parcels: pd.DataFrame, lang: str = "vi") -> pd.DataFrame:
    """Parcels and area per stage, in process order, with the share of area."""
    frame = pd.DataFrame({"stage": parcels["stage"].fillna(FIRST_STAGE), "area": area_of(parcels)})
    grouped = frame.groupby("stage").agg(parcels=("area", "size"), area_m2=("area", "sum"))
    grouped = grouped.reindex([s.code for s in STAGES], fill_value=0)
    total = grouped["area_m2"].sum()
    grouped["area_pct"] = grouped["area_m2"] / total * 100 if total else 0.0
    grouped.insert(0, "label", [STAGE_BY_CODE[c].label(lang) for c in grouped.index])
    grouped.index.name = "stage"
    return grouped.reset_index()


def handed_over_share(parcels: pd.DataFrame) -> float:
    """The share (0..1) of the parcels' area that is handed over."""
    area = area_of(parcels)
    total = float(area.sum())
    done = float(area[parcels["stage"] == DONE_STAGE].sum())
    return done / total if total else 0.0


def overdue_by_person(parcels: pd.DataFrame, today: date) -> pd.DataFrame:
    """Overdue parcels and overdue tasks per responsible person, worst first."""
    rows: list[tuple[str, str, str, str, int]] = []
    for fid, rec in _records(parcels):
        key = parcel_key(rec.get("map_sheet"), rec.get("parcel_no"))
        if parcel_overdue(rec, today):
            person = "—" if is_blank(rec.get("responsible")) else rec["responsible"]
            rows.append((str(person), "parcel", key, str(rec.get("deadline")), int(fid)))
        tasks = rec.get("tasks")
        for task in tasks if isinstance(tasks, list) else []:
            if task_overdue(task, today):
                people = (task.get("responsible"), rec.get("responsible"))
                who = next((w for w in people if not is_blank(w)), "—")
                rows.append((str(who), "task", key, str(task.get("deadline")), int(fid)))
    frame = pd.DataFrame(rows, columns=["responsible", "kind", "parcel", "deadline", "fid"])
    if frame.empty:
        return pd.DataFrame(columns=["responsible", "parcels", "tasks", "total", "oldest"])
    summary = frame.groupby("responsible").agg(
        parcels=("kind", lambda k: int((k == "parcel").sum())),
        tasks=("kind", lambda k: int((k == "task").sum())),
        total=("kind", "size"),
        oldest=("deadline", "min"),
    )
    return summary.sort_values(["total", "oldest"], ascending=[False, True]).reset_index()


def money(parcels: pd.DataFrame) -> pd.DataFrame:
    """Money committed (land, assets, support) against paid, per stage and in total (VND)."""
    frame = pd.DataFrame(index=parcels.index)
    for column in ("comp_land", "comp_assets", "comp_support", "paid_amount"):
        values = parcels[column] if column in parcels else pd.Series(0, index=parcels.index)
        frame[column] = pd.to_numeric(values, errors="coerce").fillna(0)
    frame["committed"] = frame[["comp_land", "comp_assets", "comp_support"]].sum(axis=1)
    frame["stage"] = parcels["stage"].fillna(FIRST_STAGE)
    grouped = frame.groupby("stage")[
        ["comp_land", "comp_assets", "comp_support", "committed", "paid_amount"]
    ].sum()
    grouped = grouped.reindex([s.code for s in STAGES], fill_value=0)
    grouped.loc["total"] = grouped.sum()
    grouped["outstanding"] = grouped["committed"] - grouped["paid_amount"]
    grouped.index.name = "stage"
    return grouped.reset_index()


def stage_timeline(history: pd.DataFrame) -> pd.DataFrame:
    """Every stage a parcel entered and when (``fid, at, stage``), from the store's history.

    The moment is when the change took effect if it was entered after the fact
    (``effective_at``), else when it was recorded.
    """
    rows = []
    for rec in history.to_dict("records"):
        after: dict[str, Any] = rec["after"] if isinstance(rec["after"], dict) else {}
        if rec["action"] not in ("insert", "update") or "stage" not in after:
            continue
        when = rec.get("effective_at")
        if is_blank(when) and rec["action"] == "insert" and not is_blank(after.get("stage_date")):
            when = after["stage_date"]  # an imported record's own date for its stage
        if is_blank(when):
            when = rec["changed_at"]
        stage = after.get("stage") or FIRST_STAGE
        rows.append((int(rec["fid"]), pd.Timestamp(str(when)[:10]), str(stage)))
    return pd.DataFrame(rows, columns=["fid", "at", "stage"])


def progress(
    parcels: pd.DataFrame,
    history: pd.DataFrame,
    *,
    freq: str = "W",
    end: date | None = None,
) -> pd.DataFrame:
    """Area (m²) in each stage at the end of each period, rebuilt from the history.

    Parcels loaded in bulk, without a history row, count from their ``stage_date`` (or are
    left out if they have none). Columns are stage codes in process order; the index is the
    period's end date.
    """
    timeline = stage_timeline(history)
    timeline = timeline[timeline["fid"].isin(parcels.index)]
    seen = set(timeline["fid"])
    extra = [
        (fid, pd.Timestamp(str(rec["stage_date"])[:10]), _stage_or_first(rec.get("stage")))
        for fid, rec in _records(parcels)
        if fid not in seen and not is_blank(rec.get("stage_date"))
    ]
    if extra:
        timeline = pd.concat(
            [timeline, pd.DataFrame(extra, columns=["fid", "at", "stage"])], ignore_index=True
        )
    codes = [s.code for s in STAGES]
    if timeline.empty:
        empty = pd.DataFrame(columns=codes)
        empty.index.name = "date"
        return empty
    area = area_of(parcels)
    start = timeline["at"].min()
    stop = pd.Timestamp(end or local_today())
    periods = list(pd.date_range(start, max(stop, start), freq=freq))
    if not periods or periods[-1] < stop:
        periods.append(stop)
    # Each event holds its stage from its moment until the parcel's next event: add the
    # parcel's area over that span of periods with a difference array (no period × parcel loop).
    timeline = timeline.sort_values(["fid", "at"], kind="stable").reset_index(drop=True)
    position = {c: i for i, c in enumerate(codes)}
    timeline = timeline[timeline["stage"].isin(position)].reset_index(drop=True)
    ticks = np.array([p.value for p in periods], dtype=np.int64)
    starts = np.searchsorted(ticks, timeline["at"].astype("datetime64[ns]").astype(np.int64))
    following = timeline["at"].shift(-1).where(timeline["fid"].shift(-1) == timeline["fid"])
    ends = np.full(len(timeline), len(periods))
    has_next = following.notna().to_numpy()
    if has_next.any():
        later = following[has_next].astype("datetime64[ns]").astype(np.int64)
        ends[has_next] = np.searchsorted(ticks, later)
    delta = np.zeros((len(periods) + 1, len(codes)))
    weights = timeline["fid"].map(area).fillna(0.0).to_numpy(dtype=float)
    columns = timeline["stage"].map(position).to_numpy(dtype=int)
    np.add.at(delta, (starts, columns), weights)
    np.add.at(delta, (ends, columns), -weights)
    out = np.cumsum(delta, axis=0)[:-1]
    frame = pd.DataFrame(out, index=[p.date() for p in periods], columns=codes)
    frame.index.name = "date"
    return frame


def _stage_or_first(value: Any) -> str:
    return FIRST_STAGE if is_blank(value) else str(value)


def _records(frame: pd.DataFrame) -> list[tuple[int, dict[str, Any]]]:
    """``(fid, record)`` pairs of a layer frame indexed by fid."""
    fids = [int(f) for f in frame.index.to_numpy()]
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()} for rec in frame.to_dict("records")
    ]
    return list(zip(fids, records, strict=True))


def find_parcel(frame: pd.DataFrame, key: str) -> int:
    """The fid of the parcel ``"sheet/parcel"`` in a layer frame; ``NotFoundError`` if absent."""
    if "/" not in key:
        raise GISInputError(f"key: expected 'sheet/parcel' such as '12/345', got {key!r}")
    sheet, number = key.split("/", 1)
    wanted = parcel_key(sheet, number)
    keys = [parcel_key(s, n) for s, n in zip(frame["map_sheet"], frame["parcel_no"], strict=True)]
    matches = [fid for fid, k in zip(frame.index, keys, strict=True) if k == wanted]
    if not matches:
        raise NotFoundError(f"key: no parcel {wanted} (sheet/parcel)")
    return int(matches[0])


SHAPEFILE_NAMES = {
    "holder_kind": "loai_chu", "area_total_m2": "dt_tong", "area_recovered_m2": "dt_thuhoi",
    "area_measured_m2": "dt_do", "stage_date": "ngay_gd", "notice_date": "ngay_tb",
    "decision_no": "so_qd", "decision_date": "ngay_qd", "comp_assets": "bt_taisan",
    "comp_support": "ho_tro", "paid_amount": "da_chi", "resettlement": "tai_dc",
    "responsible": "can_bo", "complaint_filed": "kn_nop", "complaint_resolved": "kn_xong",
    "complaint_note": "kn_noidung",
}  # fmt: skip
"""Short names (≤ 10 characters, as dBase allows) for the fields whose names are longer; the
parcel import recognises them, so a Shapefile export maps back field for field."""


def export_frame(parcels: gpd.GeoDataFrame, *, shapefile: bool = False) -> gpd.GeoDataFrame:
    """Parcels ready for a file: tasks as JSON text, the store's version column dropped.

    With ``shapefile``, long field names get the short names of :data:`SHAPEFILE_NAMES`.
    """
    import json

    out = parcels.drop(columns=[c for c in parcels.columns if c.startswith("_")])
    if shapefile:
        out = out.rename(columns=SHAPEFILE_NAMES)
    if "tasks" in out:
        out["tasks"] = out["tasks"].map(
            lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list) and v else None
        )
    return out


def dashboard_tables(
    parcels: pd.DataFrame, history: pd.DataFrame, today: date, lang: str = "vi"
) -> dict[str, pd.DataFrame]:
    """The dashboard's tables by name: stages, overdue by person, money, progress, parcels."""
    annotated = annotate(gpd.GeoDataFrame(parcels), today)
    plain = pd.DataFrame(annotated.drop(columns=annotated.geometry.name, errors="ignore"))
    listing = plain[[c for c in ("key", *COLUMNS[2:], "overdue", "complaint_open") if c in plain]]
    listing = listing.drop(columns=["tasks"], errors="ignore")
    return {
        "stages": by_stage(parcels, lang),
        "overdue_by_person": overdue_by_person(parcels, today),
        "money": money(parcels),
        "progress": progress(parcels, history, end=today).reset_index(),
        "parcels": listing.reset_index(),
    }


def detach(store: Store, attachment_id: int, *, user: str, role: str, reason: str = "") -> Any:
    """Mark a parcel's document deleted (its bytes stay in the store); one history row."""
    check_role(role, "remove documents of", "parcel.attach")
    return store.delete_attachment(attachment_id, user=user, reason=reason, role=role)


def attach(
    store: Store,
    layer_id: str,
    fid: int,
    data: bytes,
    filename: str,
    *,
    user: str,
    role: str,
    max_bytes: int,
) -> Any:
    """Check a document (type, size, name) and keep it with a parcel; returns the attachment."""
    from geo.attachments import check_file

    check_parcel_layer(layer_id)
    check_role(role, "attach documents to", "parcel.attach")
    checked = check_file(data, filename, max_bytes=max_bytes)
    return store.add_attachment(
        layer_id, fid, filename=checked.filename, mime=checked.mime, data=data,
        sha256=checked.sha256, user=user, role=role,
    )  # fmt: skip
