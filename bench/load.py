"""Load: 20 editors at once on parcels and flood reports for a minute, GeoPackage and PostGIS."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from shapely.geometry import Point

from bench.common import heading, row
from bench.pg import throwaway_cluster
from geo import auth, floods, streets, synthetic, wards
from geo.config import load_settings
from geo.errors import ConflictError, RuleError
from geo.store import Store, open_store

EDITORS = 20
SECONDS = 60.0
N_PARCELS = 2_000
PARCELS = "parcels_demo"
REPORTS = floods.REPORTS_LAYER
HOT_PARCELS = 50
"""Parcels every editor keeps coming back to (a street being cleared), so edits collide."""
HOT_SHARE = 0.5
"""Share of parcel edits (and of flood actions on an existing report) that go to the hot set."""
FLOOD_SHARE = 0.3
"""Share of operations that are flood-report actions instead of parcel edits."""
ADD, SUPERSEDE, END = 0.4, 0.25, 0.15
"""Of the flood actions: a new report, a new observation superseding one, ending one; the rest
correct a report's note."""
SEED_REPORTS = 40
HOT_REPORTS = 10
"""The first seeded reports, the hot set of flood actions."""
SNAPS = 300
"""Clicks on the street network, snapped once, where the editors put new reports."""
FIELDS = ("responsible", "deadline", "note")
"""Parcel attributes an edit changes (one at a time, with the editor's name and a counter)."""
ROLE = "editor"
SEED_USER = "bench-seed"
MAX_RETRIES = 100
"""Conflicts in a row after which an editor gives up an operation (counted, never hidden)."""
START_TIMEOUT_S = 600.0
"""How long the editors may take to start (20 Python processes on 2 shared cores)."""
REPORT_EXTRA_S = 120.0
"""How long after the end of the run a finished editor's figures may take to arrive."""
DEPTHS = (5, 10, 15, 20, 30, 40, 60)
END_REASON = "nước đã rút / water receded (load test)"
CORRECT_REASON = "sửa ghi chú / note corrected (load test)"
UPDATE_REASON = "load test"
DEADLINE_BASE = date(2026, 1, 1)
NAN = float("nan")
KINDS = ("parcel", "flood_add", "flood_supersede", "flood_end", "flood_correct")


# --- what an editor does and records ------------------------------------------------------------


class Op(NamedTuple):
    """One operation as the editor saw it: read, change, save, re-read and save on a conflict."""

    kind: str
    start: float
    """Wall clock (``time.time()``) when it began."""
    seconds: float
    outcome: str
    """``ok``; ``moot`` (a colleague ended the report first); ``gave_up``; ``error``."""
    conflicts: int
    hot: bool


class Commit(NamedTuple):
    """A write the store accepted: the feature, the version it now has, who, and what changed."""

    layer: str
    fid: int
    version: int
    action: str
    """``update`` or ``insert``."""
    user: str
    change: dict[str, Any]


@dataclass(frozen=True)
class EditorTask:
    """Everything one editor process needs (pickled into a spawned process)."""

    url: str
    user: str
    index: int
    seconds: float
    seed: int
    parcel_fids: tuple[int, ...]
    hot_fids: tuple[int, ...]
    hot_reports: tuple[int, ...]
    snaps: tuple[floods.Snap, ...]
    flood_share: float = FLOOD_SHARE
    hot_share: float = HOT_SHARE
    think_s: float = 0.0
    """A pause between reading a feature and saving it (an editor filling the form)."""
    max_retries: int = MAX_RETRIES


@dataclass
class EditorResult:
    """What one editor reports back: its operations, its commits and any unexpected error."""

    user: str
    ops: list[Op] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    ready_s: float = NAN


