"""The load test, briefly, on both backends (4 editor processes for 5 s on 300 parcels): no
update is lost, every commit has its history and audit row, nothing but conflicts goes wrong,
and conflicts on the hot parcels are resolved by reading again. No timing is checked. The
checks themselves catch a lost update, a missing history row and a version written twice."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import box

from bench import load
from geo import streets
from geo.store import Store

EDITORS = 4
SECONDS = 5.0


@pytest.fixture(scope="module")
def edges() -> gpd.GeoDataFrame:
    """The shipped OSM sample's segments, read once for both backends."""
    return streets.edges_frame(streets.read_streets(streets.SAMPLE_OSM))


def test_editors_lose_no_update(
    store: Store, edges: gpd.GeoDataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    figures, verdict = load.measure_backend(
        store.url, tag="t", name=store.backend, editors=EDITORS, seconds=SECONDS,
        n_parcels=300, hot=3, think_s=0.005, edges=edges,
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert verdict.problems == [], printed
    assert verdict.failed == 0
    assert figures["t_lost_updates"] == 0
    assert figures["t_history_gaps"] == 0
    assert figures["t_audit_gaps"] == 0
    assert figures["t_errors"] == 0, printed
    assert figures["t_gave_up"] == 0
    assert figures["t_hot_resolved"] >= 1, printed  # editors collided and saved after re-reading
    assert figures["t_parcel_ops_s"] > 0 and figures["t_flood_add_ops_s"] > 0
    assert figures["t_commits"] >= figures["t_ops"] > 0
    assert "lost updates 0" in printed and "p95" in printed


# --- the checks are not vacuous ------------------------------------------------------------


def _two_edits(store: Store) -> tuple[list[load.Commit], dict[int, dict[str, Any]]]:
    """Three parcels, two committed edits of parcel 1 by two editors; the commits as an editor
    records them and the parcels' starting values."""
    frame = gpd.GeoDataFrame(
        {"responsible": ["A", "B", "C"], "deadline": [None, "2026-01-01", None], "note": ""},
        geometry=[box(106.7 + i * 1e-3, 10.8, 106.7005 + i * 1e-3, 10.8005) for i in range(3)],
        crs=4326,
    )
    store.write_layer(load.PARCELS, frame, user=load.SEED_USER)
    initial = {
        fid: {"responsible": r, "deadline": d, "note": ""}
        for fid, r, d in zip((1, 2, 3), frame["responsible"], frame["deadline"], strict=True)
    }
    commits = []
    for user, note in (("editor01", "editor01 #1"), ("editor02", "editor02 #1")):
        feature = store.get_feature(load.PARCELS, 1)
        saved = store.update_feature(load.PARCELS, 1, expected_version=feature.version,
                                     props={"note": note}, user=user, role=load.ROLE)  # fmt: skip
        commits.append(load.Commit(load.PARCELS, 1, saved.version, "update", user, {"note": note}))
    return commits, initial


def test_verify_passes_a_sound_run(store: Store) -> None:
    commits, initial = _two_edits(store)
    verdict = load.verify(store, commits, initial)
    assert verdict.problems == [] and verdict.failed == 0


def test_verify_finds_a_lost_update(store: Store) -> None:
    commits, initial = _two_edits(store)
    ghost = load.Commit(load.PARCELS, 2, 2, "update", "editor03", {"note": "editor03 #1"})
    verdict = load.verify(store, [*commits, ghost], initial)
    assert verdict.lost_updates >= 2  # version 2 never reached, its value is not there
    assert verdict.history_gaps == 1 and verdict.audit_gaps == 1
    assert any("parcels_demo 2: at version 1, expected 2" in p for p in verdict.problems)


def test_verify_finds_a_version_written_twice(store: Store) -> None:
    commits, initial = _two_edits(store)
    twice = commits[1]._replace(version=2, user="editor03")
    verdict = load.verify(store, [commits[0], twice], initial)
    assert verdict.lost_updates >= 1
    assert any("version 2 committed by 2 editors" in p for p in verdict.problems)


def test_verify_finds_an_unreported_change(store: Store) -> None:
    commits, initial = _two_edits(store)
    verdict = load.verify(store, commits[:1], initial)  # the second editor "forgot" its commit
    assert verdict.unexplained == 1 and verdict.history_extra == 1 and verdict.audit_extra == 1


def test_verify_finds_a_broken_history_chain(store: Store) -> None:
    commits, initial = _two_edits(store)
    initial[1]["note"] = "something else"  # the first edit's `before` no longer follows
    verdict = load.verify(store, commits, initial)
    assert verdict.history_gaps == 1
    assert any("history says note was ''" in p for p in verdict.problems)


# --- run(): the verdict decides the exit -------------------------------------------------------


def _fake_measure(lost: int) -> Any:
    def measure(url: str, *, tag: str, **kwargs: Any) -> tuple[dict[str, float], load.Verdict]:
        figures = {f"{tag}_{k}": 0.0 for k in ("ops_s", "p95_ms", "errors", "gave_up")}
        figures |= {f"{tag}_lost_updates": float(lost), f"{tag}_history_gaps": 0.0,
                    f"{tag}_audit_gaps": 0.0}  # fmt: skip
        return figures, load.Verdict(lost_updates=lost)

    return measure


def test_run_returns_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "measure_backend", _fake_measure(0))
    out = load.run("gpkg", editors=2, seconds=1)
    assert out["lost_updates"] == 0 and out["history_gaps"] == 0 and out["errors"] == 0
    assert out["gpkg_ops_s"] == 0 and out["pg_ops_s"] != out["pg_ops_s"]  # NaN: not run


def test_run_exits_1_on_a_lost_update(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(load, "measure_backend", _fake_measure(3))
    with pytest.raises(SystemExit) as exit_info:
        load.run("gpkg", editors=2, seconds=1)
    assert exit_info.value.code == 1
    assert "LOAD TEST FAILED: GeoPackage: 3 lost or unexplained updates" in capsys.readouterr().err


# --- the stack ---------------------------------------------------------------------------------


@pytest.mark.postgis
def test_loopback_cluster_listens_on_127_0_0_1_and_is_removed() -> None:
    with load.loopback_cluster() as admin:
        assert admin is not None and admin.startswith("postgresql://postgres@127.0.0.1:")
        with load.scratch_database(admin) as url, psycopg.connect(url) as conn:
            found = conn.execute("SELECT host(inet_server_addr()), current_database()").fetchone()
            assert found is not None and found[0] == "127.0.0.1"
            assert str(found[1]).startswith("ward_gis_load_")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(admin, connect_timeout=2).close()
