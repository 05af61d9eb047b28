"""Flooded streets: reports snapped to segments, their lifecycle, the state at any moment,
and the streets the ward designates as flood-prone with the programme's works."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry

from geo import auth
from geo.errors import GISInputError, NotFoundError, RuleError
from geo.legends import DEPTH_CLASSES as DEPTH_CLASSES
from geo.legends import DEPTH_COLOURS as DEPTH_COLOURS
from geo.legends import depth_class
from geo.names import name_key, strip_diacritics
from geo.routing import Flood
from geo.store import FeatureUpdate, Store
from geo.streets import save_streets
from geo.values import is_blank

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
REPORTS_LAYER = "flood_reports"
PRONE_LAYER = "flood_prone"
SOURCES = ("field_officer", "camera", "resident_call", "sensor")
EFFECTS = ("passable", "closed")
WORK_STATUSES = ("planned", "in_progress", "done", "suspended")
EDIT_ROLES = auth.roles_for("flood.report")
CONFIRM_ROLES = auth.roles_for("flood.confirm")
ROLES = auth.ROLES
DEFAULT_REPORT_HOURS = 6.0
SNAP_MAX_M = 40.0
MAX_DEPTH_CM = 500.0
MAX_TEXT = 1000
STATE_COLUMNS = [
    "segment_id", "name", "depth_cm", "depth_class", "closed", "confirmed", "reports",
    "report_ids", "since", "until", "sources",
]  # fmt: skip
REPORT_FIELDS = (
    "segment_ids", "street", "depth_cm", "observed_at", "source", "effect", "expected_end",
    "expires_at", "confirmed_at", "confirmed_by", "ended_at", "end_reason", "note", "reporter",
    "supersedes", "marked_as",
)  # fmt: skip


# --- values -------------------------------------------------------------------------------
def now_local() -> datetime:
    """The current moment in the ward's time zone, to the second."""
    return datetime.now(TIMEZONE).replace(microsecond=0)


