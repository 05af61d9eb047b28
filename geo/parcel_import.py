"""Importing cadastral parcel files: field mapping, row-by-row checks, upsert by sheet/parcel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo import clearance
from geo.config import WardProfile
from geo.crs import from_wgs84, to_wgs84
from geo.errors import GISInputError, RuleError
from geo.io import ImportResult
from geo.names import strip_diacritics
from geo.store import FeatureUpdate, Store

IMPORTABLE = [f.name for f in clearance.FIELDS if f.name not in clearance.COMPUTED]
# Column names seen in Vietnamese cadastral files (VILIS, ViLIS 2.0, TMV.LIS, MicroStation
# exports, Excel sheets), compared without accents, case, spaces and underscores.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "map_sheet": ("soto", "sotobd", "sotobando", "toban", "tobando", "tobd", "shbando",
                  "sohieutobando", "sohieuto", "mapsheet", "sheet", "to"),
    "parcel_no": ("sothua", "thua", "shthua", "sohieuthua", "thuadat", "sothuadat", "parcelno",
                  "parcel", "parcelnumber"),
    "holder": ("chusudung", "tenchu", "chu", "chusd", "hoten", "tenchusudung", "holder", "owner",
               "tenhogiadinh", "tenho"),
    "holder_kind": ("loaichu", "doituong", "holderkind"),
    "address": ("diachi", "address", "diachithuadat"),
    "land_type": ("loaidat", "mdsd", "mucdichsudung", "kyhieumdsd", "landtype", "mucdich"),
    "area_total_m2": ("dientich", "dt", "dtich", "area", "dientichm2", "dientichphaply",
                      "dtphaply", "areatotalm2", "dientichthua"),
    "area_recovered_m2": ("dtthuhoi", "dientichthuhoi", "dtth", "recoveredarea",
                          "arearecoveredm2"),
    "stage": ("giaidoan", "trangthai", "tiendo", "stage", "status"),
    "stage_date": ("ngaygiaidoan", "stagedate"),
    "notice_date": ("ngaythongbao", "noticedate"),
    "decision_no": ("soqd", "soquyetdinh", "qdthuhoi", "decisionno"),
    "decision_date": ("ngayqd", "ngayquyetdinh", "decisiondate"),
    "comp_land": ("bothuongdat", "btdat", "compland"),
    "comp_assets": ("bothuongtaisan", "bttaisan", "btts", "compassets"),
    "comp_support": ("hotro", "tienhotro", "compsupport"),
    "paid_amount": ("dachitra", "sotiendachi", "sotienchitra", "paidamount"),
    "paid_date": ("ngaychitra", "paiddate"),
    "resettlement": ("taidinhcu", "tdc", "resettlement"),
    "responsible": ("canbo", "canbophutrach", "nguoiphutrach", "responsible"),
    "task": ("nhiemvu", "congviec", "task"),
    "unit": ("donvi", "donviphutrach", "unit"),
    "deadline": ("han", "hanchot", "thoihan", "hanhoanthanh", "deadline"),
    "result": ("ketqua", "result"),
    "authority": ("thamquyen", "capthamquyen", "authority"),
    "complaint_filed": ("ngaykhieunai", "complaintfiled"),
    "complaint_resolved": ("ngaygiaiquyet", "complaintresolved"),
    "complaint_note": ("khieunai", "noidungkhieunai", "complaintnote"),
    "note": ("ghichu", "note", "notes"),
}  # fmt: skip


@dataclass(frozen=True)
class ImportPlan:
    """What an import would do, for the preview; apply it with :func:`apply_plan`."""

    inserts: gpd.GeoDataFrame
    updates: list[FeatureUpdate]
    unchanged: int
    rejected: pd.DataFrame  # row (from 1), map_sheet, parcel_no, reason
    preview: pd.DataFrame  # row, key, action, stage, holder, area
    mapping: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many rows are new, updated, unchanged and rejected."""
        return {
            "new": len(self.inserts),
            "updated": len(self.updates),
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", strip_diacritics(str(name)).lower().replace("đ", "d"))


def suggest_mapping(columns: list[str]) -> dict[str, str]:
    """Record field → file column, guessed from the column names (unknown fields left out)."""
    squashed = {_squash(c): c for c in columns}
    short = {_squash(v): k for k, v in clearance.SHAPEFILE_NAMES.items()}
    # dBase cuts field names at 10 characters: CHU_SU_DUN, AREA_RECOV
    cut = {_squash(c): c for c in columns if len(c) == 10 and len(_squash(c)) >= 6}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target, names in SYNONYMS.items():
        candidates = (_squash(target), *names, *[n for n, t in short.items() if t == target])
        column = next(
            (squashed[n] for n in candidates if squashed.get(n) not in (None, *used)), None
        )
        if column is None:
            column = next(
                (c for key, c in cut.items() if c not in used
                 and any(n.startswith(key) for n in candidates)),
                None,
            )  # fmt: skip
        if column is not None:
            mapping[target] = column
            used.add(column)
    return mapping


def check_mapping(mapping: Mapping[str, str | None], columns: list[str]) -> dict[str, str]:
    """The mapping without blanks, checked: known fields, existing columns, the key present."""
    clean = {k: v for k, v in mapping.items() if v}
    unknown = sorted(set(clean) - set(IMPORTABLE))
    if unknown:
        raise GISInputError(f"mapping: unknown record fields {unknown}")
    missing = sorted({v for v in clean.values() if v not in columns})
    if missing:
        raise GISInputError(f"mapping: the file has no columns {missing}; it has {columns}")
    twice = sorted({v for v in clean.values() if list(clean.values()).count(v) > 1})
    if twice:
        raise GISInputError(f"mapping: columns {twice} are mapped to more than one field")
    for needed in ("map_sheet", "parcel_no"):
        if needed not in clean:
            msg = f"mapping: expected a column for {needed} (the parcel's identity), got none"
            raise GISInputError(msg)
    return clean


def build_plan(
    result: ImportResult,
    mapping: Mapping[str, str | None],
    existing: gpd.GeoDataFrame | None,
    *,
    measure_crs: str,
    old_wards: gpd.GeoDataFrame | None = None,
    new_wards: gpd.GeoDataFrame | None = None,
    extent: BaseGeometry | None = None,
    role: str = "editor",
    today: date | None = None,
    override_reason: str | None = None,
) -> ImportPlan:
    """Check every row, and match it to a stored parcel by sheet and parcel number.

    Parameters
    ----------
    result
        The file as read by :func:`geo.io.read_vector` (``keep_bad_rows=True`` to report
        bad geometries row by row).
    mapping
        Record field → file column.
    existing
        The parcel layer as stored (with ``_version``), or None for a new layer.
    measure_crs
        The CRS to measure areas in (VN-2000 TM-3 of the ward).
    old_wards, new_wards
        Ward layers for the spatial join.
    extent
        Where parcels may lie (EPSG:4326), e.g. the ward with a margin; rows outside are
        rejected.
    role
        The importer's role: a stage change in the file must follow the process unless the
        role may override (it is then recorded as an override).
    today
        The date recorded as ``stage_date``/``created_at`` (today if omitted).
    override_reason
        For an approver or admin: the written reason that lets rows breaking a stage rule in;
        without it those rows are rejected like anyone's. It is kept in each row's history.

    A blank cell never erases a stored value: it means "not in this file".
    """
    day = (today or clearance.local_today()).isoformat()
    if override_reason is not None:
        override_reason = override_reason.strip()
        if len(override_reason) < clearance.MIN_REASON:
            msg = (
                f"override_reason: expected a written reason of at least {clearance.MIN_REASON}"
                f" characters, got {override_reason!r}"
            )
            raise RuleError(msg)
    columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
    clean_map = check_mapping(mapping, columns)
    gdf = result.gdf.reset_index(drop=True)
    gdf = clearance.measure_and_join(gdf, measure_crs, old_wards, new_wards)
    stored = _stored_keys(existing)
    rejected: list[tuple[int, str, str, str]] = []
    new_rows: list[dict[str, Any]] = []
    new_geoms: list[BaseGeometry] = []
    updates: list[FeatureUpdate] = []
    preview: list[tuple[int, str, str, str, str, float | None]] = []
    unchanged = 0
    seen: dict[str, int] = {}
    # records, not itertuples: column names such as "Số tờ" are not Python identifiers
    rows = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    for pos, values in enumerate(rows):
        number = pos + 1
        raw = {target: values.get(column) for target, column in clean_map.items()}
        sheet, parcel = str(raw.get("map_sheet") or ""), str(raw.get("parcel_no") or "")
        geom = gdf.geometry.iloc[pos]
        reason = _geometry_problem(result.bad_rows.get(pos), geom, extent)
        record: dict[str, Any] = {}
        if reason is None:
            try:
                record = clearance.normalize_record(raw, partial=True)
            except GISInputError as e:
                reason = str(e)
            else:
                record = {k: v for k, v in record.items() if v is not None}
        if reason is None:
            key = clearance.parcel_key(record["map_sheet"], record["parcel_no"])
            if key in seen:
                reason = f"duplicate of row {seen[key]} (same sheet and parcel {key})"
            else:
                seen[key] = number
        if reason is not None:
            rejected.append((number, sheet, parcel, reason))
            continue
        for name in clearance.COMPUTED:
            record[name] = _plain(values.get(name))
        if key in stored:
            fid, version, props, old_geom = stored[key]
            changes = {k: v for k, v in record.items() if props.get(k) != v}
            same_shape = old_geom is not None and shapely.equals_exact(
                shapely.normalize(old_geom), shapely.normalize(geom), 1e-9
            )
            override = False
            if changes:
                problem, override = _rule_check(props, changes, role, override_reason)
                if problem is not None:
                    rejected.append((number, sheet, parcel, problem))
                    continue
            if not changes and same_shape:
                unchanged += 1
                preview.append((number, key, "unchanged", props.get("stage") or "", "", None))
                continue
            if "stage" in changes:
                changes.setdefault("stage_date", day)
            reason_text = f"[override] {override_reason}" if override else ""
            updates.append(
                FeatureUpdate(
                    fid, version, changes or None, None if same_shape else geom, reason_text
                )
            )
            preview.append(
                (number, key, "update" + (" (override)" if override else ""),
                 str(record.get("stage") or props.get("stage") or ""),
                 ", ".join(sorted(changes)) + ("" if same_shape else ", geometry"),
                 record.get("area_measured_m2"))
            )  # fmt: skip
        else:
            record.setdefault("stage", clearance.FIRST_STAGE)
            # a new record may stand at any stage, but must have what that stage needs
            problem, override = _rule_check({}, record, role, override_reason)
            if problem is not None:
                rejected.append((number, sheet, parcel, problem))
                continue
            record["created_at"] = day
            new_rows.append(record)
            new_geoms.append(geom)
            preview.append(
                (number, key, "new" + (" (override)" if override else ""), record["stage"], "",
                 record.get("area_measured_m2"))
            )  # fmt: skip
    inserts = gpd.GeoDataFrame(
        pd.DataFrame.from_records(new_rows, columns=_insert_columns(new_rows)),
        geometry=gpd.GeoSeries(new_geoms, crs=4326).values,
        crs=4326,
    )
    return ImportPlan(
        inserts=inserts,
        updates=updates,
        unchanged=unchanged,
        rejected=pd.DataFrame(rejected, columns=["row", "map_sheet", "parcel_no", "reason"]),
        preview=pd.DataFrame(
            preview, columns=["row", "key", "action", "stage", "changes", "area_measured_m2"]
        ),
        mapping=clean_map,
        warnings=list(result.warnings),
    )


def _rule_check(
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    role: str,
    override_reason: str | None,
) -> tuple[str | None, bool]:
    """``(why the row is refused, whether it is an override)`` for one imported row."""
    merged = {**current, **changes}
    if not current:  # a new record: no move, but the stage's needs and the record's sanity
        stage = str(merged.get("stage") or clearance.FIRST_STAGE)
        problems = clearance.rule_problems(merged, stage) + clearance.record_problems(merged)
        if not problems:
            return None, False
        if role in clearance.OVERRIDE_ROLES and override_reason:
            return (None, True) if not clearance.record_problems(merged) else (problems[0], False)
        hint = "" if role not in clearance.OVERRIDE_ROLES else " (give an override reason)"
        return "; ".join(problems) + hint, False
    problems = clearance.record_problems(merged)
    if problems:
        return "; ".join(problems), False
    try:
        clearance.check_change(current, changes, role=role)
    except RuleError as e:
        if role in clearance.OVERRIDE_ROLES and override_reason:
            return None, True
        hint = " (give an override reason)" if role in clearance.OVERRIDE_ROLES else ""
        return str(e) + hint, False
    except PermissionError as e:
        return str(e), False
    return None, False


def _insert_columns(rows: list[dict[str, Any]]) -> list[str]:
    present = {k for row in rows for k in row}
    ordered = [c for c in clearance.COLUMNS if c in present or c in ("stage", "tasks")]
    return ordered + sorted(present - set(ordered))


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _geometry_problem(
    bad: str | None, geom: BaseGeometry | None, extent: BaseGeometry | None
) -> str | None:
    if bad is not None:
        return bad
    if geom is None or geom.is_empty:
        return "no geometry (missing or empty)"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"expected a polygon, got a {geom.geom_type}"
    if extent is not None and not extent.intersects(geom):
        return "outside the ward (and its margin): check the CRS or the file"
    return None


def _stored_keys(
    existing: gpd.GeoDataFrame | None,
) -> dict[str, tuple[int, int, dict[str, Any], BaseGeometry | None]]:
    if existing is None or existing.empty:
        return {}
    out = {}
    attrs = existing.drop(columns=[existing.geometry.name, "_version"], errors="ignore")
    for fid, version, rec, geom in zip(
        existing.index, existing["_version"], attrs.to_dict("records"), existing.geometry,
        strict=True,
    ):  # fmt: skip
        props = {k: _plain(v) if not isinstance(v, list) else v for k, v in rec.items()}
        key = clearance.parcel_key(props.get("map_sheet"), props.get("parcel_no"))
        out[key] = (int(fid), int(version), props, geom)
    return out


def ward_extent(
    new_wards: gpd.GeoDataFrame, profile: WardProfile, margin_m: float = 2000.0
) -> BaseGeometry | None:
    """The configured ward grown by ``margin_m`` metres (EPSG:4326): where parcels may lie."""
    ward = new_wards[new_wards["name"] == profile.name]
    if ward.empty:
        return None
    metric = from_wgs84(ward[["geometry"]].to_crs(4326), profile.measure_crs)
    grown = gpd.GeoDataFrame(geometry=metric.buffer(margin_m), crs=metric.crs)
    return to_wgs84(grown).geometry.union_all()


def apply_plan(
    store: Store,
    layer_id: str,
    plan: ImportPlan,
    *,
    user: str,
    source: str,
    licence: str = "",
    title: str | None = None,
    role: str = "editor",
) -> dict[str, int]:
    """Write an import in one transaction: new parcels inserted, changed ones updated.

    If someone edited a parcel after the plan was built, ``ConflictError`` is raised and
    nothing is written: build the plan again.
    """
    clearance.check_parcel_layer(layer_id)
    clearance.check_role(role, "import", "parcel.import")
    if layer_id == clearance.DEMO_LAYER:
        raise GISInputError("layer_id: real records go to 'parcels', never into the demo set")
    if not source.strip():
        raise GISInputError("source: expected where the records come from, got nothing")
    inserts = plan.inserts if len(plan.inserts) else None
    if inserts is None and not plan.updates:
        return plan.counts
    store.apply_edits(
        layer_id,
        inserts=inserts,
        updates=plan.updates,
        user=user,
        reason=f"import: {source}",
        title=title or "Thửa đất giải phóng mặt bằng",
        source=source,
        licence=licence,
        meta={"kind": "parcels", "demo": False},
        role=role,
    )
    return plan.counts