class _Editor:
    """One editor at work on its own store connection."""

    def __init__(self, store: Store, task: EditorTask):
        self.store, self.task, self.user = store, task, task.user
        self.rng = random.Random(task.seed * 1_000 + task.index)
        self.hot_fids = set(task.hot_fids)
        self.result = EditorResult(task.user)
        self.counter = 0
        self.kind, self.conflicts, self.hot = "parcel", 0, False

    # the loop
    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.step()

    def step(self) -> None:
        """One operation, timed; an exception other than a conflict is recorded as an error."""
        self.kind, self.conflicts, self.hot = "parcel", 0, False
        began, start = time.time(), time.perf_counter()
        try:
            flood = self.rng.random() < self.task.flood_share
            outcome = self._flood() if flood else self._parcel()
        except Exception as e:
            outcome = "error"
            self._error(f"{self.kind}: {type(e).__name__}: {e}")
        seconds = time.perf_counter() - start
        self.result.ops.append(Op(self.kind, began, seconds, outcome, self.conflicts, self.hot))

    def _error(self, text: str) -> None:
        self.result.error_count += 1
        if len(self.result.errors) < 20:
            self.result.errors.append(f"{self.user}: {' '.join(text.split())[:400]}")

    def _retry(self) -> bool:
        """Count a conflict; whether to try again."""
        self.conflicts += 1
        return self.conflicts <= self.task.max_retries

    def _label(self) -> str:
        self.counter += 1
        return f"{self.user} #{self.counter}"

    def _think(self) -> None:
        if self.task.think_s > 0:
            time.sleep(self.task.think_s)

    def _commit(
        self, layer: str, fid: int, version: int, action: str, change: dict[str, Any],
        expected: int | None = None,
    ) -> None:  # fmt: skip
        self.result.commits.append(Commit(layer, int(fid), int(version), action, self.user,
                                          change))  # fmt: skip
        if expected is not None and version != expected:
            self._error(f"{layer} {fid}: saved as version {version}, expected {expected}")

    # parcels
    def _parcel(self) -> str:
        """Read a parcel, change one field, save it at the version read; on a conflict read it
        again and save again."""
        task = self.task
        if self.rng.random() < task.hot_share:
            fid = self.rng.choice(task.hot_fids)
        else:
            fid = self.rng.choice(task.parcel_fids)
        self.hot = fid in self.hot_fids
        name = self.rng.choice(FIELDS)
        while True:
            feature = self.store.get_feature(PARCELS, fid)
            label = self._label()
            value = (DEADLINE_BASE + timedelta(days=self.counter % 365)).isoformat() if (
                name == "deadline") else label  # fmt: skip
            self._think()
            try:
                saved = self.store.update_feature(
                    PARCELS, fid, expected_version=feature.version, props={name: value},
                    user=self.user, role=ROLE, reason=UPDATE_REASON,
                )  # fmt: skip
            except ConflictError:
                if not self._retry():
                    return "gave_up"
                continue
            self._commit(PARCELS, fid, saved.version, "update", {name: value}, feature.version + 1)
            if saved.props.get(name) != value:
                got = saved.props.get(name)
                self._error(f"{PARCELS} {fid}: saved {name}={got!r}, not {value!r}")
            return "ok"

    # flood reports
    def _flood(self) -> str:
        self.kind = "flood_add"
        count = self.store.layer_info(REPORTS).feature_count  # fids run 1..count
        draw = self.rng.random()
        if draw < ADD or count == 0:
            return self._add()
        if self.rng.random() < self.task.hot_share:
            fid = self.rng.choice(self.task.hot_reports)
        else:
            fid = self.rng.randint(1, count)
        self.hot = fid in self.task.hot_reports
        if draw < ADD + SUPERSEDE:
            return self._supersede(fid)
        if draw < ADD + SUPERSEDE + END:
            return self._end(fid)
        return self._correct(fid)

    def _add(self) -> str:
        """A new report at a clicked street, observed in the last three hours."""
        self.kind = "flood_add"
        snap = self.rng.choice(self.task.snaps)
        note = self._label()
        observed = floods.now_local() - timedelta(minutes=self.rng.randint(1, 180))
        self._think()
        fid = floods.add_report(
            self.store, snap, user=self.user, role=ROLE, depth_cm=self.rng.choice(DEPTHS),
            observed_at=observed, source=self.rng.choice(floods.SOURCES),
            effect=self.rng.choice(floods.EFFECTS), note=note,
        )  # fmt: skip
        self._commit(REPORTS, fid, 1, "insert", {"note": note, "supersedes": None})
        return "ok"

    def _supersede(self, fid: int) -> str:
        """The water rose or fell: a new observation that ends report ``fid`` in the same
        transaction, at the version read."""
        self.kind = "flood_supersede"
        while True:
            old = self.store.get_feature(REPORTS, fid)
            observed = floods.now_local()
            seen = floods.parse_time(old.props["observed_at"], "observed_at")
            if _ended(old.props) or seen >= observed or not isinstance(old.geometry, Point):
                if self.conflicts:
                    return "moot"  # a colleague ended it while we were at it
                return self._correct(fid)  # nothing to supersede: correct its note instead
            snap = floods.Snap(floods.segment_list(old.props.get("segment_ids")),
                               str(old.props.get("street") or ""), old.geometry, 0.0)  # fmt: skip
            note = self._label()
            self._think()
            try:
                new = floods.add_report(
                    self.store, snap, user=self.user, role=ROLE, expected_version=old.version,
                    supersedes=fid, depth_cm=self.rng.choice(DEPTHS), observed_at=observed,
                    source=self.rng.choice(floods.SOURCES),
                    effect=self.rng.choice(floods.EFFECTS), note=note,
                )  # fmt: skip
            except (ConflictError, RuleError) as e:
                _raise_unless_ended(e)
                if not self._retry():
                    return "gave_up"
                continue
            self._commit(REPORTS, new, 1, "insert", {"note": note, "supersedes": fid})
            change = {"ended_at": floods.iso(observed), "end_reason": "superseded"}
            self._commit(REPORTS, fid, old.version + 1, "update", change)
            return "ok"

    def _end(self, fid: int) -> str:
        """The water receded: end report ``fid`` at the version read."""
        self.kind = "flood_end"
        while True:
            old = self.store.get_feature(REPORTS, fid)
            at = floods.now_local()
            seen = floods.parse_time(old.props["observed_at"], "observed_at")
            if _ended(old.props) or at < seen:
                if self.conflicts:
                    return "moot"
                return self._correct(fid)
            self._think()
            try:
                floods.end_report(self.store, fid, expected_version=old.version, user=self.user,
                                  role=ROLE, at=at, reason=END_REASON)  # fmt: skip
            except (ConflictError, RuleError) as e:
                _raise_unless_ended(e)
                if not self._retry():
                    return "gave_up"
                continue
            change = {"ended_at": floods.iso(at), "end_reason": END_REASON}
            self._commit(REPORTS, fid, old.version + 1, "update", change)
            return "ok"

    def _correct(self, fid: int) -> str:
        """A report recorded wrong: correct its note, with a reason, at the version read."""
        self.kind = "flood_correct"
        while True:
            old = self.store.get_feature(REPORTS, fid)
            note = self._label()
            self._think()
            try:
                floods.correct_report(self.store, fid, expected_version=old.version,
                                      user=self.user, role=ROLE, reason=CORRECT_REASON,
                                      note=note)  # fmt: skip
            except ConflictError:
                if not self._retry():
                    return "gave_up"
                continue
            self._commit(REPORTS, fid, old.version + 1, "update", {"note": note})
            return "ok"