def parse_time(value: Any, name: str) -> datetime:
    """An aware moment from a ``datetime`` or ISO text; a naive one is read as Vietnam time.

    Raises
    ------
    GISInputError
        If ``value`` is not a date-time.
    """
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as e:
            msg = f"{name}: expected a date-time such as 2026-10-14T17:30+07:00, got {value!r}"
            raise GISInputError(msg) from e
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        raise GISInputError(f"{name}: expected a date-time, got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TIMEZONE)
    return moment.astimezone(TIMEZONE).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 text in Vietnam time (``2026-10-14T17:30:00+07:00``)."""
    return moment.astimezone(TIMEZONE).replace(microsecond=0).isoformat()


def check_depth(value: Any) -> float | None:
    """A depth in cm (0 to 500) or None when unknown."""
    if is_blank(value):
        return None
    try:
        depth = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"depth_cm: expected a number of centimetres, got {value!r}") from e
    if not math.isfinite(depth) or depth < 0 or depth > MAX_DEPTH_CM:
        msg = f"depth_cm: expected 0 to {MAX_DEPTH_CM:g} cm, got {value!r}"
        raise GISInputError(msg)
    return round(depth, 1)


def _choice(value: Any, name: str, options: Sequence[str]) -> str:
    if value not in options:
        raise GISInputError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    return str(value)


def _text(value: Any, name: str) -> str:
    if is_blank(value):
        return ""
    text = str(value).replace("\x00", "").strip()
    if len(text) > MAX_TEXT:
        raise GISInputError(f"{name}: expected at most {MAX_TEXT} characters, got {len(text)}")
    return text


def check_role(role: str, action: str, permission: str = "flood.report") -> None:
    """Refuse a role that may not do ``action`` (checked here, not only by hiding buttons):
    :func:`geo.auth.require` with ``permission``."""
    auth.require(role, permission, action)


def segment_list(value: Any) -> list[str]:
    """The segment ids a record holds (stored as a JSON list)."""
    if not isinstance(value, list | tuple | np.ndarray) and is_blank(value):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    return [str(v) for v in value if not is_blank(v)]


# --- snapping -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Snap:
    """Where a click lands on the network: the street segments (both directions) and the point."""

    segment_ids: list[str]
    name: str
    point: Point
    distance_m: float


class SegmentIndex:
    """The street segments with a spatial index in metres, built once per network.

    Both directions of a two-way street are one physical street: a flood on one floods both,
    so snapping returns the twin segment too.
    """

    def __init__(self, segments: gpd.GeoDataFrame, measure_crs: str = "EPSG:9210"):
        missing = sorted({"segment_id", "u", "v", "name"} - set(segments.columns))
        if missing:
            raise GISInputError(f"segments: expected street segments, missing columns {missing}")
        if segments.crs is None:
            raise GISInputError("segments: the street segments have no CRS")
        self.segments = segments.reset_index(drop=True)
        self.measure_crs = CRS.from_user_input(measure_crs)
        self.metric = self.segments.geometry.to_crs(self.measure_crs).values
        self.tree = shapely.STRtree(self.metric)
        self.ids = self.segments["segment_id"].astype(str).to_numpy()
        self.names = self.segments["name"].map(lambda v: "" if is_blank(v) else str(v)).to_numpy()
        twins: dict[tuple[int, int], list[int]] = {}
        for i, (u, v) in enumerate(zip(self.segments["u"], self.segments["v"], strict=True)):
            twins.setdefault((min(int(u), int(v)), max(int(u), int(v))), []).append(i)
        self._pairs = twins
        self._by_key: dict[str, list[str]] | None = None
        self._uv = list(zip(self.segments["u"].astype(int), self.segments["v"].astype(int),
                            strict=True))  # fmt: skip

    def _metric(self, geom: BaseGeometry) -> BaseGeometry:
        return gpd.GeoSeries([geom], crs=4326).to_crs(self.measure_crs).iloc[0]

    def _with_twins(self, rows: Iterable[int]) -> list[int]:
        out: list[int] = []
        for i in rows:
            u, v = self._uv[i]
            for j in self._pairs[(min(u, v), max(u, v))]:
                # a parallel edge between the same two nodes may be another street: keep only
                # the reverse of this very line
                same = j == i or self.metric[j].hausdorff_distance(self.metric[i]) < 1.0
                if same and j not in out:
                    out.append(j)
        return out

    def snap(self, lon: float, lat: float, *, max_m: float = SNAP_MAX_M) -> Snap:
        """The segment nearest a clicked point (lon, lat), within ``max_m`` metres.

        Raises
        ------
        NotFoundError
            When no street is within ``max_m`` metres.
        """
        _check_lonlat(lon, lat)
        here = self._metric(Point(lon, lat))
        index = self.tree.nearest(here)
        if index is None:
            raise NotFoundError("point: the street network is empty")
        distance = float(self.metric[int(index)].distance(here))
        if distance > max_m:
            msg = (
                f"point: expected a click within {max_m:g} m of a street, the nearest is "
                f"{distance:.0f} m away ({lat:.5f}, {lon:.5f})"
            )
            raise NotFoundError(msg)
        rows = self._with_twins([int(index)])
        line = self.metric[int(index)]
        on_line = line.interpolate(line.project(here))
        point = gpd.GeoSeries([on_line], crs=self.measure_crs).to_crs(4326).iloc[0]
        return Snap(
            [str(self.ids[j]) for j in rows], str(self.names[int(index)]), point,
            round(distance, 1),
        )  # fmt: skip

    def along(self, line: LineString, *, buffer_m: float = 20.0, min_share: float = 0.5) -> Snap:
        """The segments a line drawn along streets covers: at least ``min_share`` of each
        segment's length lies within ``buffer_m`` metres of the line.

        Raises
        ------
        NotFoundError
            When the line follows no street.
        """
        if not isinstance(line, LineString) or line.is_empty or len(line.coords) < 2:
            raise GISInputError(f"line: expected a line of two or more points, got {line!r}")
        for lon, lat in line.coords:
            _check_lonlat(lon, lat)
        drawn = self._metric(line)
        zone = drawn.buffer(buffer_m)
        hits = [int(i) for i in self.tree.query(zone)]
        rows = [
            i for i in hits
            if self.metric[i].length == 0
            or self.metric[i].intersection(zone).length / self.metric[i].length >= min_share
        ]  # fmt: skip
        if not rows:
            raise NotFoundError(
                f"line: expected a line drawn along a street, found no segment with "
                f"{min_share:.0%} of its length within {buffer_m:g} m of it"
            )
        rows = self._with_twins(rows)
        names = [str(self.names[i]) for i in rows if self.names[i]]
        name = max(sorted(set(names)), key=names.count) if names else ""
        mid = drawn.interpolate(0.5, normalized=True)
        point = gpd.GeoSeries([mid], crs=self.measure_crs).to_crs(4326).iloc[0]
        return Snap([str(self.ids[i]) for i in rows], name, point, 0.0)

    def from_segments(self, segment_ids: Sequence[str]) -> Snap:
        """A report location from segment ids (a stretch marked with two clicks): the
        segments with their twins, the main street name and the stretch's midpoint."""
        where = {sid: i for i, sid in enumerate(self.ids)}
        unknown = [s for s in segment_ids if s not in where]
        if unknown or not segment_ids:
            raise NotFoundError(f"segment_ids: expected segments of the network, got {unknown[:5]}")
        rows = self._with_twins(where[s] for s in segment_ids)
        names = [str(self.names[i]) for i in rows if self.names[i]]
        name = max(sorted(set(names)), key=names.count) if names else ""
        line = shapely.line_merge(shapely.union_all([self.metric[where[s]] for s in segment_ids]))
        mid = line.interpolate(0.5, normalized=True) if isinstance(line, LineString) else (
            line.representative_point())  # fmt: skip
        point = gpd.GeoSeries([mid], crs=self.measure_crs).to_crs(4326).iloc[0]
        return Snap([str(self.ids[i]) for i in rows], name, point, 0.0)

    def with_twins(self, segment_ids: Iterable[str]) -> list[str]:
        """The segments and their reverse twins (the other direction of the same street)."""
        where = {sid: i for i, sid in enumerate(self.ids)}
        rows = self._with_twins(where[s] for s in segment_ids if s in where)
        return sorted(str(self.ids[i]) for i in rows)

    def street(self, name: str) -> list[str]:
        """Every segment of a street, matched by name however it is written (accents, case,
        "Đường"); a segment named "A / B" belongs to both streets."""
        key = street_key(name)
        if not key:
            raise GISInputError(f"name: expected a street name, got {name!r}")
        if self._by_key is None:  # built on first use: one pass over the names, not per call
            table: dict[str, list[str]] = {}
            for sid, names in zip(self.ids, self.names, strict=True):
                for part_key in {street_key(p) for p in str(names).split(" / ") if p.strip()}:
                    table.setdefault(part_key, []).append(str(sid))
            self._by_key = table
        return list(self._by_key.get(key, []))

    def street_names(self) -> list[str]:
        """The network's street names, sorted."""
        parts = {p.strip() for n in self.names for p in str(n).split(" / ") if p.strip()}
        return sorted(parts, key=street_key)

    def geometry_of(self, segment_ids: Iterable[str]) -> BaseGeometry:
        """The streets' lines (EPSG:4326), each physical street once."""
        wanted = set(segment_ids)
        geoms = self.segments.geometry
        lines = [g for sid, g in zip(self.ids, geoms, strict=True) if sid in wanted]
        if not lines:
            return MultiLineString()
        merged = shapely.line_merge(shapely.union_all(lines))
        return merged


def street_key(name: str) -> str:
    """A street name for matching: no accents, case or "Đường" prefix ("đường số 12" → "so12")."""
    words = strip_diacritics(str(name)).lower().split()
    if len(words) > 1 and words[0] in ("duong", "pho"):
        words = words[1:]
    return name_key(" ".join(words))


def parse_latlon(text: str, name: str) -> tuple[float, float]:
    """``"10.78,106.69"`` → (lon, lat); longitude first is caught and explained."""
    try:
        lat, lon = (float(v) for v in str(text).split(","))
    except ValueError as e:
        msg = f"{name}: expected LAT,LON such as 10.7857,106.6920, got {text!r}"
        raise GISInputError(msg) from e
    if abs(lat) > 90 and abs(lon) <= 90:
        msg = f"{name}: {text!r} looks like LON,LAT; give latitude first ({lon},{lat})"
        raise GISInputError(msg)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        msg = f"{name}: expected latitude -90..90 and longitude -180..180, got {text!r}"
        raise GISInputError(msg)
    return lon, lat


def _check_lonlat(lon: float, lat: float) -> None:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"point: expected numbers, got lon={lon!r} lat={lat!r}") from e
    if not math.isfinite(lon + lat):
        raise GISInputError(f"point: expected finite numbers, got {lon}, {lat}")
    if 90 < abs(lat) <= 180 and abs(lon) <= 90:
        raise GISInputError(
            f"point: latitude {lat} and longitude {lon} look swapped; give longitude {lat} "
            f"and latitude {lon}"
        )
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GISInputError(f"point: expected lon -180..180 and lat -90..90, got {lon}, {lat}")


