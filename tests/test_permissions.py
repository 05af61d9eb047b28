"""Every write entry point in ``geo`` checks the role itself (not only the pages), on both
backends: refused roles change nothing, not even the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from geo import auth, catalog, clearance, demo, floods, parcel_import
from geo.config import Settings
from geo.errors import PermissionDeniedError
from geo.store import Store
from tests.accounts import PASSWORD

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SNAP = floods.Snap(["s1"], "Nam Kỳ Khởi Nghĩa", Point(106.69, 10.78), 1.0)
EMPTY = gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
PLAN = parcel_import.ImportPlan(
    inserts=gpd.GeoDataFrame({"parcel_no": [1]}, geometry=[box(106.71, 10.77, 106.711, 10.771)],
                             crs=4326),
    updates=[], unchanged=0, rejected=pd.DataFrame(), preview=pd.DataFrame(), mapping={},
)  # fmt: skip


@pytest.fixture
def ready(store: Store) -> Store:
    """A store with one record of each kind the entry points change, and two accounts."""
    square = gpd.GeoDataFrame({"stage": ["kiem_dem"]}, geometry=[box(106.71, 10.77, 106.711,
                              10.771)], crs=4326)  # fmt: skip
    store.apply_edits(clearance.PARCELS_LAYER, inserts=square, user="setup")
    store.apply_edits(clearance.DEMO_LAYER, inserts=square, user="setup")
    store.add_attachment(
        clearance.PARCELS_LAYER, 1, filename="a.pdf", mime="application/pdf", data=PDF,
        sha256=hashlib.sha256(PDF).hexdigest(), user="setup",
    )  # fmt: skip
    report = gpd.GeoDataFrame({"observed_at": ["2026-03-01T08:00:00+07:00"]},
                              geometry=[SNAP.point], crs=4326)  # fmt: skip
    store.apply_edits(floods.REPORTS_LAYER, inserts=report, user="setup")
    line = LineString([(106.69, 10.78), (106.70, 10.78)])
    street = gpd.GeoDataFrame({"street": ["Nam Kỳ Khởi Nghĩa"]}, geometry=[line], crs=4326)
    store.apply_edits(floods.PRONE_LAYER, inserts=street, user="setup")
    store.write_layer("diem", EMPTY.iloc[:0], user="setup")
    auth.add_user(store, "root", "root password 1", role="admin", actor="t", actor_role="admin")
    auth.add_user(store, "lan", PASSWORD, role="editor", actor="t", actor_role="admin")
    return store


def _calls() -> dict[str, tuple[str, Callable[[Store, str], Any]]]:
    """Entry point name → (the permission it needs, a call as ``role``)."""
    who = {"user": "someone"}
    return {
        "clearance.edit_parcel": ("parcel.edit", lambda s, r: clearance.edit_parcel(
            s, clearance.PARCELS_LAYER, 1, {"stage": "pa_du_thao"}, expected_version=1, role=r,
            **who)),
        "clearance.attach": ("parcel.attach", lambda s, r: clearance.attach(
            s, clearance.PARCELS_LAYER, 1, PDF, "b.pdf", role=r, max_bytes=10**6, **who)),
        "clearance.detach": ("parcel.attach", lambda s, r: clearance.detach(s, 1, role=r, **who)),
        "demo.install_demo": ("demo.manage", lambda s, r: demo.install_demo(
            s, Settings().profile, EMPTY, EMPTY, role=r)),
        "demo.remove_demo": ("demo.manage", lambda s, r: demo.remove_demo(s, role=r, **who)),
        "parcel_import.apply_plan": ("parcel.import", lambda s, r: parcel_import.apply_plan(
            s, clearance.PARCELS_LAYER, PLAN, source="file.zip", role=r, **who)),
        "floods.add_report": ("flood.report", lambda s, r: floods.add_report(
            s, SNAP, depth_cm=30, observed_at="2026-03-01T09:00", source="camera", role=r,
            **who)),
        "floods.confirm_report": ("flood.confirm", lambda s, r: floods.confirm_report(
            s, 1, expected_version=1, role=r, **who)),
        "floods.end_report": ("flood.report", lambda s, r: floods.end_report(
            s, 1, expected_version=1, role=r, **who)),
        "floods.correct_report": ("flood.report", lambda s, r: floods.correct_report(
            s, 1, expected_version=1, reason="sai độ sâu", depth_cm=10, role=r, **who)),
        "floods.resnap": ("flood.report", lambda s, r: floods.resnap(s, None, role=r, **who)),  # type: ignore[arg-type]
        "floods.designate": ("flood.prone", lambda s, r: floods.designate(
            s, None, street="Pasteur", role=r, **who)),  # type: ignore[arg-type]
        "floods.update_prone": ("flood.prone", lambda s, r: floods.update_prone(
            s, 1, expected_version=1, programme="Chống ngập 2026", role=r, **who)),
        "floods.replace_network": ("streets.import", lambda s, r: floods.replace_network(
            s, EMPTY, source="x.osm", role=r, **who)),
        "catalog.import_layer": ("layer.import", lambda s, r: catalog.import_layer(
            s, "moi", EMPTY, role=r, **who)),
        "catalog.remove_layer": ("layer.delete", lambda s, r: catalog.remove_layer(
            s, "diem", role=r, **who)),
        "auth.list_users": ("users.manage", lambda s, r: auth.list_users(s, actor_role=r)),
        "auth.add_user": ("users.manage", lambda s, r: auth.add_user(
            s, "binh", PASSWORD, actor="x", actor_role=r)),
        "auth.set_password": ("users.manage", lambda s, r: auth.set_password(
            s, "lan", "a new password", actor="x", actor_role=r)),
        "auth.set_role": ("users.manage", lambda s, r: auth.set_role(
            s, "lan", "admin", actor="x", actor_role=r)),
        "auth.set_disabled": ("users.manage", lambda s, r: auth.set_disabled(
            s, "root", True, actor="x", actor_role=r)),
        "auth.unlock": ("users.manage", lambda s, r: auth.unlock(s, "lan", actor="x",
                                                                  actor_role=r)),
        "auth.remove_user": ("users.manage", lambda s, r: auth.remove_user(
            s, "lan", actor="x", actor_role=r)),
        "auth.read_audit": ("audit.read", lambda s, r: auth.read_audit(s, actor_role=r)),
    }  # fmt: skip


CALLS = _calls()
REFUSED = [
    pytest.param(name, role, id=f"{name}-{role}")
    for name, (permission, _) in CALLS.items()
    for role in auth.ROLES
    if not auth.can(role, permission)
]


def _everything(store: Store) -> tuple[Any, ...]:
    layers = store.list_layers()
    return (
        layers,
        {i.layer_id: store.read_layer(i.layer_id).to_json() for i in layers},
        store.audit(limit=10_000).to_json(),
        [(u.username, u.role, u.disabled, u.password_hash) for u in store.list_users()],
    )


def test_every_entry_point_is_listed() -> None:
    assert {p for p, _ in CALLS.values()} == set(auth.PERMISSIONS) - {"read", "parcel.override",
                                                                      "dem.manage"}  # fmt: skip
    assert len(REFUSED) > len(CALLS)  # a viewer at least, for each


@pytest.mark.parametrize(("name", "role"), REFUSED)
def test_a_refused_role_changes_nothing(ready: Store, name: str, role: str) -> None:
    before = _everything(ready)
    _, call = CALLS[name]
    with pytest.raises(PermissionDeniedError, match=f"role: an? {role} may not"):
        call(ready, role)
    assert _everything(ready) == before


def test_the_stage_override_needs_an_approver(ready: Store) -> None:
    with pytest.raises(PermissionDeniedError, match="only an approver or admin may override"):
        clearance.check_change({"stage": "kiem_dem"}, {"stage": "da_ban_giao"}, role="editor",
                               override_reason="bàn giao theo biên bản số 12")  # fmt: skip


def test_an_admin_imports_and_removes_layers_but_not_the_ward_boundaries(
    ready: Store, tmp_path: Path
) -> None:
    points = gpd.GeoDataFrame({"ten": ["A"]}, geometry=[Point(106.72, 10.78)], crs=4326)
    assert catalog.import_layer(ready, "moi", points, user="root", role="admin") == 1
    assert catalog.remove_layer(ready, "moi", user="root", role="admin") == 1
    assert ready.audit(layer_id="moi")["action"].tolist() == ["layer.delete", "layer.replace"]
    with pytest.raises(Exception, match="ward boundaries"):
        catalog.remove_layer(ready, "wards_new", user="root", role="admin")