def _ended(props: Mapping[str, Any]) -> bool:
    value = props.get("ended_at")
    return value is not None and value != ""


def _raise_unless_ended(error: Exception) -> None:
    """A ``RuleError`` is a conflict only when the report ended under us (``add_report`` and
    ``end_report`` read it again before saving); anything else goes up as an error."""
    if isinstance(error, RuleError) and "already ended" not in str(error):
        raise error


def editor_process(task: EditorTask, barrier: Any, results: Any) -> None:
    """A spawned editor: open its own store connection, wait for the others, work for
    ``task.seconds``, then send its :class:`EditorResult` on ``results``."""
    began = time.monotonic()
    result = EditorResult(task.user)
    store: Store | None = None
    try:
        store = open_store(task.url, migrate=False)
        editor = _Editor(store, task)
        result = editor.result
        store.get_feature(PARCELS, task.parcel_fids[0])  # connect before the clock starts
        store.layer_info(REPORTS)
        result.ready_s = time.monotonic() - began
        barrier.wait(timeout=START_TIMEOUT_S)
        editor.run(time.monotonic() + task.seconds)
    except threading.BrokenBarrierError:
        result.error_count += 1
        result.errors.append(f"{task.user}: the editors did not all start (broken barrier)")
    except Exception as e:
        result.error_count += 1
        result.errors.append(f"{task.user}: setup failed: {type(e).__name__}: {e}")
        barrier.abort()
    finally:
        if store is not None:
            try:
                store.close()
            except Exception as e:
                result.errors.append(f"{task.user}: close failed: {e}")
        results.put(result)


def run_editors(tasks: Sequence[EditorTask]) -> tuple[list[EditorResult], float]:
    """Start one spawned process per task, start them all at once, collect their results.

    Returns the results (one per task) and the seconds the processes took to be ready.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(tasks) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=editor_process, args=(t, barrier, results), name=t.user, daemon=True)
        for t in tasks
    ]
    began = time.monotonic()
    out: list[EditorResult] = []
    try:
        for p in procs:
            p.start()
        with suppress(threading.BrokenBarrierError):  # an editor failed: its result says why
            barrier.wait(timeout=START_TIMEOUT_S)
        ready_s = time.monotonic() - began
        seconds = max(t.seconds for t in tasks)
        waited_until = time.monotonic() + seconds + REPORT_EXTRA_S
        while len(out) < len(tasks):
            try:
                out.append(results.get(timeout=max(waited_until - time.monotonic(), 1.0)))
            except queue.Empty:
                missing = sorted({t.user for t in tasks} - {r.user for r in out})
                for user in missing:
                    out.append(EditorResult(user, errors=[f"{user}: sent no result in time"],
                                            error_count=1))  # fmt: skip
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
        results.close()
        results.join_thread()
    return out, ready_s


# --- the stack and its data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """What the seeding wrote: the parcels' fids and starting values, the accounts, the hot
    sets and the snapped clicks for new reports."""

    parcel_fids: tuple[int, ...]
    hot_fids: tuple[int, ...]
    initial: dict[int, dict[str, Any]]
    users: tuple[str, ...]
    hot_reports: tuple[int, ...]
    snaps: tuple[floods.Snap, ...]
    segments: int


def ward_area() -> Any:
    """The ward's polygon (EPSG:4326): the new ward whose name is the profile's."""
    profile = load_settings({}).profile
    new = wards.load_new_wards(profile)
    return new[new["name"] == profile.name].to_crs(4326).geometry.union_all()


def seed(
    store: Store,
    *,
    editors: int,
    n_parcels: int = N_PARCELS,
    hot: int = HOT_PARCELS,
    reports: int = SEED_REPORTS,
    edges: gpd.GeoDataFrame | None = None,
    rng_seed: int = 11,
) -> Seeded:
    """Fill an empty, migrated store as the office has it: the ward layers, ``n_parcels``
    synthetic parcels as ``parcels_demo``, the street network (the shipped OSM sample, or
    ``edges``), ``reports`` flood reports on it, and one editor account per editor."""
    profile = load_settings({}).profile
    wards.seed_store(store, profile, user=SEED_USER)
    parcels = synthetic.scale_parcels(ward_area(), profile.measure_crs, n_parcels, seed=rng_seed)
    store.write_layer(PARCELS, parcels, title="Thửa đất thử tải / load-test parcels",
                      source=synthetic.SOURCE, user=SEED_USER)  # fmt: skip
    if edges is None:
        streets.save_sample(store, user=SEED_USER)
    else:
        streets.save_streets(store, edges, source=streets.SAMPLE_SOURCE, user=SEED_USER)
    segments = store.read_layer(streets.STREETS_LAYER)
    index = floods.SegmentIndex(segments, profile.measure_crs)
    rng = np.random.default_rng(rng_seed)
    picks = rng.choice(len(segments), size=min(SNAPS, len(segments)), replace=False)
    snaps = []
    for i in picks:
        mid = segments.geometry.iloc[int(i)].interpolate(0.5, normalized=True)
        snaps.append(index.snap(mid.x, mid.y))
    now = floods.now_local()
    report_fids = []
    for k in range(reports):
        report_fids.append(floods.add_report(
            store, snaps[k % len(snaps)], user=SEED_USER, role=ROLE,
            depth_cm=float(rng.choice(DEPTHS)), hours=12.0,
            observed_at=now - timedelta(minutes=int(rng.integers(30, 300))),
            source=floods.SOURCES[k % len(floods.SOURCES)], note=f"seed #{k + 1}",
        ))  # fmt: skip
    users = tuple(f"editor{i + 1:02d}" for i in range(editors))
    for name in users:
        auth.add_user(store, name, auth.random_password(), display_name=f"Cán bộ {name}",
                      role=ROLE, actor=SEED_USER, actor_role="admin")  # fmt: skip
    written = store.read_layer(PARCELS, columns=list(FIELDS))
    initial = {
        int(fid): {k: _plain(v) for k, v in zip(FIELDS, values, strict=True)}
        for fid, values in zip(written.index, written[list(FIELDS)].itertuples(index=False),
                               strict=True)
    }  # fmt: skip
    fids = tuple(sorted(initial))
    hot_fids = tuple(int(f) for f in rng.choice(fids, size=min(hot, len(fids)), replace=False))
    return Seeded(fids, hot_fids, initial, users, tuple(report_fids[:HOT_REPORTS]),
                  tuple(snaps), len(segments))  # fmt: skip


def _plain(value: Any) -> Any:
    """A value as JSON gives it back: None for missing (None, NaN, NA)."""
    if isinstance(value, list | dict | tuple):
        return value
    return None if pd.isna(value) else value


# --- the checks -------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What the checks found after a run; every count must be 0."""

    lost_updates: int = 0
    """Committed changes the data does not show: versions missing or written twice, final
    values other than the last committed."""
    unexplained: int = 0
    """Versions nobody reported committing."""
    history_gaps: int = 0
    """Commits without exactly one matching history row (version, user, before and after)."""
    history_extra: int = 0
    audit_gaps: int = 0
    audit_extra: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.problems) < 30:
            self.problems.append(text)

    @property
    def failed(self) -> int:
        return (self.lost_updates + self.unexplained + self.history_gaps + self.history_extra
                + self.audit_gaps + self.audit_extra)  # fmt: skip