# --- reports ------------------------------------------------------------------------------
def report_props(
    snap: Snap,
    *,
    depth_cm: Any,
    observed_at: Any,
    source: str,
    effect: str = "passable",
    expected_end: Any = None,
    hours: float = DEFAULT_REPORT_HOURS,
    confirmed: bool = False,
    note: str = "",
    user: str,
    role: str,
    marked_as: str = "point",
    supersedes: int | None = None,
) -> dict[str, Any]:
    """A validated flood report's attributes; it expires at ``expected_end``, else ``hours``
    after it was observed.

    Raises
    ------
    GISInputError
        For a bad depth, source, effect or time, or an end before the observation.
    PermissionDeniedError
        If ``role`` may not mark floods, or may not confirm and ``confirmed`` is set.
    """
    check_role(role, "mark floods")
    if confirmed:
        check_role(role, "confirm flood reports", "flood.confirm")
    if not snap.segment_ids:
        raise GISInputError("segment_ids: expected at least one street segment, got none")
    if not (isinstance(hours, int | float) and 0 < hours <= 24 * 14):
        raise GISInputError(f"hours: expected 0 to 336 hours, got {hours!r}")
    observed = parse_time(observed_at, "observed_at")
    if observed > now_local() + timedelta(minutes=10):
        raise GISInputError(f"observed_at: expected a time not in the future, got {iso(observed)}")
    end = None if is_blank(expected_end) else parse_time(expected_end, "expected_end")
    if end is not None and end <= observed:
        msg = f"expected_end: expected after the observation {iso(observed)}, got {iso(end)}"
        raise GISInputError(msg)
    expires = end or observed + timedelta(hours=float(hours))
    stamp = iso(now_local())
    return {
        "segment_ids": list(snap.segment_ids),
        "street": _text(snap.name, "street"),
        "depth_cm": check_depth(depth_cm),
        "observed_at": iso(observed),
        "source": _choice(source, "source", SOURCES),
        "effect": _choice(effect, "effect", EFFECTS),
        "expected_end": iso(end) if end else None,
        "expires_at": iso(expires),
        "confirmed_at": stamp if confirmed else None,
        "confirmed_by": user if confirmed else None,
        "ended_at": None,
        "end_reason": "",
        "note": _text(note, "note"),
        "reporter": _text(user, "user") or "?",
        "supersedes": supersedes,
        "marked_as": _choice(marked_as, "marked_as", ("point", "line")),
    }


