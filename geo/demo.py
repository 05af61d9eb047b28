"""A clearly labelled demo set of clearance parcels, generated on a real old-ward boundary."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from geo import clearance
from geo.config import WardProfile
from geo.crs import from_wgs84
from geo.errors import GISInputError, NotFoundError
from geo.names import name_key
from geo.store import FeatureUpdate, Store

DEMO_USER = "demo"
DEMO_TITLE = "Thửa đất GPMB — DỮ LIỆU MẪU (không phải hồ sơ thật)"
DEMO_SOURCE = (
    "DỮ LIỆU MẪU do ứng dụng sinh ngẫu nhiên trên ranh giới phường cũ (GADM 4.1); "
    "không phải hồ sơ thật / generated demo data, not real records"
)
DEMO_LICENCE = "Dữ liệu mẫu, tự do sử dụng / demo data, free to use"
DEMO_REASON = "Dữ liệu mẫu (demo)"
PEOPLE = tuple(f"Cán bộ mẫu {c}" for c in "ABCDEFGH")
UNITS = (
    "Ban Bồi thường GPMB (mẫu)", "Tổ công tác số 1 (mẫu)", "Tổ công tác số 2 (mẫu)",
    "UBND phường (mẫu)",
)  # fmt: skip
AUTHORITIES = ("UBND phường (mẫu)", "UBND Thành phố (mẫu)")
LAND_TYPES = (("ODT", 0.7, 60e6), ("CLN", 0.1, 12e6), ("NTS", 0.08, 9e6), ("TMD", 0.05, 70e6),
              ("SKC", 0.04, 40e6), ("BHK", 0.03, 10e6))  # fmt: skip
# Where the demo parcels stand now (share of parcels); the path to each follows the process.
TARGETS = (
    ("thong_bao", 0.06), ("kiem_dem", 0.09), ("kiem_dem_bb", 0.03), ("pa_du_thao", 0.07),
    ("pa_niem_yet", 0.06), ("pa_phe_duyet", 0.07), ("qd_thu_hoi", 0.10), ("da_chi_tra", 0.12),
    ("cuong_che", 0.03), ("da_ban_giao", 0.37),
)  # fmt: skip
PATHS = {
    "thong_bao": ["thong_bao"],
    "kiem_dem": ["thong_bao", "kiem_dem"],
    "kiem_dem_bb": ["thong_bao", "kiem_dem", "kiem_dem_bb"],
    "pa_du_thao": ["thong_bao", "kiem_dem", "pa_du_thao"],
    "pa_niem_yet": ["thong_bao", "kiem_dem", "pa_du_thao", "pa_niem_yet"],
    "pa_phe_duyet": ["thong_bao", "kiem_dem", "pa_du_thao", "pa_niem_yet", "pa_phe_duyet"],
    "qd_thu_hoi": ["thong_bao", "kiem_dem", "pa_du_thao", "pa_niem_yet", "pa_phe_duyet",
                   "qd_thu_hoi"],
    "da_chi_tra": ["thong_bao", "kiem_dem", "pa_du_thao", "pa_niem_yet", "pa_phe_duyet",
                   "qd_thu_hoi", "da_chi_tra"],
    "cuong_che": ["thong_bao", "kiem_dem_bb", "pa_du_thao", "pa_niem_yet", "pa_phe_duyet",
                  "qd_thu_hoi", "cuong_che"],
    "da_ban_giao": ["thong_bao", "kiem_dem", "pa_du_thao", "pa_niem_yet", "pa_phe_duyet",
                    "qd_thu_hoi", "da_chi_tra", "da_ban_giao"],
}  # fmt: skip
TASKS = (
    "Vận động hộ dân bàn giao mặt bằng", "Hoàn thiện hồ sơ pháp lý thửa đất",
    "Đo đạc, cắm mốc lại ranh thửa", "Xác minh nguồn gốc sử dụng đất",
    "Lập phương án tái định cư", "Trả lời đơn khiếu nại",
)  # fmt: skip


@dataclass(frozen=True)
class DemoSet:
    """The generated parcels (EPSG:4326) and the stage path each one took, with dates."""

    parcels: gpd.GeoDataFrame
    paths: list[list[tuple[str, date]]]


def focus_polygon(old_wards: gpd.GeoDataFrame, name: str) -> BaseGeometry:
    """The boundary of the old ward ``name`` (EPSG:4326) from the old-ward layer."""
    if old_wards.crs is None:
        raise GISInputError("old_wards: the layer has no CRS")
    keys = old_wards["name"].map(lambda n: name_key(str(n)))
    match = old_wards[keys == name_key(name)]
    if match.empty:
        raise NotFoundError(f"name: no old ward {name!r} in the old-ward layer")
    return match.to_crs(4326).geometry.union_all()


def make_demo(
    area: BaseGeometry,
    measure_crs: str,
    *,
    n: int = 300,
    seed: int = 2025,
    today: date | None = None,
) -> DemoSet:
    """Generate ``n`` demo parcels in blocks inside ``area`` (EPSG:4326), with stage paths.

    Parcels are cut from street blocks of 120 × 80 m (streets 16 m wide) turned 23° like the
    Thủ Thiêm grid, 8–30 m wide, inside the area shrunk by 25 m. Dates run from about ten
    months before ``today`` to today; some deadlines are past.
    """
    if not isinstance(n, int) or not 1 <= n <= 5000:
        raise GISInputError(f"n: expected 1 to 5000 parcels, got {n!r}")
    if area is None or area.is_empty:
        raise GISInputError("area: expected a polygon, got an empty geometry")
    today = today or clearance.local_today()
    rng = np.random.default_rng(seed)
    area_m = from_wgs84(gpd.GeoSeries([area], crs=4326), measure_crs).iloc[0].buffer(-25)
    polygons = _parcels_in(area_m, n, rng)
    if len(polygons) < n:
        msg = f"area: room for only {len(polygons)} demo parcels, asked for {n}"
        raise GISInputError(msg)
    metric = gpd.GeoSeries(polygons[:n], crs=measure_crs)
    geoms = metric.to_crs(4326)
    records, paths = _records(metric.area.to_numpy(), rng, today)
    parcels = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=geoms.values, crs=4326)
    return DemoSet(parcels=parcels, paths=paths)


def _parcels_in(area_m: BaseGeometry, n: int, rng: np.random.Generator) -> list[Polygon]:
    """Parcels cut from whole blocks inside the area, blocks nearest a few centres first."""
    angle = 23.0
    centre = area_m.centroid
    inside = affinity.rotate(area_m, -angle, origin=centre)
    minx, miny, maxx, maxy = inside.bounds
    block_w, block_h, street = 120.0, 80.0, 16.0
    blocks = []
    y = miny
    while y + block_h < maxy:
        x = minx
        while x + block_w < maxx:
            block = box(x, y, x + block_w, y + block_h)
            if inside.contains(block):
                blocks.append(block)
            x += block_w + street
        y += block_h + street
    if not blocks:
        return []
    points = shapely.points(
        [rng.uniform(minx, maxx) for _ in range(4)], [rng.uniform(miny, maxy) for _ in range(4)]
    )
    centres = [b.centroid for b in blocks]
    order = np.argsort([min(c.distance(p) for p in points) for c in centres])
    parcels: list[Polygon] = []
    for i in order:
        parcels.extend(_cut_block(blocks[i], rng))
        if len(parcels) >= n:
            break
    return [affinity.rotate(p, angle, origin=centre) for p in parcels]


def _cut_block(block: Polygon, rng: np.random.Generator) -> list[Polygon]:
    """Two rows of parcels back to back, each 8-30 m wide; some fronts have a bend."""
    minx, miny, maxx, maxy = block.bounds
    mid = (miny + maxy) / 2 + rng.uniform(-6, 6)
    out = []
    for y0, y1 in ((miny, mid), (mid, maxy)):
        x = minx
        while maxx - x > 8:
            width = min(rng.uniform(8, 30), maxx - x)
            if maxx - (x + width) < 8:
                width = maxx - x
            x1 = x + width
            if rng.random() < 0.3:  # a bent back line, as old parcels have
                bend = rng.uniform(-3, 3)
                midy = (y0 + y1) / 2
                out.append(Polygon([(x, y0), (x1, y0), (x1, midy + bend), (x1, y1), (x, y1),
                                    (x, midy - bend)]))  # fmt: skip
            else:
                out.append(box(x, y0, x1, y1))
            x = x1
    return out


def _records(
    areas: np.ndarray, rng: np.random.Generator, today: date
) -> tuple[list[dict[str, Any]], list[list[tuple[str, date]]]]:
    codes = [code for code, _ in TARGETS]
    weights = np.array([w for _, w in TARGETS])
    finals = rng.choice(codes, size=len(areas), p=weights / weights.sum())
    land_types = [t for t, _, _ in LAND_TYPES]
    land_weights = np.array([w for _, w, _ in LAND_TYPES])
    price = {t: p for t, _, p in LAND_TYPES}
    records, paths = [], []
    for i, (measured, final) in enumerate(zip(areas, finals, strict=True)):
        start = today - timedelta(days=int(rng.integers(200, 320)))
        path: list[tuple[str, date]] = []
        when = start
        for step, code in enumerate(PATHS[str(final)]):
            if step:
                when = min(when + timedelta(days=int(rng.integers(7, 35))), today)
            path.append((code, when))
        paths.append(path)
        land = str(rng.choice(land_types, p=land_weights / land_weights.sum()))
        total = round(float(measured) * float(rng.normal(1.0, 0.03)), 1)
        recovered = total if rng.random() < 0.85 else round(total * rng.uniform(0.4, 0.9), 1)
        comp_land = round(recovered * price[land] * rng.uniform(0.8, 1.2), -5)
        household = rng.random() < 0.85
        person = str(rng.choice(PEOPLE))
        stage, since = path[-1]
        paid = stage in ("da_chi_tra", "da_ban_giao") or (
            stage == "cuong_che" and rng.random() < 0.5
        )
        rank = clearance.STAGE_BY_CODE[stage].rank
        deadline = max(since, today - timedelta(days=40)) + timedelta(days=int(rng.integers(0, 90)))
        record: dict[str, Any] = {
            "map_sheet": str(40 + i // 60),
            "parcel_no": str(1 + i % 60 + 100 * (i // 600)),
            "holder": f"Hộ gia đình mẫu {i + 1:03d}" if household else f"Tổ chức mẫu {i + 1:03d}",
            "holder_kind": "ho_gia_dinh" if household else "to_chuc",
            "address": f"Thửa mẫu số {i + 1}, khu phố {1 + i % 6} (dữ liệu mẫu)",
            "land_type": land,
            "area_total_m2": total,
            "area_recovered_m2": recovered,
            "stage": stage,
            "stage_date": since.isoformat(),
            "notice_date": path[0][1].isoformat(),
            "decision_no": f"{100 + i}/QĐ-UBND (mẫu)" if rank >= 6 else None,
            "decision_date": _date_of(path, "qd_thu_hoi"),
            "comp_land": comp_land if rank >= 5 else None,
            "comp_assets": round(comp_land * rng.uniform(0.05, 0.25), -5) if rank >= 5 else None,
            "comp_support": round(comp_land * rng.uniform(0.03, 0.1), -5) if rank >= 5 else None,
            "paid_amount": None,
            "paid_date": None,
            "resettlement": bool(household and land == "ODT" and rng.random() < 0.4),
            "responsible": person,
            "task": _task_for(stage),
            "unit": str(rng.choice(UNITS)),
            "deadline": None if stage == "da_ban_giao" else deadline.isoformat(),
            "result": "Đã bàn giao mặt bằng" if stage == "da_ban_giao" else None,
            "authority": str(rng.choice(AUTHORITIES)),
            "complaint_filed": None,
            "complaint_resolved": None,
            "complaint_note": None,
            "tasks": [],
            "note": "DỮ LIỆU MẪU — không phải hồ sơ thật",
            "demo": True,
        }
        if paid:
            record["paid_amount"] = (
                (record["comp_land"] or 0)
                + (record["comp_assets"] or 0)
                + (record["comp_support"] or 0)
            )
            record["paid_date"] = _date_of(path, "da_chi_tra") or since.isoformat()
        if rng.random() < 0.07:
            filed = path[0][1] + timedelta(days=int(rng.integers(5, 60)))
            record["complaint_filed"] = min(filed, today).isoformat()
            record["complaint_note"] = "Khiếu nại về giá bồi thường (mẫu)"
            if rng.random() < 0.5:
                record["complaint_resolved"] = min(filed + timedelta(days=40), today).isoformat()
        record["tasks"] = _tasks(rng, since, today, person, stage)
        records.append(record)
    return records, paths


def _date_of(path: list[tuple[str, date]], code: str) -> str | None:
    return next((d.isoformat() for c, d in path if c == code), None)


def _task_for(stage: str) -> str:
    return {
        "thong_bao": "Gửi thông báo thu hồi đất, lập kế hoạch kiểm đếm",
        "kiem_dem": "Kiểm đếm đất và tài sản trên đất",
        "kiem_dem_bb": "Tổ chức kiểm đếm bắt buộc",
        "pa_du_thao": "Lập dự thảo phương án bồi thường",
        "pa_niem_yet": "Niêm yết công khai, lấy ý kiến phương án",
        "pa_phe_duyet": "Trình quyết định thu hồi đất",
        "qd_thu_hoi": "Chi trả tiền bồi thường, hỗ trợ",
        "da_chi_tra": "Vận động bàn giao mặt bằng",
        "cuong_che": "Tổ chức cưỡng chế thu hồi đất",
        "da_ban_giao": "Hoàn tất hồ sơ bàn giao",
    }[stage]


def _tasks(
    rng: np.random.Generator, since: date, today: date, person: str, stage: str
) -> list[dict[str, Any]]:
    tasks = []
    for k in range(int(rng.integers(0, 3))):
        deadline = since + timedelta(days=int(rng.integers(10, 90)))
        done = stage == "da_ban_giao" or (deadline < today and rng.random() < 0.6)
        tasks.append(
            {
                "id": f"demo{k}",
                "task": str(rng.choice(TASKS)),
                "responsible": person if rng.random() < 0.7 else str(rng.choice(PEOPLE)),
                "unit": str(rng.choice(UNITS)),
                "deadline": deadline.isoformat(),
                "result": "Đã xong" if done else None,
                "authority": str(rng.choice(AUTHORITIES)),
                "done": done,
                "done_date": min(deadline, today).isoformat() if done else None,
            }
        )
    return tasks


def install_demo(
    store: Store,
    profile: WardProfile,
    old_wards: gpd.GeoDataFrame,
    new_wards: gpd.GeoDataFrame,
    *,
    n: int = 300,
    seed: int = 2025,
    today: date | None = None,
    progress: Callable[[float, str], None] | None = None,
    role: str = "editor",
    user: str = DEMO_USER,
) -> int:
    """Write the demo set to its own layer, with a history that replays each parcel's stages.

    Refuses if the demo layer exists (remove it first); never touches the real ``parcels``
    layer. Returns the number of parcels written. A viewer may not make it. The generated
    history is under the name ``demo``; the audit log also records ``user``, who made it.
    """
    clearance.check_role(role, "make the demo set of", "demo.manage")
    if store.has_layer(clearance.DEMO_LAYER):
        msg = f"layer {clearance.DEMO_LAYER!r} exists; remove the demo set before making a new one"
        raise GISInputError(msg)
    if not profile.focus:
        raise GISInputError(f"profile: ward {profile.name!r} names no focus old ward for a demo")
    report = progress or (lambda share, text: None)
    report(0.05, "boundary")
    demo = make_demo(
        focus_polygon(old_wards, profile.focus), profile.measure_crs, n=n, seed=seed, today=today
    )
    report(0.2, "measure")
    parcels = clearance.measure_and_join(demo.parcels, profile.measure_crs, old_wards, new_wards)
    first = [path[0] for path in demo.paths]
    initial = parcels.copy()
    initial["stage"] = [code for code, _ in first]
    initial["stage_date"] = [d.isoformat() for _, d in first]
    initial["created_at"] = [d.isoformat() for _, d in first]
    final = parcels.drop(columns="geometry").to_dict("records")
    # the record as it stood when the notice went out: later fields come with later stages
    late = ("decision_no", "decision_date", "comp_land", "comp_assets", "comp_support",
            "paid_amount", "paid_date", "result", "complaint_filed", "complaint_resolved",
            "complaint_note")  # fmt: skip
    for column in late:
        initial[column] = None
    initial["tasks"] = [[] for _ in range(len(initial))]
    fids: list[int] = [0] * len(initial)
    by_day: dict[date, list[int]] = {}
    for position, (_, day) in enumerate(first):
        by_day.setdefault(day, []).append(position)
    meta = {"demo": True, "kind": "parcels", "seed": seed}
    for day in sorted(by_day):  # each parcel enters the record on its notice date
        rows = by_day[day]
        inserted = store.apply_edits(
            clearance.DEMO_LAYER, inserts=initial.iloc[rows], user=DEMO_USER, reason=DEMO_REASON,
            effective_at=day.isoformat(), title=DEMO_TITLE, source=DEMO_SOURCE,
            licence=DEMO_LICENCE, meta=meta, role=role,
        ).inserted  # fmt: skip
        for position, fid in zip(rows, inserted, strict=True):
            fids[position] = fid
    steps = max(len(path) for path in demo.paths)
    versions = dict.fromkeys(fids, 1)
    for step in range(1, steps + 1):
        report(0.3 + 0.7 * step / steps, "history")
        updates = []
        for fid, path, record in zip(fids, demo.paths, final, strict=True):
            if step < len(path):
                code, when = path[step]
                props = _props_at(record, code, when)
            elif step == len(path):
                props = {k: record[k] for k in (*late, "tasks", "deadline", "task")}
                when = path[-1][1]
                props = {k: v for k, v in props.items() if not _empty(v)}
                if not props:
                    continue
            else:
                continue
            updates.append(
                FeatureUpdate(
                    fid, versions[fid], props, reason=DEMO_REASON, effective_at=when.isoformat()
                )
            )
            versions[fid] += 1
        if updates:
            store.apply_edits(clearance.DEMO_LAYER, updates=updates, user=DEMO_USER, role=role)
    store.record_event(
        "demo.install", actor=user, actor_role=role, layer_id=clearance.DEMO_LAYER,
        detail={"parcels": len(fids), "seed": seed},
    )  # fmt: skip
    report(1.0, "done")
    return len(fids)


def _empty(value: Any) -> bool:
    if isinstance(value, list):
        return not value
    return value is None or (isinstance(value, float) and math.isnan(value))


def _props_at(record: dict[str, Any], code: str, when: date) -> dict[str, Any]:
    """What changes when a demo parcel enters stage ``code``."""
    props: dict[str, Any] = {"stage": code, "stage_date": when.isoformat()}
    if code == "qd_thu_hoi":
        props["decision_no"] = record["decision_no"]
        props["decision_date"] = record["decision_date"] or when.isoformat()
    if code == "pa_phe_duyet":
        props.update({k: record[k] for k in ("comp_land", "comp_assets", "comp_support")})
    if code in ("da_chi_tra", "da_ban_giao") and record.get("paid_amount"):
        props["paid_amount"] = record["paid_amount"]
        props["paid_date"] = record["paid_date"]
    return {k: v for k, v in props.items() if not (isinstance(v, float) and math.isnan(v))}


def remove_demo(store: Store, *, user: str, role: str = "editor") -> int:
    """Remove the demo layer in one action; return how many parcels it held (0 if none)."""
    clearance.check_role(role, "remove the demo set of", "demo.manage")
    if not store.has_layer(clearance.DEMO_LAYER):
        return 0
    count = store.layer_info(clearance.DEMO_LAYER).feature_count
    store.delete_layer(clearance.DEMO_LAYER, user=user, role=role)
    return count