def verify(
    store: Store,
    commits: Sequence[Commit],
    initial: Mapping[int, Mapping[str, Any]],
    seed_user: str = SEED_USER,
) -> Verdict:
    """Check a run against the store: no lost update, a complete history, a complete audit.

    For every feature of the parcels and the flood reports: its version is 1 plus the updates
    the editors committed to it, each version was committed once, and each field holds the
    value of the last commit that wrote it. Every commit has exactly one history row and one
    audit row with its version, user, before and after; each history row's ``before`` is what
    the previous version left (``initial`` for the parcels, the insert row for reports); no
    row is there that nobody committed.
    """
    verdict = Verdict()
    for layer in (PARCELS, REPORTS):
        mine = [c for c in commits if c.layer == layer]
        if not store.has_layer(layer):
            verdict.lost_updates += len(mine)
            if mine:
                verdict.note(f"{layer}: {len(mine)} commits, the layer is gone")
            continue
        _check_versions(store, layer, mine, verdict)
        history = _check_history(store, layer, mine, initial if layer == PARCELS else None,
                                 seed_user, verdict)  # fmt: skip
        _check_audit(store, layer, mine, history, seed_user, verdict)
    return verdict


def _check_versions(store: Store, layer: str, commits: Sequence[Commit], verdict: Verdict) -> None:
    versions = {int(f): int(v) for f, v in store.read_layer(layer, columns=[])["_version"].items()}
    by_fid: dict[int, list[Commit]] = defaultdict(list)
    for c in commits:
        by_fid[c.fid].append(c)
    for fid, version in versions.items():
        if fid not in by_fid and version != 1:
            verdict.unexplained += version - 1
            verdict.note(f"{layer} {fid}: at version {version}, nobody reported changing it")
    for fid, mine in sorted(by_fid.items()):
        updates = [c for c in mine if c.action == "update"]
        twice = [v for v, n in Counter(c.version for c in updates).items() if n > 1]
        for v in twice:
            who = sorted(c.user for c in updates if c.version == v)
            verdict.lost_updates += len(who) - 1
            verdict.note(f"{layer} {fid}: version {v} committed by {len(who)} editors {who}")
        if fid not in versions:
            verdict.lost_updates += len(mine)
            verdict.note(f"{layer} {fid}: {len(mine)} commits, the feature is gone")
            continue
        expected = 1 + len(updates)
        if versions[fid] != expected:
            if versions[fid] < expected:
                verdict.lost_updates += expected - versions[fid]
            else:
                verdict.unexplained += versions[fid] - expected
            verdict.note(f"{layer} {fid}: at version {versions[fid]}, expected {expected} "
                         f"(1 + {len(updates)} committed updates)")  # fmt: skip
        elif sorted(c.version for c in updates) != list(range(2, expected + 1)):
            verdict.lost_updates += 1
            seen = sorted(c.version for c in updates)
            verdict.note(f"{layer} {fid}: versions committed {seen}, expected 2..{expected}")
        last: dict[str, tuple[int, Any]] = {}
        for c in sorted(mine, key=lambda c: c.version):
            for key, value in c.change.items():
                last[key] = (c.version, value)
        props = store.get_feature(layer, fid).props
        for key, (version, value) in sorted(last.items()):
            if props.get(key) != value:
                verdict.lost_updates += 1
                verdict.note(f"{layer} {fid}: {key} is {props.get(key)!r}, the last commit "
                             f"(version {version}) wrote {value!r}")  # fmt: skip


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts; a missing ``before``/``after``/``detail`` (NaN in the frame) as None."""
    return [
        {str(k): _plain(v) if k in ("before", "after", "detail") else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def _history_key(fid: Any, version: Any, action: Any) -> tuple[int, int, str]:
    return int(fid), int(version), str(action)


def _check_history(
    store: Store,
    layer: str,
    commits: Sequence[Commit],
    initial: Mapping[int, Mapping[str, Any]] | None,
    seed_user: str,
    verdict: Verdict,
) -> dict[tuple[int, int, str], dict[str, Any]]:
    """Check the history rows; return the one row per commit (fid, version, action) found."""
    rows: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for record in _records(store.history(layer)):
        key = _history_key(record["fid"], record["version"], record["action"])
        rows[key].append(record)
    found: dict[tuple[int, int, str], dict[str, Any]] = {}
    committed = set()
    for c in commits:
        key = _history_key(c.fid, c.version, c.action)
        committed.add(key)
        hits = rows.get(key, [])
        if len(hits) != 1:
            verdict.history_gaps += 1
            verdict.note(f"{layer} {c.fid} v{c.version} {c.action} by {c.user}: {len(hits)} "
                         "history rows, expected 1")  # fmt: skip
            continue
        hit = found[key] = hits[0]
        after, before = hit["after"] or {}, hit["before"]
        if c.action == "update":
            right = after == c.change and isinstance(before, dict) and set(before) == set(after)
        else:
            right = before is None and all(after.get(k) == v for k, v in c.change.items())
        if hit["changed_by"] != c.user or not right:
            verdict.history_gaps += 1
            verdict.note(f"{layer} {c.fid} v{c.version}: history row by {hit['changed_by']!r} "
                         f"before {before!r} after {after!r}; {c.user} committed "
                         f"{c.change!r}")  # fmt: skip
    for key, hits in rows.items():
        if key in committed:
            continue
        if key[2] == "insert" and all(h["changed_by"] == seed_user for h in hits):
            continue
        verdict.history_extra += len(hits)
        verdict.note(f"{layer} {key}: {len(hits)} history rows nobody reported committing")
    # the chain: each version's before is what the versions below it left
    by_fid: dict[int, list[int]] = defaultdict(list)
    for c in commits:
        if c.action == "update":
            by_fid[c.fid].append(c.version)
    for fid, versions in by_fid.items():
        if initial is not None:
            state = dict(initial.get(fid, {}))
        else:
            inserted = rows.get((fid, 1, "insert"), [])
            state = dict(inserted[0]["after"] or {}) if len(inserted) == 1 else {}
        for version in range(2, max(versions) + 1):
            hits = rows.get((fid, version, "update"), [])
            if len(hits) != 1:
                continue  # counted above, or a version nobody reported (counted as unexplained)
            before, after = hits[0]["before"] or {}, hits[0]["after"] or {}
            for key, value in before.items():
                if key in state and _plain(state[key]) != _plain(value):
                    verdict.history_gaps += 1
                    verdict.note(f"{layer} {fid} v{version}: history says {key} was {value!r}, "
                                 f"the version before left {state[key]!r}")  # fmt: skip
            state.update(after)
    return found


def _check_audit(
    store: Store,
    layer: str,
    commits: Sequence[Commit],
    history: Mapping[tuple[int, int, str], Mapping[str, Any]],
    seed_user: str,
    verdict: Verdict,
) -> None:
    frame = store.audit(layer_id=layer, action="feature.", limit=2**31 - 1)
    rows: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for record in _records(frame):
        detail = record["detail"] or {}
        key = _history_key(record["fid"], detail.get("version", 0),
                           str(record["action"]).removeprefix("feature."))  # fmt: skip
        rows[key].append(record)
    committed = set()
    for c in commits:
        key = _history_key(c.fid, c.version, c.action)
        committed.add(key)
        hits = rows.get(key, [])
        if len(hits) != 1:
            verdict.audit_gaps += 1
            verdict.note(f"{layer} {c.fid} v{c.version} {c.action} by {c.user}: {len(hits)} "
                         "audit rows, expected 1")  # fmt: skip
            continue
        hit, hist = hits[0], history.get(key)
        same = hist is None or (hit["after"] == hist["after"] and hit["before"] == hist["before"])
        if hit["actor"] != c.user or hit["role"] != ROLE or not same:
            verdict.audit_gaps += 1
            verdict.note(f"{layer} {c.fid} v{c.version}: audit row by {hit['actor']!r} "
                         f"({hit['role']!r}) after {hit['after']!r}; history after "
                         f"{None if hist is None else hist['after']!r}")  # fmt: skip
    for key, hits in rows.items():
        if key in committed:
            continue
        if key[2] == "insert" and all(h["actor"] == seed_user for h in hits):
            continue
        verdict.audit_extra += len(hits)
        verdict.note(f"{layer} {key}: {len(hits)} audit rows nobody reported committing")


# --- figures -----------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else NAN


def summarise(
    results: Sequence[EditorResult], *, tag: str, hot_fids: Sequence[int]
) -> tuple[dict[str, float], list[tuple[str, int, float, list[float], int, int]]]:
    """Figures of a run (keys ``<tag>_...``) and the table's rows: (label, done, ops/s,
    latencies in ms, conflicts, operations that succeeded after a conflict)."""
    ops = [op for r in results for op in r.ops]
    window = NAN
    if ops:
        window = max(op.start + op.seconds for op in ops) - min(op.start for op in ops)
    ok = [op for op in ops if op.outcome == "ok"]

    def rate(n: int) -> float:
        return n / window if window and window > 0 else NAN

    groups = [("parcel update", ("parcel",)), ("flood report, new", ("flood_add",)),
              ("flood report, superseded", ("flood_supersede",)),
              ("flood report, ended", ("flood_end",)),
              ("flood report, corrected", ("flood_correct",)),
              ("flood actions, all", KINDS[1:]), ("all operations", KINDS)]  # fmt: skip
    table = []
    for label, kinds in groups:
        done = [op for op in ok if op.kind in kinds]
        ms = [op.seconds * 1e3 for op in done]
        conflicts = sum(op.conflicts for op in ops if op.kind in kinds)
        resolved = sum(1 for op in done if op.conflicts)
        table.append((label, len(done), rate(len(done)), ms, conflicts, resolved))

    def lat(kinds: Sequence[str], q: float) -> float:
        return _pct([op.seconds * 1e3 for op in ok if op.kind in kinds], q)

    hot = set(hot_fids)
    out = {
        "ops_s": rate(len(ok)),
        "parcel_ops_s": rate(sum(op.kind == "parcel" for op in ok)),
        "flood_ops_s": rate(sum(op.kind != "parcel" for op in ok)),
        "ops": float(len(ok)),
        "window_s": window,
        "p50_ms": lat(KINDS, 50),
        "p95_ms": lat(KINDS, 95),
        "p99_ms": lat(KINDS, 99),
        "max_ms": lat(KINDS, 100),
        "parcel_p50_ms": lat(("parcel",), 50),
        "parcel_p95_ms": lat(("parcel",), 95),
        "parcel_p99_ms": lat(("parcel",), 99),
        "parcel_max_ms": lat(("parcel",), 100),
        "flood_p50_ms": lat(KINDS[1:], 50),
        "flood_p95_ms": lat(KINDS[1:], 95),
        "flood_p99_ms": lat(KINDS[1:], 99),
        "flood_max_ms": lat(KINDS[1:], 100),
        "conflicts": float(sum(op.conflicts for op in ops)),
        "retried": float(sum(1 for op in ops if op.conflicts)),
        "resolved": float(sum(1 for op in ok if op.conflicts)),
        "hot_resolved": float(
            sum(1 for op in ok if op.conflicts and op.hot and op.kind == "parcel")
        ),
        "moot": float(sum(op.outcome == "moot" for op in ops)),
        "gave_up": float(sum(op.outcome == "gave_up" for op in ops)),
        "errors": float(sum(r.error_count for r in results)),
        "commits": float(sum(len(r.commits) for r in results)),
    }
    for kind in KINDS:
        out[f"{kind}_ops_s"] = rate(sum(op.kind == kind for op in ok))
    out["hot_parcels"] = float(len(hot))
    return {f"{tag}_{k}": v for k, v in out.items()}, table


def print_table(table: Sequence[tuple[str, int, float, list[float], int, int]]) -> None:
    """Operations, rate and latency percentiles (ms) per kind."""
    print(f"    {'operation':<26} {'done':>6} {'op/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
          f"{'max':>7} {'conflicts':>9} {'resolved':>8}", flush=True)  # fmt: skip
    for label, done, ops_s, ms, conflicts, resolved in table:
        cells = " ".join(f"{_pct(ms, q):7.1f}" for q in (50, 95, 99, 100))
        print(f"    {label:<26} {done:>6} {ops_s:7.1f} {cells} {conflicts:>9} {resolved:>8}",
              flush=True)  # fmt: skip
    print("    (latency in ms from the first read to the saved commit, re-reads and retries "
          "after a conflict included; successful operations only)", flush=True)  # fmt: skip


# --- one backend -------------------------------------------------------------------------------


def measure_backend(
    url: str,
    *,
    tag: str,
    name: str,
    editors: int = EDITORS,
    seconds: float = SECONDS,
    n_parcels: int = N_PARCELS,
    hot: int = HOT_PARCELS,
    reports: int = SEED_REPORTS,
    think_s: float = 0.0,
    edges: gpd.GeoDataFrame | None = None,
    rng_seed: int = 11,
) -> tuple[dict[str, float], Verdict]:
    """Seed the empty store at ``url``, let ``editors`` processes edit it for ``seconds``, check
    it and print the figures. Returns the figures (keys ``<tag>_...``, among them
    ``<tag>_lost_updates``, ``<tag>_history_gaps`` and ``<tag>_errors``) and the verdict."""
    with open_store(url) as store:
        began = time.monotonic()
        seeded = seed(store, editors=editors, n_parcels=n_parcels, hot=hot, reports=reports,
                      edges=edges, rng_seed=rng_seed)  # fmt: skip
        seed_s = time.monotonic() - began
    print(f"    seeded in {seed_s:.1f} s: the ward layers, {len(seeded.parcel_fids):,} parcels "
          f"({len(seeded.hot_fids)} hot), {seeded.segments:,} street segments (OSM sample), "
          f"{reports} flood reports, {editors} editor accounts", flush=True)  # fmt: skip
    tasks = [
        EditorTask(url=url, user=user, index=i, seconds=seconds, seed=rng_seed,
                   parcel_fids=seeded.parcel_fids, hot_fids=seeded.hot_fids,
                   hot_reports=seeded.hot_reports, snaps=seeded.snaps, think_s=think_s)
        for i, user in enumerate(seeded.users)
    ]  # fmt: skip
    results, ready_s = run_editors(tasks)
    commits = [c for r in results for c in r.commits]
    with open_store(url, migrate=False) as store:
        verdict = verify(store, commits, seeded.initial)
    figures, table = summarise(results, tag=tag, hot_fids=seeded.hot_fids)
    figures |= {
        f"{tag}_lost_updates": float(verdict.lost_updates + verdict.unexplained),
        f"{tag}_history_gaps": float(verdict.history_gaps + verdict.history_extra),
        f"{tag}_audit_gaps": float(verdict.audit_gaps + verdict.audit_extra),
        f"{tag}_ready_s": ready_s,
    }
    print(f"    {editors} editor processes (spawned, one store connection each) ready in "
          f"{ready_s:.1f} s; ran {figures[f'{tag}_window_s']:.1f} s", flush=True)  # fmt: skip
    row(f"{name}: operations per second, {editors} editors", figures[f"{tag}_ops_s"], None,
        "op/s")  # fmt: skip
    row("  parcel updates per second", figures[f"{tag}_parcel_ops_s"], None, "op/s")
    row("  flood-report actions per second", figures[f"{tag}_flood_ops_s"], None, "op/s")
    row("  parcel update latency p95", figures[f"{tag}_parcel_p95_ms"], None, "ms")
    row("  flood action latency p95", figures[f"{tag}_flood_p95_ms"], None, "ms")
    row("  all operations latency p95", figures[f"{tag}_p95_ms"], None, "ms")
    print_table(table)
    print(f"    conflicts {figures[f'{tag}_conflicts']:.0f} in "
          f"{figures[f'{tag}_retried']:.0f} operations; {figures[f'{tag}_resolved']:.0f} saved "
          f"after re-reading, {figures[f'{tag}_hot_resolved']:.0f} of them on hot parcels; "
          f"{figures[f'{tag}_moot']:.0f} flood actions dropped because a colleague ended the "
          f"report first; {figures[f'{tag}_gave_up']:.0f} given up after {MAX_RETRIES} "
          f"conflicts", flush=True)  # fmt: skip
    print(f"    checks: {len(commits):,} commits; lost updates {verdict.lost_updates}, "
          f"unexplained versions {verdict.unexplained}, history gaps {verdict.history_gaps} "
          f"(+{verdict.history_extra} extra rows), audit gaps {verdict.audit_gaps} "
          f"(+{verdict.audit_extra} extra rows), unexpected errors "
          f"{figures[f'{tag}_errors']:.0f}", flush=True)  # fmt: skip
    for problem in verdict.problems[:10]:
        print(f"      ! {problem}", flush=True)
    errors = [e for r in results for e in r.errors]
    for text, n in Counter(e.split(": ", 1)[-1] for e in errors).most_common(5):
        print(f"      ! error ×{n}: {text}", flush=True)
    return figures, verdict


# --- PostgreSQL on loopback --------------------------------------------------------------------


def loopback_cluster() -> AbstractContextManager[str | None]:
    """A throwaway cluster on 127.0.0.1 with durable commits (see `bench.pg`)."""
    return throwaway_cluster(loopback=True)


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database on the server of ``admin_url`` (its user must be allowed to create
    databases and the PostGIS extension); dropped afterwards. The database of ``admin_url``
    itself is never written to."""
    name = f"ward_gis_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(admin_url)._replace(path="/" + name).geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))  # fmt: skip