def add_report(
    store: Store,
    snap: Snap,
    *,
    user: str,
    role: str,
    reason: str = "",
    expected_version: int | None = None,
    **fields: Any,
) -> int:
    """Record a flood report at a snapped point or drawn line; return its fid.

    ``fields`` are those of :func:`report_props`. A report that ``supersedes`` another (the
    water rose or fell) ends that one at this report's observation time, in the same
    transaction; ``expected_version`` is the version of that report the planner saw, so a
    colleague's change in between is refused (``ConflictError``), not silently replaced.
    """
    props = report_props(snap, user=user, role=role, **fields)
    updates: list[FeatureUpdate] = []
    old_id = props.get("supersedes")
    if old_id is not None:
        old = store.get_feature(REPORTS_LAYER, int(old_id))
        if not is_blank(old.props.get("ended_at")):
            raise RuleError(f"supersedes: report {old_id} has already ended")
        before = parse_time(old.props["observed_at"], "observed_at")
        if parse_time(props["observed_at"], "observed_at") <= before:
            msg = (
                f"observed_at: expected after report {old_id}'s observation {iso(before)}, "
                f"got {props['observed_at']}"
            )
            raise GISInputError(msg)
        seen = old.version if expected_version is None else int(expected_version)
        updates.append(FeatureUpdate(
            int(old_id), seen,
            {"ended_at": props["observed_at"], "end_reason": "superseded"},
            reason="superseded by a new observation",
        ))  # fmt: skip
    frame = gpd.GeoDataFrame([props], geometry=[snap.point], crs=4326)
    result = store.apply_edits(
        REPORTS_LAYER, inserts=frame, updates=updates, user=user,
        reason=reason or "flood reported", title="Báo cáo ngập / Flood reports",
        source="Ward officers and residents", licence="Ward record",
        effective_at=props["observed_at"], role=role,
    )  # fmt: skip
    return result.inserted[0]


def _report(store: Store, fid: int) -> dict[str, Any]:
    return dict(store.get_feature(REPORTS_LAYER, int(fid)).props)


def confirm_report(
    store: Store, fid: int, *, expected_version: int, user: str, role: str, at: Any = None
) -> None:
    """Mark a report confirmed (approvers and admins); stale versions raise ``ConflictError``."""
    check_role(role, "confirm flood reports", "flood.confirm")
    props = _report(store, fid)
    if not is_blank(props.get("confirmed_at")):
        raise RuleError(f"report {fid}: already confirmed by {props.get('confirmed_by')}")
    when = iso(parse_time(at, "at")) if at is not None else iso(now_local())
    store.apply_edits(
        REPORTS_LAYER, user=user, reason="confirmed", role=role,
        updates=[FeatureUpdate(int(fid), expected_version,
                               {"confirmed_at": when, "confirmed_by": user})],
    )  # fmt: skip


