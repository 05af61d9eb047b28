"""Site clearance (``geo.clearance``, ``geo.demo``) on both store backends and real boundaries.

The parcel record and its values, the Land Law 2024 stage rules as ``edit_parcel`` applies
them, two planners saving the same parcel, the labelled demo set generated on the real old
ward Thủ Thiêm, documents attached to a parcel, and the dashboard figures on a hand-made set
of four parcels whose numbers are worked out by hand below.

Every bug these tests found is fixed; the tests stay.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from geo import clearance, demo, tables, wards
from geo.clearance import (
    DEMO_LAYER,
    PARCELS_LAYER,
    STAGE_BY_CODE,
    TRANSITIONS,
    edit_parcel,
)
from geo.config import WardProfile, load_settings
from geo.crs import from_wgs84
from geo.errors import (
    ConflictError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    RuleError,
    UploadError,
)
from geo.store import Store, open_store

TODAY = date(2025, 6, 1)
# The south-west corner of a 220 m square well inside the old ward Thủ Thiêm (≥ 89 m from its
# edge), in the new ward An Khánh; parcels are laid out on a 22 m grid from there.
LON0, LAT0, CELL = 106.7145, 10.7705, 0.0002
PAYMENT = {"paid_amount": 1_250_000_000, "paid_date": "2025-05-02"}
DECISION = {"decision_no": "1234/QĐ-UBND", "decision_date": "2025-04-01"}
LONG_REASON = "Biên bản họp Hội đồng bồi thường số 12/BB ngày 20/5/2025"
ALLOWED = [(a, b) for a, nexts in TRANSITIONS.items() for b in nexts]
REFUSED = [
    (a, b) for a in STAGE_BY_CODE for b in STAGE_BY_CODE if b != a and b not in TRANSITIONS[a]
]


# --- helpers -------------------------------------------------------------------------------


def square(i: int) -> Polygon:
    """The ``i``-th parcel of a 10 × 10 grid of 20 m squares inside Thủ Thiêm."""
    col, row = i % 10, (i // 10) % 10
    x, y = LON0 + col * CELL, LAT0 + row * CELL
    pad = CELL / 10
    return box(x + pad, y + pad, x + CELL - pad, y + CELL - pad)


def parcel(number: int, **fields: Any) -> dict[str, Any]:
    """A complete, normalised parcel record on map sheet 7."""
    base: dict[str, Any] = {
        "map_sheet": "7",
        "parcel_no": str(number),
        "holder": f"Hộ ông Nguyễn Văn {number}",
        "area_total_m2": 400,
        "stage": "thong_bao",
        "stage_date": "2025-01-02",
        "responsible": "Cán bộ An",
    }
    base.update(fields)
    return clearance.normalize_record(base)


def insert_parcels(
    store: Store,
    records: list[dict[str, Any]],
    layer_id: str = PARCELS_LAYER,
    effective_at: str | None = None,
) -> list[int]:
    """Write records as new parcels (one transaction); return their fids."""
    start = len(store.read_layer(layer_id)) if store.has_layer(layer_id) else 0
    geoms = [square(start + i) for i in range(len(records))]
    gdf = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=geoms, crs=4326)
    return store.apply_edits(
        layer_id, inserts=gdf, user="seed", reason="seed", title="Thửa đất (kiểm thử)",
        source="tests", meta={"kind": "parcels", "demo": False}, effective_at=effective_at,
    ).inserted  # fmt: skip


def updates_of(store: Store, fid: int) -> pd.DataFrame:
    history = store.history(PARCELS_LAYER, fid)
    return history[history["action"] == "update"].reset_index(drop=True)


def backend_params() -> list[Any]:
    return [
        pytest.param("gpkg", id="gpkg"),
        pytest.param("postgis", id="postgis", marks=pytest.mark.postgis),
    ]


@pytest.fixture(scope="module", params=backend_params())
def new_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Store]]:
    """A factory of fresh stores on one backend, kept for the module (closed and dropped)."""
    opened: list[Store] = []
    databases: list[str] = []
    server = request.getfixturevalue("pg_server") if request.param == "postgis" else None

    def make() -> Store:
        if server is None:
            url = str(tmp_path_factory.mktemp("clearance") / "store.gpkg")
        else:
            url = server.create_database()
            databases.append(url)
        store = open_store(url)
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            store.close()
        for url in databases:
            assert server is not None
            server.drop_database(url)


@pytest.fixture(scope="module")
def bench(new_store: Callable[[], Store]) -> Store:
    """One store per backend for the rule tests; each test adds parcels of its own."""
    return new_store()


@pytest.fixture(scope="module")
def profile() -> WardProfile:
    return load_settings({"GIS_WARD": "an-khanh"}).profile


# --- the record ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sheet", "number", "key"),
    [("012", " 007 ", "12/7"), (12.0, 7, "12/7"), ("12", "7a", "12/7A"), (" 5 ", "0", "5/0")],
)
def test_parcel_key_normalises_numbers(sheet: Any, number: Any, key: str) -> None:
    assert clearance.parcel_key(sheet, number) == key


@pytest.mark.parametrize(
    ("name", "raw", "stored"),
    [
        ("paid_amount", "1.234.567", 1234567),
        ("paid_amount", "1,234,567", 1234567),
        ("area_total_m2", "120,5", 120.5),
        ("area_total_m2", "1.234,25", 1234.25),
        ("area_total_m2", 99.999, 100.0),
        ("paid_date", "01/07/2025", "2025-07-01"),
        ("paid_date", date(2025, 7, 1), "2025-07-01"),
        ("resettlement", "có", True),
        ("resettlement", "Không", False),
        ("stage", "Đã bàn giao mặt bằng", "da_ban_giao"),
        ("stage", "kiem dem bat buoc", "kiem_dem_bb"),
        ("stage", "Recovery decision", "qd_thu_hoi"),
        ("holder", "  Trần Thị Bích  ", "Trần Thị Bích"),
        ("holder", "   ", None),
        ("note", float("nan"), None),
    ],
)
def test_normalize_value(name: str, raw: Any, stored: Any) -> None:
    assert clearance.normalize_value(name, raw) == stored


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("paid_amount", "abc", "paid_amount: expected a number"),
        ("paid_amount", -5, "expected a number ≥ 0"),
        ("area_total_m2", True, "expected a number"),
        ("paid_date", "31/02/2025", "expected a date"),
        ("stage", "flying", "expected a stage"),
        ("resettlement", "maybe", "expected yes/no"),
        ("map_sheet", "", "map_sheet: required"),
        ("holder", "x" * 2001, "at most 2000 characters"),
        ("holder", "a\x00b", "NUL"),
        ("colour", "red", "not a field"),
    ],
)
def test_normalize_value_refuses(name: str, raw: Any, message: str) -> None:
    with pytest.raises(GISInputError, match=message):
        clearance.normalize_value(name, raw)


def test_normalize_record_fills_every_field_and_checks_areas() -> None:
    record = clearance.normalize_record({"map_sheet": "07", "parcel_no": "012"})
    assert list(record) == clearance.COLUMNS
    assert (record["map_sheet"], record["parcel_no"], record["tasks"]) == ("7", "12", [])
    assert record["holder"] is None
    with pytest.raises(GISInputError, match="area_recovered_m2: expected at most"):
        clearance.normalize_record(
            {"map_sheet": 1, "parcel_no": 2, "area_total_m2": 100, "area_recovered_m2": 150}
        )
    with pytest.raises(GISInputError, match=r"unknown fields \['owner'\]"):
        clearance.normalize_record({"map_sheet": 1, "parcel_no": 2, "owner": "x"})
    assert clearance.normalize_record({"holder": "B"}, partial=True) == {"holder": "B"}


def test_tasks_get_ids_and_the_six_clears() -> None:
    tasks = clearance.normalize_tasks(
        [{"task": "Vận động bàn giao", "deadline": "15/06/2025", "done": "x"}]
    )
    assert tasks[0]["deadline"] == "2025-06-15"
    assert tasks[0]["done"] is True
    assert len(tasks[0]["id"]) == 8
    with pytest.raises(GISInputError, match=r"tasks\[0\]\.task"):
        clearance.normalize_tasks([{"responsible": "An"}])
    with pytest.raises(GISInputError, match="unknown keys"):
        clearance.normalize_tasks([{"task": "a", "owner": "b"}])


# --- stage rules (pure) ----------------------------------------------------------------------


def full_record(stage: str) -> dict[str, Any]:
    """A record at ``stage`` that has everything a move may need (payment, decision)."""
    return parcel(1, stage=stage, **PAYMENT, **DECISION)


@pytest.mark.parametrize(("before", "after"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_skipping_a_step_is_refused_naming_the_allowed_steps(before: str, after: str) -> None:
    allowed = ", ".join(TRANSITIONS[before]) or "none"
    for role in ("editor", "approver", "admin"):
        with pytest.raises(RuleError) as caught:
            clearance.check_change(full_record(before), {"stage": after}, role=role)
        assert f"{before} → {after} is not a step" in str(caught.value)
        assert f"from {before} the next steps are: {allowed}" in str(caught.value)
    assert clearance.check_change(
        full_record(before), {"stage": after}, role="approver", override_reason=LONG_REASON
    )


@pytest.mark.parametrize(("before", "after"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_moves_are_no_override(before: str, after: str) -> None:
    assert clearance.rule_problems(full_record(before), after) == []
    assert not clearance.check_change(full_record(before), {"stage": after}, role="editor")
    # an override reason given for a move that breaks nothing does not make it an override
    assert not clearance.check_change(
        full_record(before), {"stage": after}, role="approver", override_reason=LONG_REASON
    )


def test_every_stage_is_reachable_and_handing_over_is_final() -> None:
    seen, todo = {"thong_bao"}, ["thong_bao"]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(STAGE_BY_CODE)
    assert TRANSITIONS["da_ban_giao"] == ()
    assert set(TRANSITIONS) == set(STAGE_BY_CODE)


# --- stage rules through the store -----------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_move_works_for_an_editor(bench: Store, before: str, after: str) -> None:
    (fid,) = insert_parcels(bench, [full_record(before)])
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"stage": after}, expected_version=1, user="planner",
        role="editor", reason="đúng quy trình", today=TODAY,
    )  # fmt: skip
    assert (feature.props["stage"], feature.version) == (after, 2)
    assert feature.props["stage_date"] == TODAY.isoformat()
    assert feature.props["paid_amount"] == PAYMENT["paid_amount"]  # the rest is kept
    (row,) = updates_of(bench, fid).to_dict("records")
    assert row["after"] == {"stage": after, "stage_date": "2025-06-01"}
    assert row["before"] == {"stage": before, "stage_date": "2025-01-02"}
    assert (row["changed_by"], row["reason"], row["version"]) == ("planner", "đúng quy trình", 2)


def test_a_skipped_step_leaves_the_record_untouched(bench: Store) -> None:
    (fid,) = insert_parcels(bench, [full_record("kiem_dem")])
    with pytest.raises(RuleError, match="the next steps are: pa_du_thao, kiem_dem_bb, thong_bao"):
        edit_parcel(
            bench, PARCELS_LAYER, fid, {"stage": "qd_thu_hoi"}, expected_version=1,
            user="planner", role="editor", today=TODAY,
        )  # fmt: skip
    feature = bench.get_feature(PARCELS_LAYER, fid)
    assert (feature.version, feature.props["stage"]) == (1, "kiem_dem")
    assert updates_of(bench, fid).empty


def test_a_move_keeps_a_stage_date_given_with_it(bench: Store) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage="thong_bao")])
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"stage": "kiem_dem", "stage_date": "20/05/2025"},
        expected_version=1, user="planner", role="editor", today=TODAY,
    )  # fmt: skip
    assert feature.props["stage_date"] == "2025-05-20"
    # an edit that keeps the stage leaves the stage date alone
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"note": "hẹn lại"}, expected_version=2, user="planner",
        role="editor", today=TODAY,
    )  # fmt: skip
    assert feature.props["stage_date"] == "2025-05-20"


@pytest.mark.parametrize(
    ("before", "after"), [("cuong_che", "da_ban_giao"), ("qd_thu_hoi", "da_chi_tra")]
)
def test_a_move_needing_payment_is_refused_without_one(
    bench: Store, before: str, after: str
) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage=before, **DECISION)])

    def move(role: str, override: str | None) -> Any:
        return edit_parcel(
            bench, PARCELS_LAYER, fid, {"stage": after}, expected_version=1, user=role,
            role=role, override_reason=override, today=TODAY,
        )  # fmt: skip

    with pytest.raises(RuleError, match=f"{after} needs a payment record") as caught:
        move("editor", None)
    assert "An approver may override" in str(caught.value)
    with pytest.raises(PermissionDeniedError, match="only an approver or admin may override"):
        move("editor", LONG_REASON)
    with pytest.raises(RuleError, match="needs a payment record"):
        move("approver", None)
    for short in ("", "  too short  ", "123456789"):
        with pytest.raises(RuleError, match="at least 10 characters"):
            move("approver", short)
    assert bench.get_feature(PARCELS_LAYER, fid).version == 1
    assert updates_of(bench, fid).empty


@pytest.mark.parametrize("role", ["approver", "admin"])
def test_an_approver_or_admin_overrides_with_a_written_reason(bench: Store, role: str) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage="cuong_che")])
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"stage": "da_ban_giao"}, expected_version=1, user="chief",
        role=role, reason="bàn giao tại hiện trường", override_reason=f"  {LONG_REASON} ",
        today=TODAY,
    )  # fmt: skip
    assert feature.props["stage"] == "da_ban_giao"
    (row,) = updates_of(bench, fid).to_dict("records")
    assert row["reason"] == f"[override] {LONG_REASON} — bàn giao tại hiện trường"
    assert row["changed_by"] == "chief"


def test_override_accepts_exactly_ten_characters(bench: Store) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage="thong_bao")])
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"stage": "da_ban_giao"}, expected_version=1, user="chief",
        role="admin", override_reason="0123456789", today=TODAY,
    )  # fmt: skip
    assert feature.props["stage"] == "da_ban_giao"
    assert updates_of(bench, fid)["reason"].tolist() == ["[override] 0123456789"]


def test_recovery_decision_needs_its_number_and_date(bench: Store) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage="pa_phe_duyet")])
    with pytest.raises(RuleError, match="qd_thu_hoi needs the decision number and date"):
        edit_parcel(
            bench, PARCELS_LAYER, fid, {"stage": "qd_thu_hoi", "decision_no": "12/QĐ"},
            expected_version=1, user="planner", role="editor", today=TODAY,
        )  # fmt: skip
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"stage": "qd_thu_hoi", **DECISION}, expected_version=1,
        user="planner", role="editor", today=TODAY,
    )  # fmt: skip
    assert feature.props["decision_no"] == DECISION["decision_no"]
    assert feature.props["stage"] == "qd_thu_hoi"


@pytest.mark.parametrize("changes", [{"stage": "kiem_dem"}, {"note": "xem lại"}])
def test_a_viewer_may_not_edit(bench: Store, changes: dict[str, Any]) -> None:
    (fid,) = insert_parcels(bench, [parcel(1)])
    with pytest.raises(PermissionDeniedError, match="a viewer may not edit"):
        edit_parcel(
            bench, PARCELS_LAYER, fid, changes, expected_version=1, user="guest",
            role="viewer", override_reason=LONG_REASON, today=TODAY,
        )  # fmt: skip
    with pytest.raises(GISInputError, match="role: expected one of"):
        edit_parcel(
            bench, PARCELS_LAYER, fid, changes, expected_version=1, user="boss", role="boss",
            today=TODAY,
        )  # fmt: skip
    assert bench.get_feature(PARCELS_LAYER, fid).version == 1


@pytest.mark.parametrize(
    "erase",
    [{"paid_amount": None}, {"paid_date": ""}, {"paid_amount": 0}],
    ids=["amount", "date", "zero"],
)
@pytest.mark.parametrize("stage", ["da_chi_tra", "da_ban_giao"])
def test_erasing_the_payment_of_a_paid_parcel_is_refused(
    bench: Store, stage: str, erase: dict[str, Any]
) -> None:
    (fid,) = insert_parcels(bench, [parcel(1, stage=stage, **PAYMENT, **DECISION)])
    with pytest.raises(RuleError, match=f"{stage} needs a payment record"):
        edit_parcel(
            bench, PARCELS_LAYER, fid, erase, expected_version=1, user="planner",
            role="editor", today=TODAY,
        )  # fmt: skip
    feature = bench.get_feature(PARCELS_LAYER, fid)
    assert feature.version == 1
    assert feature.props["paid_amount"] == PAYMENT["paid_amount"]
    # an unrelated edit of the same parcel is fine
    edited = edit_parcel(
        bench, PARCELS_LAYER, fid, {"holder": "Bà Lê Thị Hồng"}, expected_version=1,
        user="planner", role="editor", today=TODAY,
    )  # fmt: skip
    assert edited.props["holder"] == "Bà Lê Thị Hồng"


def test_a_record_that_already_lacked_a_payment_stays_editable(bench: Store) -> None:
    # imported as handed over without a payment record
    (fid,) = insert_parcels(bench, [parcel(1, stage="da_ban_giao")])
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, {"note": "hồ sơ chi trả đang bổ sung", "holder": "Ông Tư"},
        expected_version=1, user="planner", role="editor", today=TODAY,
    )  # fmt: skip
    assert (feature.version, feature.props["note"]) == (2, "hồ sơ chi trả đang bổ sung")
    # adding the payment later is an ordinary edit too
    feature = edit_parcel(
        bench, PARCELS_LAYER, fid, PAYMENT, expected_version=2, user="planner", role="editor",
        today=TODAY,
    )  # fmt: skip
    assert feature.props["paid_date"] == PAYMENT["paid_date"]


def test_edit_refuses_computed_fields_unknown_fields_and_no_change(bench: Store) -> None:
    (fid,) = insert_parcels(bench, [parcel(1)])
    kwargs: dict[str, Any] = {"expected_version": 1, "user": "p", "role": "editor"}
    with pytest.raises(GISInputError, match="set by the app, not typed"):
        edit_parcel(bench, PARCELS_LAYER, fid, {"area_measured_m2": 10}, **kwargs)
    with pytest.raises(GISInputError, match="unknown fields"):
        edit_parcel(bench, PARCELS_LAYER, fid, {"owner": "x"}, **kwargs)
    with pytest.raises(GISInputError, match="nothing differs"):
        edit_parcel(bench, PARCELS_LAYER, fid, {"holder": "Hộ ông Nguyễn Văn 1"}, **kwargs)
    with pytest.raises(GISInputError, match="paid_amount: expected a number"):
        edit_parcel(bench, PARCELS_LAYER, fid, {"paid_amount": "nhiều"}, **kwargs)
    with pytest.raises(GISInputError, match="layer_id: expected one of"):
        edit_parcel(bench, wards.NEW_LAYER, fid, {"holder": "x"}, **kwargs)
    with pytest.raises(NotFoundError):
        edit_parcel(bench, PARCELS_LAYER, 999_999, {"holder": "x"}, **kwargs)
    assert bench.get_feature(PARCELS_LAYER, fid).version == 1


# --- two planners ----------------------------------------------------------------------------


def test_the_second_planner_gets_a_conflict_and_nothing_is_lost(store: Store) -> None:
    (fid,) = insert_parcels(store, [parcel(1, stage="thong_bao")])
    version = store.get_feature(PARCELS_LAYER, fid).version  # both planners read it
    edit_parcel(
        store, PARCELS_LAYER, fid, {"stage": "kiem_dem", "note": "A đã kiểm đếm"},
        expected_version=version, user="planner_a", role="editor", reason="A", today=TODAY,
    )  # fmt: skip
    with pytest.raises(ConflictError, match="planner_a changed it in between") as caught:
        edit_parcel(
            store, PARCELS_LAYER, fid, {"holder": "Hộ bà Trần Thị B"},
            expected_version=version, user="planner_b", role="editor", today=TODAY,
        )  # fmt: skip
    conflict = caught.value
    assert conflict.current_version == version + 1
    assert [(c["version"], c["changed_by"]) for c in conflict.changes] == [(2, "planner_a")]
    assert conflict.changes[0]["after"] == {
        "stage": "kiem_dem", "note": "A đã kiểm đếm", "stage_date": "2025-06-01",
    }  # fmt: skip
    current = store.get_feature(PARCELS_LAYER, fid)
    assert (current.props["stage"], current.props["holder"]) == ("kiem_dem", "Hộ ông Nguyễn Văn 1")
    history = store.history(PARCELS_LAYER, fid)
    assert history["changed_by"].tolist() == ["seed", "planner_a"]
    # B reloads, sees A's change, and saves on top of it
    edit_parcel(
        store, PARCELS_LAYER, fid, {"holder": "Hộ bà Trần Thị B"},
        expected_version=current.version, user="planner_b", role="editor", today=TODAY,
    )  # fmt: skip
    final = store.get_feature(PARCELS_LAYER, fid)
    assert final.version == 3
    assert (final.props["stage"], final.props["note"], final.props["holder"]) == (
        "kiem_dem", "A đã kiểm đếm", "Hộ bà Trần Thị B",
    )  # fmt: skip
    history = store.history(PARCELS_LAYER, fid)
    assert history["changed_by"].tolist() == ["seed", "planner_a", "planner_b"]
    assert history["version"].tolist() == [1, 2, 3]


def test_a_stale_version_is_a_conflict_even_when_the_rules_would_refuse(store: Store) -> None:
    (fid,) = insert_parcels(store, [parcel(1, stage="thong_bao")])
    edit_parcel(
        store, PARCELS_LAYER, fid, {"note": "A"}, expected_version=1, user="planner_a",
        role="editor", today=TODAY,
    )  # fmt: skip
    with pytest.raises(ConflictError):
        edit_parcel(
            store, PARCELS_LAYER, fid, {"stage": "da_ban_giao"}, expected_version=1,
            user="planner_b", role="editor", today=TODAY,
        )  # fmt: skip
    assert store.get_feature(PARCELS_LAYER, fid).props["stage"] == "thong_bao"


def test_two_planners_saving_at_once_exactly_one_wins(store: Store) -> None:
    (fid,) = insert_parcels(store, [parcel(1, stage="thong_bao")])
    planners = [open_store(store.url) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]
    moves = ["kiem_dem", "kiem_dem_bb"]

    def save(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = edit_parcel(
                planners[i], PARCELS_LAYER, fid, {"stage": moves[i]}, expected_version=1,
                user=f"planner_{i}", role="editor", today=TODAY,
            )  # fmt: skip
        except BaseException as e:  # asserted on below
            results[i] = e

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        for planner in planners:
            planner.close()
    winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert isinstance(losers[0], ConflictError), repr(losers[0])
    final = store.get_feature(PARCELS_LAYER, fid)
    assert (final.version, final.props["stage"]) == (2, moves[winners[0]])
    assert store.history(PARCELS_LAYER, fid)["changed_by"].tolist() == [
        "seed", f"planner_{winners[0]}",
    ]  # fmt: skip


# --- the demo set ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoWorld:
    store: Store
    parcels: gpd.GeoDataFrame
    history: pd.DataFrame
    thu_thiem: BaseGeometry
    real_before: gpd.GeoDataFrame
    real_history_before: pd.DataFrame


@pytest.fixture(scope="module")
def demo_world(new_store: Callable[[], Store], profile: WardProfile) -> DemoWorld:
    """A store with the real wards, two real parcels, and the 300-parcel demo set."""
    store = new_store()
    wards.seed_store(store, profile)
    insert_parcels(store, [parcel(1, stage="kiem_dem"), parcel(2, **PAYMENT)])
    real_before = store.read_layer(PARCELS_LAYER)
    real_history_before = store.history(PARCELS_LAYER)
    old, new = store.read_layer(wards.OLD_LAYER), store.read_layer(wards.NEW_LAYER)
    assert demo.install_demo(store, profile, old, new, n=300, seed=2025, today=TODAY) == 300
    thu_thiem = old.loc[old["name"] == "Thủ Thiêm"].to_crs(4326).geometry.union_all()
    return DemoWorld(
        store, store.read_layer(DEMO_LAYER), store.history(DEMO_LAYER), thu_thiem,
        real_before, real_history_before,
    )  # fmt: skip


def test_demo_parcels_lie_in_the_real_thu_thiem(
    demo_world: DemoWorld, profile: WardProfile
) -> None:
    parcels = demo_world.parcels
    assert len(parcels) == 300
    assert demo_world.thu_thiem.area > 0
    assert parcels.geometry.within(demo_world.thu_thiem).all()
    assert parcels.geometry.is_valid.all()
    assert set(parcels["old_ward"]) == {"Thủ Thiêm"}
    assert set(parcels["new_ward"]) == {"An Khánh"}
    # no two parcels overlap (they are cut from blocks)
    metric = from_wgs84(parcels[["geometry"]], profile.measure_crs)
    assert metric.union_all().area == pytest.approx(metric.area.sum(), rel=1e-6)
    measured = parcels["area_measured_m2"].astype(float)
    assert measured.between(100, 3000).all(), measured.describe()
    np.testing.assert_allclose(measured, metric.area, atol=0.06)
    keys = [
        clearance.parcel_key(s, n)
        for s, n in zip(parcels["map_sheet"], parcels["parcel_no"], strict=True)
    ]
    assert len(set(keys)) == 300


def test_demo_is_labelled_everywhere(demo_world: DemoWorld) -> None:
    store, parcels = demo_world.store, demo_world.parcels
    info = store.layer_info(DEMO_LAYER)
    assert "DỮ LIỆU MẪU" in info.title
    assert "DỮ LIỆU MẪU" in info.source
    assert info.meta["demo"] is True
    assert clearance.is_demo(info)
    assert parcels["demo"].map(lambda v: v is True or v == 1).all()
    assert parcels["note"].str.contains("DỮ LIỆU MẪU").all()
    assert set(parcels["holder"].str.contains("mẫu")) == {True}
    assert [i.layer_id for i in clearance.parcel_layers(store)] == [PARCELS_LAYER, DEMO_LAYER]
    assert not clearance.is_demo(store.layer_info(PARCELS_LAYER))


def test_demo_leaves_the_real_parcels_alone(demo_world: DemoWorld) -> None:
    store = demo_world.store
    after = store.read_layer(PARCELS_LAYER)
    pd.testing.assert_frame_equal(
        pd.DataFrame(after.drop(columns="geometry")),
        pd.DataFrame(demo_world.real_before.drop(columns="geometry")),
    )
    assert after.geometry.geom_equals(demo_world.real_before.geometry).all()
    history = store.history(PARCELS_LAYER)
    assert len(history) == len(demo_world.real_history_before) == 2
    assert set(history["changed_by"]) == {"seed"}


def test_demo_history_replays_every_stage_by_the_rules(demo_world: DemoWorld) -> None:
    parcels, history = demo_world.parcels, demo_world.history
    history = history[history["fid"].isin(parcels.index)]
    assert set(history["action"]) == {"insert", "update"}
    assert history["effective_at"].notna().all()
    assert (history["effective_at"].astype(str) <= TODAY.isoformat()).all()
    timeline = clearance.stage_timeline(history)
    final_stages = parcels["stage"]
    moves = 0
    for fid, rows in history.groupby("fid", sort=False):
        rows = rows.sort_values("version")
        assert rows["version"].tolist() == list(range(1, len(rows) + 1))
        assert rows["action"].iloc[0] == "insert"
        state: dict[str, Any] = {}
        for rec in rows.to_dict("records"):
            after = {k: v for k, v in rec["after"].items() if k != "geometry"}
            if rec["action"] == "update" and "stage" in after:
                # every move is one an editor could have made, with what it needs
                assert not clearance.check_change(state, after, role="editor"), (fid, after)
                moves += 1
            state.update(after)
        stages = timeline.loc[timeline["fid"] == fid].sort_values("at", kind="stable")
        codes = stages["stage"].tolist()
        assert codes[0] == "thong_bao"
        assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(codes)), codes
        assert stages["at"].is_monotonic_increasing
        assert codes[-1] == final_stages.loc[fid] == state["stage"]
        assert state["stage_date"] == parcels.loc[fid, "stage_date"]
    assert moves > 300  # most parcels moved more than once
    counts = parcels["stage"].value_counts()
    assert set(counts.index) == set(STAGE_BY_CODE)  # every stage is shown
    assert counts["da_ban_giao"] > 60


def test_demo_progress_rebuilds_todays_stages(demo_world: DemoWorld) -> None:
    parcels, history = demo_world.parcels, demo_world.history
    progress = clearance.progress(parcels, history, end=TODAY)
    assert list(progress.columns) == [s.code for s in clearance.STAGES]
    assert progress.index[-1] == TODAY
    handed = progress["da_ban_giao"].to_numpy()
    assert (np.diff(handed) >= -1e-6).all()
    assert handed[0] == 0
    stages = clearance.by_stage(parcels).set_index("stage")
    np.testing.assert_allclose(
        progress.iloc[-1].to_numpy(), stages["area_m2"].to_numpy(), rtol=1e-9
    )
    # every period holds all the parcels that had entered the record by then
    assert (np.diff(progress.sum(axis=1).to_numpy()) >= -1e-6).all()
    assert progress.sum(axis=1).iloc[-1] == pytest.approx(clearance.area_of(parcels).sum())
    area = stages["area_m2"]
    assert clearance.handed_over_share(parcels) == pytest.approx(area["da_ban_giao"] / area.sum())


def test_a_move_made_now_counts_in_progress_after_backdated_records(store: Store) -> None:
    fids = insert_parcels(
        store, [parcel(1, stage="thong_bao"), parcel(2)], effective_at="2025-01-02"
    )
    edit_parcel(
        store, PARCELS_LAYER, fids[0], {"stage": "kiem_dem"}, expected_version=1,
        user="planner", role="editor",
    )  # fmt: skip
    history = store.history(PARCELS_LAYER)
    timeline = clearance.stage_timeline(history)
    assert timeline["at"].notna().all(), timeline
    stored = store.read_layer(PARCELS_LAYER)
    progress = clearance.progress(stored, history, end=date.today())
    stages = clearance.by_stage(stored).set_index("stage")
    assert (stages.loc["kiem_dem", "area_m2"], progress.iloc[-1]["kiem_dem"]) == (400, 400)


def test_demo_install_twice_is_refused_and_removal_is_one_call(
    store: Store, profile: WardProfile
) -> None:
    wards.seed_store(store, profile)
    insert_parcels(store, [parcel(1), parcel(2, stage="kiem_dem")])
    real = store.read_layer(PARCELS_LAYER)
    old, new = store.read_layer(wards.OLD_LAYER), store.read_layer(wards.NEW_LAYER)
    assert demo.install_demo(store, profile, old, new, n=24, seed=3, today=TODAY) == 24
    with pytest.raises(GISInputError, match="remove the demo set before making a new one"):
        demo.install_demo(store, profile, old, new, n=24, seed=4, today=TODAY)
    assert len(store.read_layer(DEMO_LAYER)) == 24
    assert demo.remove_demo(store, user="admin") == 24
    assert not store.has_layer(DEMO_LAYER)
    assert demo.remove_demo(store, user="admin") == 0
    pd.testing.assert_frame_equal(
        pd.DataFrame(store.read_layer(PARCELS_LAYER).drop(columns="geometry")),
        pd.DataFrame(real.drop(columns="geometry")),
    )
    assert len(store.history(PARCELS_LAYER)) == 2
    # a new demo set can be made once the old one is gone
    assert demo.install_demo(store, profile, old, new, n=10, seed=5, today=TODAY) == 10


def test_make_demo_refuses_bad_requests(demo_world: DemoWorld) -> None:
    with pytest.raises(GISInputError, match="n: expected 1 to 5000"):
        demo.make_demo(demo_world.thu_thiem, "EPSG:9210", n=0)
    with pytest.raises(GISInputError, match="room for only"):
        demo.make_demo(demo_world.thu_thiem.centroid.buffer(0.0008), "EPSG:9210", n=300)
    old = demo_world.store.read_layer(wards.OLD_LAYER)
    with pytest.raises(NotFoundError, match="no old ward"):
        demo.focus_polygon(old, "Atlantis")
    same = demo.make_demo(
        demo.focus_polygon(old, "thu thiem"), "EPSG:9210", n=5, seed=1, today=TODAY
    )
    again = demo.make_demo(demo_world.thu_thiem, "EPSG:9210", n=5, seed=1, today=TODAY)
    assert same.parcels.geometry.geom_equals_exact(again.parcels.geometry, 1e-12).all()
    assert same.paths == again.paths


# --- attachments ---------------------------------------------------------------------------


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (255, 255, 255)).save(buffer, format="PDF")
    return buffer.getvalue()


def test_documents_attach_to_a_parcel_with_a_history_row(store: Store) -> None:
    (fid,) = insert_parcels(store, [parcel(1)])
    pdf, png = pdf_bytes(), png_bytes()
    assert pdf.startswith(b"%PDF-") and png.startswith(b"\x89PNG")
    first = clearance.attach(
        store, PARCELS_LAYER, fid, pdf, "Biên bản kiểm đếm.pdf", user="planner",
        role="editor", max_bytes=1_000_000,
    )  # fmt: skip
    second = clearance.attach(
        store, PARCELS_LAYER, fid, png, "ảnh hiện trạng.png", user="planner", role="approver",
        max_bytes=1_000_000,
    )  # fmt: skip
    assert (first.mime, second.mime) == ("application/pdf", "image/png")
    assert [a.filename for a in store.list_attachments(PARCELS_LAYER, fid)] == [
        "Biên bản kiểm đếm.pdf", "ảnh hiện trạng.png",
    ]  # fmt: skip
    assert store.read_attachment(first.id)[1] == pdf
    history = store.history(PARCELS_LAYER, fid)
    attached = history[history["action"] == "attach"]
    assert attached["after"].map(lambda a: a["filename"]).tolist() == [
        "Biên bản kiểm đếm.pdf", "ảnh hiện trạng.png",
    ]  # fmt: skip
    assert set(attached["changed_by"]) == {"planner"}
    # attaching is no stage move and does not bump the record's version
    assert store.get_feature(PARCELS_LAYER, fid).version == 1
    assert clearance.stage_timeline(history)["stage"].tolist() == ["thong_bao"]


def test_bad_documents_are_refused(store: Store) -> None:
    (fid,) = insert_parcels(store, [parcel(1)])
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    kwargs: dict[str, Any] = {"user": "planner", "role": "editor", "max_bytes": 10_000}
    with pytest.raises(UploadError, match="is not a PDF"):
        clearance.attach(store, PARCELS_LAYER, fid, html, "quyet-dinh.pdf", **kwargs)
    with pytest.raises(UploadError, match="too large"):
        clearance.attach(store, PARCELS_LAYER, fid, png_bytes() + b"\0" * 20_000, "a.png", **kwargs)
    with pytest.raises(PermissionDeniedError):
        clearance.attach(
            store, PARCELS_LAYER, fid, png_bytes(), "a.png", user="guest", role="viewer",
            max_bytes=10_000,
        )  # fmt: skip
    with pytest.raises(GISInputError, match="layer_id"):
        clearance.attach(store, "wards_new", fid, png_bytes(), "a.png", **kwargs)
    assert store.list_attachments(PARCELS_LAYER, fid) == []
    assert "attach" not in set(store.history(PARCELS_LAYER, fid)["action"])


# --- the dashboard, on four parcels worked out by hand ---------------------------------------


def four_parcels() -> gpd.GeoDataFrame:
    """Four parcels with known areas, money, deadlines and tasks (judged on 2025-06-01).

    fid 1  handed over; counts 100 m² (recovered); paid in full 1 000 000 000 đ; deadline
           past but done; an open task of Bình overdue, a done task past its deadline.
    fid 2  recovery decision; counts 200 m² (recorded, no recovered area); 500 000 000 đ
           committed, nothing paid; An's parcel overdue, and a task of hers overdue.
    fid 3  inventory; counts 300 m² (measured only); a task without a person overdue,
           which falls to the parcel's Chi; the parcel's own deadline is ahead.
    fid 4  no stage (the first, notice); no area; nobody responsible, overdue; an open
           complaint.
    """
    rows: list[dict[str, Any]] = [
        {"map_sheet": "7", "parcel_no": "1", "holder": "Hộ ông Một", "stage": "da_ban_giao",
         "stage_date": "2025-05-15", "area_total_m2": 120.0, "area_recovered_m2": 100.0,
         "area_measured_m2": 125.0, "comp_land": 800_000_000, "comp_assets": 150_000_000,
         "comp_support": 50_000_000, "paid_amount": 1_000_000_000, "paid_date": "2025-05-01",
         "responsible": "Cán bộ An", "deadline": "2025-05-01",
         "tasks": [{"task": "Hoàn tất hồ sơ", "responsible": "Cán bộ Bình",
                    "deadline": "2025-05-10", "done": False},
                   {"task": "Đo đạc lại", "responsible": "Cán bộ Bình",
                    "deadline": "2025-04-01", "done": True}]},
        {"map_sheet": "7", "parcel_no": "2", "holder": "Hộ bà Hai", "stage": "qd_thu_hoi",
         "stage_date": "2025-04-01", "area_total_m2": 200.0, "area_recovered_m2": None,
         "area_measured_m2": 210.0, "comp_land": 400_000_000, "comp_assets": 60_000_000,
         "comp_support": 40_000_000, "paid_amount": None, "responsible": "Cán bộ An",
         "deadline": "2025-05-20",
         "tasks": [{"task": "Vận động nhận tiền", "deadline": "2025-04-15", "done": False}]},
        {"map_sheet": "7", "parcel_no": "3", "holder": "=cmd|' /C calc'!A0",
         "stage": "kiem_dem", "stage_date": "2025-02-01", "area_total_m2": None,
         "area_recovered_m2": None, "area_measured_m2": 300.0, "responsible": "Cán bộ Chi",
         "deadline": "2025-07-01",
         "tasks": [{"task": "Xác minh nguồn gốc", "deadline": "2025-05-25", "done": False}]},
        {"map_sheet": "7", "parcel_no": "4", "holder": "Tổ chức Bốn", "stage": None,
         "stage_date": "2025-01-10", "area_total_m2": None, "area_recovered_m2": None,
         "area_measured_m2": None, "responsible": None, "deadline": "2025-03-01",
         "complaint_filed": "2025-04-01", "tasks": []},
    ]  # fmt: skip
    for row in rows:
        row["tasks"] = clearance.normalize_tasks(row["tasks"])
    frame = pd.DataFrame(rows, index=pd.Index([1, 2, 3, 4], name="fid"))
    return gpd.GeoDataFrame(frame, geometry=[square(i) for i in range(4)], crs=4326)


EMPTY_HISTORY = pd.DataFrame(
    columns=["fid", "version", "action", "changed_at", "changed_by", "reason", "before",
             "after", "effective_at"]
)  # fmt: skip


def test_annotate_flags_overdue_tasks_and_complaints() -> None:
    out = clearance.annotate(four_parcels(), TODAY)
    assert out["overdue"].tolist() == [False, True, False, True]
    assert out["tasks_overdue"].tolist() == [1, 1, 1, 0]
    assert out["tasks_open"].tolist() == [1, 1, 1, 0]
    assert out["any_overdue"].tolist() == [True, True, True, True]
    assert out["days_overdue"].tolist() == [0, 12, 0, 92]
    assert out["complaint_open"].tolist() == [False, False, False, True]
    assert out["comp_total"].tolist() == [1e9, 5e8, 0, 0]
    assert out["key"].tolist() == ["7/1", "7/2", "7/3", "7/4"]
    assert out["stage"].tolist() == ["da_ban_giao", "qd_thu_hoi", "kiem_dem", "thong_bao"]
    # the next day nothing changes for the handed-over parcel
    assert not clearance.annotate(four_parcels(), date(2030, 1, 1))["overdue"].iloc[0]


def test_by_stage_and_handed_over_share() -> None:
    parcels = four_parcels()
    table = clearance.by_stage(parcels, "en").set_index("stage")
    assert list(table.index) == [s.code for s in clearance.STAGES]
    assert table["parcels"].to_dict() == {
        "thong_bao": 1, "kiem_dem": 1, "kiem_dem_bb": 0, "pa_du_thao": 0, "pa_niem_yet": 0,
        "pa_phe_duyet": 0, "qd_thu_hoi": 1, "da_chi_tra": 0, "cuong_che": 0, "da_ban_giao": 1,
    }  # fmt: skip
    assert table["area_m2"].to_dict() == {
        "thong_bao": 0.0, "kiem_dem": 300.0, "kiem_dem_bb": 0.0, "pa_du_thao": 0.0,
        "pa_niem_yet": 0.0, "pa_phe_duyet": 0.0, "qd_thu_hoi": 200.0, "da_chi_tra": 0.0,
        "cuong_che": 0.0, "da_ban_giao": 100.0,
    }  # fmt: skip
    assert table.loc["da_ban_giao", "area_pct"] == pytest.approx(100 / 6)
    assert table.loc["da_ban_giao", "label"] == "Land handed over"
    assert clearance.by_stage(parcels).set_index("stage").loc["kiem_dem", "label"] == "Kiểm đếm"
    assert clearance.handed_over_share(parcels) == pytest.approx(1 / 6)
    assert clearance.area_of(parcels).tolist() == [100.0, 200.0, 300.0, 0.0]


def test_overdue_by_person_counts_parcels_and_open_tasks() -> None:
    table = clearance.overdue_by_person(four_parcels(), TODAY).set_index("responsible")
    assert list(table.index[:1]) == ["Cán bộ An"]  # the most overdue first
    named = table.loc[["Cán bộ An", "Cán bộ Bình", "Cán bộ Chi"]].reset_index()
    assert named.values.tolist() == [
        ["Cán bộ An", 1, 1, 2, "2025-04-15"],
        ["Cán bộ Bình", 0, 1, 1, "2025-05-10"],
        ["Cán bộ Chi", 0, 1, 1, "2025-05-25"],
    ]
    assert table["total"].sum() == 5  # fid 4's overdue parcel is counted, under someone
    assert clearance.overdue_by_person(four_parcels(), date(2025, 1, 1)).empty


def test_overdue_without_a_responsible_person_is_listed_under_a_dash(store: Store) -> None:
    insert_parcels(store, [parcel(1, responsible=None, deadline="2025-03-01")])
    stored = store.read_layer(PARCELS_LAYER)
    table = clearance.overdue_by_person(stored, TODAY)
    assert table["responsible"].tolist() == ["—"]
    assert clearance.overdue_by_person(four_parcels(), TODAY)["responsible"].tolist() == [
        "Cán bộ An", "—", "Cán bộ Bình", "Cán bộ Chi",
    ]  # fmt: skip


def test_progress_counts_a_parcel_without_a_stage_like_by_stage(store: Store) -> None:
    insert_parcels(
        store,
        [parcel(1, stage=None, stage_date="2025-02-01"), parcel(2, stage="kiem_dem")],
    )
    stored = store.read_layer(PARCELS_LAYER)
    progress = clearance.progress(stored, EMPTY_HISTORY, end=TODAY)
    stages = clearance.by_stage(stored).set_index("stage")
    assert stages.loc["thong_bao", "area_m2"] == 400
    np.testing.assert_allclose(progress.iloc[-1].to_numpy(), stages["area_m2"].to_numpy())


def test_money_totals_and_outstanding() -> None:
    table = clearance.money(four_parcels()).set_index("stage")
    total = table.loc["total"]
    assert (total["comp_land"], total["comp_assets"], total["comp_support"]) == (
        1_200_000_000, 210_000_000, 90_000_000,
    )  # fmt: skip
    assert (total["committed"], total["paid_amount"], total["outstanding"]) == (
        1_500_000_000, 1_000_000_000, 500_000_000,
    )  # fmt: skip
    assert table.loc["qd_thu_hoi", "outstanding"] == 500_000_000
    assert table.loc["da_ban_giao", "outstanding"] == 0
    assert table.loc["kiem_dem", "committed"] == 0
    assert list(table.index)[-1] == "total"


def test_progress_from_stage_dates_without_history() -> None:
    progress = clearance.progress(four_parcels(), EMPTY_HISTORY, freq="MS", end=TODAY)
    assert progress.index[-1] == TODAY
    last = progress.iloc[-1]
    assert (last["kiem_dem"], last["qd_thu_hoi"], last["da_ban_giao"]) == (300, 200, 100)
    at = {str(d): row for d, row in progress.iterrows()}
    assert at["2025-05-01"]["da_ban_giao"] == 0  # handed over on 15 May
    assert at["2025-05-01"]["qd_thu_hoi"] == 200
    assert at["2025-03-01"]["qd_thu_hoi"] == 0


def test_dashboard_tables_to_excel_and_csv(tmp_path: Path) -> None:
    sheets = clearance.dashboard_tables(four_parcels(), EMPTY_HISTORY, TODAY)
    assert list(sheets) == ["stages", "overdue_by_person", "money", "progress", "parcels"]
    path = tmp_path / "bao-cao.xlsx"
    path.write_bytes(tables.to_xlsx(sheets))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["stages", "overdue_by_person", "money", "progress", "parcels"]
    money_rows = list(book["money"].iter_rows(values_only=True))
    header = money_rows[0]
    total = next(r for r in money_rows if r[0] == "total")
    assert total[header.index("committed")] == 1_500_000_000
    assert total[header.index("outstanding")] == 500_000_000
    listing = list(book["parcels"].iter_rows())
    names = [c.value for c in listing[0]]
    holders = [row[names.index("holder")] for row in listing[1:]]
    assert holders[2].value == "'=cmd|' /C calc'!A0"
    assert holders[2].data_type == "s"
    assert [row[names.index("key")].value for row in listing[1:]] == ["7/1", "7/2", "7/3", "7/4"]
    csv = tables.to_csv(sheets["parcels"])
    assert csv.startswith(b"\xef\xbb\xbf")
    text = csv.decode("utf-8-sig")
    assert "'=cmd|' /C calc'!A0" in text
    assert "Hộ bà Hai" in text
    assert pd.read_csv(io.BytesIO(csv), encoding="utf-8-sig")["key"].tolist() == [
        "7/1", "7/2", "7/3", "7/4",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=cmd", "'=cmd"), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=x", "'\t=x"), ("Hộ ông An", "Hộ ông An"), ("a=b", "a=b")],
)  # fmt: skip
def test_table_cells_cannot_become_formulas(value: str, safe: str) -> None:
    frame = pd.DataFrame({"text": [value], "number": [-5]})
    out = tables.safe_frame(frame)
    assert out["text"].tolist() == [safe]
    assert out["number"].tolist() == [-5]
    assert frame["text"].tolist() == [value]  # the input is left alone
    with pytest.raises(GISInputError, match="at least one table"):
        tables.to_xlsx({})


def test_export_frame_writes_tasks_as_json() -> None:
    parcels = four_parcels()
    parcels["_version"] = 1
    out = clearance.export_frame(parcels)
    assert "_version" not in out.columns
    assert out.loc[1, "tasks"].startswith('[{"id": ')
    assert "Hoàn tất hồ sơ" in out.loc[1, "tasks"]
    assert pd.isna(out.loc[4, "tasks"])


# --- found in review ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("area_total_m2", "0.25", 0.25),
        ("area_total_m2", "1.234,5", 1234.5),
        ("area_total_m2", "1,234.5", 1234.5),
        ("area_total_m2", "120,5", 120.5),
        ("comp_land", "250.500", 250500),
        ("comp_land", "1.250.000.000", 1250000000),
    ],
)
def test_numbers_as_planners_write_them(name: str, text: str, expected: float) -> None:
    assert clearance.normalize_value(name, text) == expected


@pytest.mark.parametrize("text", ["12.345", "250.500"])
def test_an_area_with_one_thousands_dot_is_refused_not_guessed(text: str) -> None:
    with pytest.raises(GISInputError, match="ambiguous"):
        clearance.normalize_value("area_total_m2", text)


def test_record_problems_see_the_whole_record() -> None:
    assert clearance.record_problems({"area_total_m2": 100, "area_recovered_m2": 500})
    assert clearance.record_problems(
        {"complaint_filed": "2025-05-02", "complaint_resolved": "2025-05-01"}
    )
    assert not clearance.record_problems(
        {"area_total_m2": 100, "area_recovered_m2": 100, "complaint_filed": "2025-05-02",
         "complaint_resolved": "2025-05-02"}
    )  # fmt: skip


def test_today_is_the_ward_calendar_day_not_the_server_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 23:30 UTC it is already 06:30 the next morning in Thủ Thiêm."""
    from datetime import UTC, datetime

    late = datetime(2025, 7, 1, 23, 30, tzinfo=UTC)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return late.astimezone(tz) if tz else late.replace(tzinfo=None)

    monkeypatch.setattr(clearance, "datetime", Clock)
    assert clearance.local_today() == date(2025, 7, 2)