@contextmanager
def postgres_server(pg: str | None) -> Iterator[str | None]:
    """``pg`` if given, else a throwaway loopback cluster's admin URL (None if there is none)."""
    if pg:
        yield pg
        return
    with loopback_cluster() as url:
        yield url


# --- the whole benchmark -----------------------------------------------------------------------


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'local socket'}:{parts.port or 5432}"


def run(
    backend: str = "both",
    editors: int = EDITORS,
    seconds: float = SECONDS,
    pg: str | None = None,
    *,
    n_parcels: int = N_PARCELS,
    hot: int = HOT_PARCELS,
    think_s: float = 0.0,
) -> dict[str, float]:
    """``editors`` editors update parcels and flood reports at once for ``seconds`` on each
    backend; check that no update was lost and the history and audit are complete.

    Parameters
    ----------
    backend
        ``gpkg``, ``postgis`` or ``both``.
    pg
        A PostgreSQL server (URL of any database on it) on which a scratch database is made
        and dropped; by default a throwaway cluster on 127.0.0.1.

    Returns
    -------
    dict of str to float
        Per backend tag (``gpkg``, ``pg``; NaN when not run): ``<tag>_ops_s`` (and
        ``_parcel_ops_s``, ``_flood_ops_s``, ``<kind>_ops_s`` per kind), ``<tag>_p50_ms``,
        ``_p95_ms``, ``_p99_ms``, ``_max_ms`` (all operations, and ``_parcel_…``,
        ``_flood_…``), ``<tag>_conflicts``, ``_retried`` (operations), ``_resolved``,
        ``_hot_resolved``, ``_moot``, ``_gave_up``, ``_errors``, ``_lost_updates``,
        ``_history_gaps``, ``_audit_gaps``; and over both: ``lost_updates``,
        ``history_gaps``, ``audit_gaps``, ``errors`` (all 0 after a sound run).

    Raises
    ------
    SystemExit
        With status 1 after printing why, when a check failed or a backend asked for could
        not be measured.
    """
    if backend not in ("gpkg", "postgis", "both"):
        raise ValueError(f"backend: expected gpkg, postgis or both, got {backend!r}")
    heading(f"Load: {editors} editors updating parcels and flood reports for {seconds:g} s")
    print(f"  each editor a spawned process with its own store connection and account; "
          f"{1 - FLOOD_SHARE:.0%} parcel edits ({HOT_SHARE:.0%} of them on {hot} hot parcels), "
          f"{FLOOD_SHARE:.0%} flood-report actions; every save at the version read, a "
          "conflict re-reads and saves again", flush=True)  # fmt: skip
    out: dict[str, float] = {}
    failures: list[str] = []
    plan = [("gpkg", "GeoPackage")] if backend in ("gpkg", "both") else []
    plan += [("pg", "PostGIS")] if backend in ("postgis", "both") else []
    measured: dict[str, dict[str, float]] = {}
    for tag, name in plan:
        if tag == "gpkg":
            with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
                print("  GeoPackage (a file in a temporary folder; WAL, busy timeout 30 s)",
                      flush=True)  # fmt: skip
                figures, verdict = measure_backend(
                    str(Path(tmp) / "load.gpkg"), tag=tag, name=name, editors=editors,
                    seconds=seconds, n_parcels=n_parcels, hot=hot, think_s=think_s,
                )  # fmt: skip
        else:
            with postgres_server(pg) as admin:
                if admin is None:
                    if backend == "postgis":
                        failures.append("PostGIS: no server to measure (see above)")
                    continue
                with scratch_database(admin) as url:
                    how = ("the server of --pg" if pg else
                           "a throwaway cluster, default durable settings")  # fmt: skip
                    print(f"  PostGIS over TCP at {_where(url)} ({how}; a scratch database)",
                          flush=True)  # fmt: skip
                    figures, verdict = measure_backend(
                        url, tag=tag, name=name, editors=editors, seconds=seconds,
                        n_parcels=n_parcels, hot=hot, think_s=think_s,
                    )  # fmt: skip
        measured[tag] = figures
        out |= figures
        bad = []
        if verdict.lost_updates or verdict.unexplained:
            bad.append(f"{verdict.lost_updates + verdict.unexplained} lost or unexplained updates")
        if verdict.history_gaps or verdict.history_extra:
            bad.append(f"{verdict.history_gaps + verdict.history_extra} history gaps")
        if verdict.audit_gaps or verdict.audit_extra:
            bad.append(f"{verdict.audit_gaps + verdict.audit_extra} audit gaps")
        if figures[f"{tag}_errors"]:
            bad.append(f"{figures[f'{tag}_errors']:.0f} unexpected errors")
        if figures[f"{tag}_gave_up"]:
            bad.append(f"{figures[f'{tag}_gave_up']:.0f} operations given up")
        if bad:
            failures.append(f"{name}: " + ", ".join(bad))
    for tag, figures in list(measured.items())[:1]:
        for other in ("gpkg", "pg"):
            if other not in measured:  # not run: NaN, as bench.store does for a skipped PostGIS
                out |= {other + k.removeprefix(tag): NAN for k in figures}
    for key in ("lost_updates", "history_gaps", "audit_gaps", "errors"):
        out[key] = float(sum(f.get(f"{t}_{key}", 0.0) for t, f in measured.items()))
    if failures:
        print(f"\nLOAD TEST FAILED: {'; '.join(failures)}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.load``: the load test, its figures and its checks."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--backend", choices=["gpkg", "postgis", "both"], default="both")
    parser.add_argument("--editors", type=int, default=EDITORS, help="editor processes")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how long they edit")
    parser.add_argument("--pg", metavar="URL", default=None,
                        help="a PostgreSQL server (URL of any database on it; the user must "
                             "create databases): a scratch database is made there and "
                             "dropped; default: a throwaway cluster on 127.0.0.1")  # fmt: skip
    args = parser.parse_args(argv)
    if args.editors < 1 or args.seconds <= 0:
        parser.error("--editors and --seconds must be positive")
    print(run(args.backend, args.editors, args.seconds, args.pg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