def end_report(
    store: Store,
    fid: int,
    *,
    expected_version: int,
    user: str,
    role: str,
    at: Any = None,
    reason: str = "water receded",
) -> None:
    """End a report now (or at ``at``): the water receded, or the report was wrong."""
    check_role(role, "end flood reports")
    props = _report(store, fid)
    if not is_blank(props.get("ended_at")):
        raise RuleError(f"report {fid}: already ended at {props.get('ended_at')}")
    when = parse_time(at, "at") if at is not None else now_local()
    observed = parse_time(props["observed_at"], "observed_at")
    if when < observed:
        raise GISInputError(f"at: expected after the observation {iso(observed)}, got {iso(when)}")
    text = _text(reason, "reason") or "ended"
    store.apply_edits(
        REPORTS_LAYER, user=user, reason=text, role=role,
        updates=[FeatureUpdate(int(fid), expected_version,
                               {"ended_at": iso(when), "end_reason": text})],
    )  # fmt: skip


def correct_report(
    store: Store,
    fid: int,
    *,
    expected_version: int,
    user: str,
    role: str,
    reason: str,
    depth_cm: Any = ...,
    effect: Any = ...,
    expected_end: Any = ...,
    note: Any = ...,
    hours: float = DEFAULT_REPORT_HOURS,
) -> None:
    """Correct a report that was recorded wrong (a written reason is required and kept).

    A change in the water is a new observation (:func:`add_report` with ``supersedes``), not a
    correction: the state at past moments stays what was observed then.
    """
    check_role(role, "correct flood reports")
    text = _text(reason, "reason")
    if len(text) < 5:
        raise GISInputError(f"reason: expected why the report is corrected, got {reason!r}")
    props = _report(store, fid)
    change: dict[str, Any] = {}
    if depth_cm is not ...:
        change["depth_cm"] = check_depth(depth_cm)
    if effect is not ...:
        change["effect"] = _choice(effect, "effect", EFFECTS)
    if note is not ...:
        change["note"] = _text(note, "note")
    if expected_end is not ...:
        observed = parse_time(props["observed_at"], "observed_at")
        end = None if is_blank(expected_end) else parse_time(expected_end, "expected_end")
        if end is not None and end <= observed:
            msg = f"expected_end: expected after the observation {iso(observed)}, got {iso(end)}"
            raise GISInputError(msg)
        change["expected_end"] = iso(end) if end else None
        change["expires_at"] = iso(end or observed + timedelta(hours=float(hours)))
    if not change:
        raise GISInputError("correct_report: expected at least one field to change, got none")
    store.apply_edits(
        REPORTS_LAYER, user=user, reason=text, role=role,
        updates=[FeatureUpdate(int(fid), expected_version, change)],
    )  # fmt: skip


def read_reports(store: Store) -> gpd.GeoDataFrame:
    """Every flood report (an empty frame with the report columns when there is none)."""
    if not store.has_layer(REPORTS_LAYER):
        return empty_reports()
    frame = store.read_layer(REPORTS_LAYER)
    for name in REPORT_FIELDS:
        if name not in frame.columns:
            frame[name] = None
    return frame


def empty_reports() -> gpd.GeoDataFrame:
    """No reports, with the report columns."""
    columns: dict[str, Any] = {name: pd.Series(dtype=object) for name in REPORT_FIELDS}
    columns["_version"] = pd.Series(dtype="int64")
    frame = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    frame.index.name = "fid"
    return frame


def _times(values: pd.Series) -> pd.Series:
    """ISO texts with offsets → UTC timestamps (NaT for blanks)."""
    clean = values.map(lambda v: None if is_blank(v) else str(v))
    return pd.to_datetime(clean, utc=True, format="ISO8601")


def report_status(reports: pd.DataFrame, at: Any = None) -> pd.DataFrame:
    """Each report's status at ``at`` (default now): ``live``, ``ended``, ``expired`` or
    ``future`` (observed after ``at``), with ``ends_at`` and whether it was ``confirmed`` then."""
    moment = pd.Timestamp(parse_time(at if at is not None else now_local(), "at"))
    out = pd.DataFrame(reports).copy()
    if out.empty:
        for name in ("status", "ends_at", "confirmed"):
            out[name] = pd.Series(dtype=object)
        return out
    observed = _times(out["observed_at"])
    expires = _times(out["expires_at"])
    ended = _times(out["ended_at"])
    confirmed_at = _times(out["confirmed_at"])
    ends = expires.where(ended.isna() | (expires < ended), ended)
    status = np.select(
        [observed > moment, ended.notna() & (ended <= moment), expires <= moment],
        ["future", "ended", "expired"],
        default="live",
    )
    out["status"] = status
    out["ends_at"] = ends.map(lambda t: None if pd.isna(t) else iso(t.to_pydatetime()))
    out["confirmed"] = confirmed_at.notna() & (confirmed_at <= moment)
    return out


def segment_state(
    segments: gpd.GeoDataFrame, reports: pd.DataFrame, at: Any = None
) -> gpd.GeoDataFrame:
    """The flooded segments at ``at`` (default now), from the reports live then.

    A report is live from its observation until it expires or is ended. A segment's depth is
    the deepest known depth among its live reports (unknown when none gives one); it is closed
    if any live report closes it, and confirmed if any was confirmed by then.

    Returns
    -------
    GeoDataFrame
        One row per flooded segment (EPSG:4326) with :data:`STATE_COLUMNS`.
    """
    if segments.crs is None:
        raise GISInputError("segments: the street segments have no CRS")
    status = report_status(reports, at)
    live = status[status["status"] == "live"] if not status.empty else status
    if live.empty:
        return _empty_state(segments.crs)
    rows = live.assign(segment_id=live["segment_ids"].map(segment_list), fid=live.index)
    rows = rows.explode("segment_id").dropna(subset=["segment_id"])
    rows["depth"] = pd.to_numeric(rows["depth_cm"], errors="coerce")
    rows["closed_flag"] = rows["effect"] == "closed"
    rows["observed"] = _times(rows["observed_at"])
    rows["ends"] = _times(rows["ends_at"])
    grouped = rows.groupby("segment_id", sort=True)
    state = pd.DataFrame({
        "depth_cm": grouped["depth"].max(),
        "closed": grouped["closed_flag"].any(),
        "confirmed": grouped["confirmed"].any(),
        "reports": grouped["fid"].nunique(),
        "report_ids": grouped["fid"].agg(lambda s: ",".join(str(int(v)) for v in sorted(set(s)))),
        "since": grouped["observed"].min().map(lambda t: iso(t.to_pydatetime())),
        "until": grouped["ends"].max().map(lambda t: iso(t.to_pydatetime())),
        "sources": grouped["source"].agg(lambda s: ", ".join(sorted({str(v) for v in s}))),
    }).reset_index()  # fmt: skip
    geo = segments[["segment_id", "name", segments.geometry.name]].copy()
    geo["segment_id"] = geo["segment_id"].astype(str)
    merged = geo.merge(state, on="segment_id", how="inner")
    merged["depth_class"] = merged["depth_cm"].map(depth_class)
    merged["closed"] = merged["closed"].astype(bool)
    merged["confirmed"] = merged["confirmed"].astype(bool)
    merged["reports"] = merged["reports"].astype(int)
    out = gpd.GeoDataFrame(merged[[*STATE_COLUMNS, "geometry"]], geometry="geometry",
                           crs=segments.crs)  # fmt: skip
    return out.to_crs(4326) if out.crs is not None and out.crs.to_epsg() != 4326 else out


def _empty_state(crs: Any) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {c: pd.Series(dtype=object) for c in STATE_COLUMNS}
    data["depth_cm"] = pd.Series(dtype=float)
    data["closed"] = pd.Series(dtype=bool)
    data["confirmed"] = pd.Series(dtype=bool)
    data["reports"] = pd.Series(dtype=int)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def off_network(reports: pd.DataFrame, segments: pd.DataFrame, at: Any = None) -> pd.DataFrame:
    """Live reports none of whose segments is in the current street network (the network was
    replaced since); they flood nothing on the map or in routes until re-snapped."""
    status = report_status(reports, at)
    if status.empty:
        return status
    known = set(segments["segment_id"].astype(str))
    live = status[status["status"] == "live"]
    lost = live["segment_ids"].map(lambda v: not (set(segment_list(v)) & known))
    return live[lost]


def resnap(store: Store, index: SegmentIndex, *, user: str, role: str, at: Any = None) -> list[int]:
    """Move live reports that are off the current network onto it: each report's point is
    snapped again (one history row each). Returns the fids moved; a report whose point is
    now far from any street is left as it is."""
    check_role(role, "re-snap flood reports")
    reports = read_reports(store)
    lost = off_network(reports, index.segments, at)
    updates = []
    rows = zip(lost.index.astype(int), lost["geometry"], lost["_version"], strict=True)
    for fid, geom, version in rows:
        point = geom.interpolate(0.5, normalized=True) if isinstance(geom, LineString) else geom
        try:
            snap = index.snap(point.x, point.y)
        except NotFoundError:
            continue
        updates.append(FeatureUpdate(int(fid), int(version),
                                     {"segment_ids": snap.segment_ids, "street": snap.name},
                                     reason="re-snapped to the new street network"))  # fmt: skip
    if updates:
        store.apply_edits(REPORTS_LAYER, updates=updates, user=user, role=role,
                          reason="re-snapped to the new street network")  # fmt: skip
    return [u.fid for u in updates]


def replace_network(
    store: Store,
    edges: gpd.GeoDataFrame,
    *,
    source: str,
    user: str,
    role: str,
    measure_crs: str = "EPSG:9210",
) -> tuple[int, list[int]]:
    """Store a new street network and move the live reports it leaves behind onto it.

    Segment ids come from OpenStreetMap node ids and change when ways are split or merged,
    so a new import could otherwise strand live reports. Returns (segments, re-snapped fids).
    """
    check_role(role, "import streets", "streets.import")
    count = save_streets(store, edges, source=source, user=user, role=role)
    moved = []
    if store.has_layer(REPORTS_LAYER):
        moved = resnap(store, SegmentIndex(edges, measure_crs), user=user, role=role)
    return count, moved


def floods_for_routing(state: pd.DataFrame) -> dict[str, Flood]:
    """The flood state as routing closures: segment id → depth and closure."""
    return {
        str(row.segment_id): Flood(_depth_or_none(row.depth_cm), bool(row.closed))
        for row in state.itertuples(index=False)
    }


def _depth_or_none(value: Any) -> float | None:
    return None if is_blank(value) else float(value)


def street_events(reports: pd.DataFrame, segment_ids: Iterable[str]) -> pd.DataFrame:
    """The reports on some segments (a street), oldest first: when each was observed and
    ended, its depth, effect, source and whether it was confirmed; for a street's history."""
    wanted = set(segment_ids)
    columns = ["fid", "observed_at", "ends_at", "depth_cm", "depth_class", "effect", "source",
               "confirmed", "street", "reporter", "end_reason"]  # fmt: skip
    if reports.empty or not wanted:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    hit = reports[reports["segment_ids"].map(lambda v: bool(wanted & set(segment_list(v))))]
    status = report_status(hit, now_local())
    if status.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = status.assign(fid=status.index)
    out["confirmed"] = out["confirmed_at"].map(lambda v: not is_blank(v))
    out["depth_class"] = out["depth_cm"].map(depth_class)
    out["depth_cm"] = pd.to_numeric(out["depth_cm"], errors="coerce")
    out = out.sort_values("observed_at", kind="stable")
    return pd.DataFrame(out[columns]).reset_index(drop=True)


# --- flood-prone streets ------------------------------------------------------------------
def check_works(works: Any) -> list[dict[str, Any]]:
    """The programme's works on a street: each with a name, a status and optional dates."""
    if not isinstance(works, list | tuple) and is_blank(works):
        return []
    if isinstance(works, str):
        try:
            works = json.loads(works)
        except json.JSONDecodeError as e:
            raise GISInputError(f"works: expected a list of works, got {works[:40]!r}") from e
    if not isinstance(works, list | tuple):
        raise GISInputError(f"works: expected a list of works, got {type(works).__name__}")
    out = []
    for i, work in enumerate(works):
        if not isinstance(work, Mapping):
            raise GISInputError(f"works[{i}]: expected a record, got {work!r}")
        name = _text(work.get("name"), f"works[{i}].name")
        if not name:
            raise GISInputError(f"works[{i}].name: expected the works' name, got nothing")
        status = _choice(work.get("status") or "planned", f"works[{i}].status", WORK_STATUSES)
        start, end = (_date(work.get(k), f"works[{i}].{k}") for k in ("start", "end"))
        if start and end and end < start:
            raise GISInputError(f"works[{i}].end: expected on or after {start}, got {end}")
        out.append({"name": name, "status": status, "start": start, "end": end,
                    "note": _text(work.get("note"), f"works[{i}].note")})  # fmt: skip
    return out


def _date(value: Any, name: str) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError as e:
        raise GISInputError(f"{name}: expected a date as YYYY-MM-DD, got {value!r}") from e


def designate(
    store: Store,
    index: SegmentIndex,
    *,
    street: str,
    segment_ids: Sequence[str] | None = None,
    reason: str = "",
    programme: str = "",
    works: Any = None,
    user: str,
    role: str,
) -> int:
    """Designate a whole street (by name) or some of its segments as flood-prone; return the fid.

    Raises
    ------
    NotFoundError
        When the street is not in the network (the network may not cover the ward yet).
    RuleError
        When the street is already designated (edit that record instead).
    """
    check_role(role, "designate flood-prone streets", "flood.prone")
    name = _text(street, "street")
    if segment_ids:
        known = set(index.ids)
        unknown = [s for s in segment_ids if s not in known]
        if unknown:
            raise NotFoundError(f"segment_ids: not in the street network: {unknown[:5]}")
        ids, scope = index.with_twins(segment_ids), "segments"
    else:
        ids, scope = index.street(name), "street"
        if not ids:
            raise NotFoundError(
                f"street: {name!r} is not in the imported street network; import the ward's "
                "streets (OpenStreetMap) first, or pick segments on the map"
            )
    current = read_prone(store)
    if scope == "street" and not current.empty:
        same = current[(current["scope"] == "street")
                       & (current["street"].map(street_key) == street_key(name))]  # fmt: skip
        if not same.empty:
            raise RuleError(f"street: {name!r} is already flood-prone (record {same.index[0]})")
    props = {
        "street": name, "scope": scope, "segment_ids": list(ids),
        "reason": _text(reason, "reason"), "programme": _text(programme, "programme"),
        "works": check_works(works), "designated_by": user,
        "designated_at": iso(now_local()),
    }  # fmt: skip
    frame = gpd.GeoDataFrame([props], geometry=[index.geometry_of(ids)], crs=4326)
    result = store.apply_edits(
        PRONE_LAYER, inserts=frame, user=user, reason=reason or "designated flood-prone",
        title="Tuyến đường ngập / Flood-prone streets", source="Ward anti-flooding programme",
        licence="Ward record; street geometry © OpenStreetMap contributors (ODbL)", role=role,
    )  # fmt: skip
    return result.inserted[0]


def update_prone(
    store: Store,
    fid: int,
    *,
    expected_version: int,
    user: str,
    role: str,
    reason: str = "",
    works: Any = ...,
    note_reason: Any = ...,
    programme: Any = ...,
) -> None:
    """Change a flood-prone street's works, reason or programme; one history row."""
    check_role(role, "edit flood-prone streets", "flood.prone")
    change: dict[str, Any] = {}
    if works is not ...:
        change["works"] = check_works(works)
    if note_reason is not ...:
        change["reason"] = _text(note_reason, "reason")
    if programme is not ...:
        change["programme"] = _text(programme, "programme")
    if not change:
        raise GISInputError("update_prone: expected at least one field to change, got none")
    store.apply_edits(
        PRONE_LAYER, user=user, reason=reason or "works updated", role=role,
        updates=[FeatureUpdate(int(fid), expected_version, change)],
    )  # fmt: skip


def read_prone(store: Store) -> gpd.GeoDataFrame:
    """The flood-prone streets (an empty frame with their columns when none)."""
    columns = ["street", "scope", "segment_ids", "reason", "programme", "works",
               "designated_by", "designated_at"]  # fmt: skip
    if not store.has_layer(PRONE_LAYER):
        data: dict[str, Any] = {c: pd.Series(dtype=object) for c in columns}
        data["_version"] = pd.Series(dtype="int64")
        frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
        frame.index.name = "fid"
        return frame
    frame = store.read_layer(PRONE_LAYER)
    for name in columns:
        if name not in frame.columns:
            frame[name] = None
    return frame


def programme_status(
    prone: pd.DataFrame, index: SegmentIndex | None, programme: Sequence[str]
) -> pd.DataFrame:
    """For each street the ward's programme names: whether the imported network has it and
    whether it is designated flood-prone yet."""
    designated = {street_key(s) for s in prone.get("street", pd.Series(dtype=object)).dropna()}
    rows = []
    for name in programme:
        found = len(index.street(name)) if index is not None else 0
        rows.append({"street": name, "segments": found,
                     "designated": street_key(name) in designated})  # fmt: skip
    return pd.DataFrame(rows, columns=["street", "segments", "designated"])


def summary(state: pd.DataFrame, segments: pd.DataFrame) -> dict[str, Any]:
    """Figures for the flooded streets: physical stretches (both directions counted once),
    streets, closed stretches, the deepest depth and the flooded length in metres."""
    if state.empty:
        return {"segments": 0, "streets": 0, "closed": 0, "deepest_cm": None, "length_m": 0.0}
    ids = segments["segment_id"].astype(str)
    lengths = dict(zip(ids, segments["length_m"], strict=True))
    # the nodes from the columns: OSM ids may be negative (JOSM files), so "u-v-k" is no key
    nodes = dict(zip(ids, zip(segments["u"].astype(int), segments["v"].astype(int),
                              strict=True), strict=True))  # fmt: skip
    seen: dict[tuple[int, int], tuple[float, bool]] = {}
    for sid, closed in zip(state["segment_id"], state["closed"], strict=True):
        u, v = nodes.get(str(sid), (0, 0))
        pair = (min(u, v), max(u, v))
        length, was_closed = seen.get(pair, (0.0, False))
        seen[pair] = (max(length, float(lengths.get(str(sid), 0.0))), was_closed or bool(closed))
    depths = pd.to_numeric(state["depth_cm"], errors="coerce")
    names = {str(n) for n in state["name"] if not is_blank(n)}
    return {
        "segments": len(seen),
        "streets": len(names),
        "closed": sum(1 for _, closed in seen.values() if closed),
        "deepest_cm": None if depths.isna().all() else float(depths.max()),
        "length_m": round(sum(length for length, _ in seen.values()), 1),
    }
