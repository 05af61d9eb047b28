"""The flood feed for the operations centre: current floods as GeoJSON and as CAP 1.2 alerts.

Both take the flood state built by :mod:`geo.floods` (one row per flooded street segment, see
:data:`COLUMNS`). :func:`to_cap` writes one OASIS Common Alerting Protocol 1.2 ``<alert>``
with an ``<info>`` block per segment and language; :func:`validate_cap` checks a document
against the official schema shipped in ``data/schemas/CAP-v1.2.xsd``.

Times follow CAP 1.2 section 3.3.2: ``YYYY-MM-DDThh:mm:ss`` and a numeric offset, no
fractional seconds, never ``Z``, and UTC written as ``-00:00`` (:data:`UTC_OFFSET`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
from lxml import etree
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from geo.config import DATA_DIR
from geo.crs import from_wgs84, resolve_crs, to_wgs84
from geo.errors import ConfigError, CRSError, GISInputError
from geo.values import is_blank

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = DATA_DIR / "schemas" / "CAP-v1.2.xsd"
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
"""The ward's zone: the time window in the description text is given in it."""

COLUMNS = (
    "segment_id", "name", "depth_cm", "depth_class", "closed", "confirmed", "reports",
    "since", "until", "sources",
)  # fmt: skip
"""The flood state's columns that the feed uses (others, such as ``report_ids``, are ignored)."""

DEPTH_SEVERITY = {"150+": "Extreme", "71-150": "Severe", "10-70": "Moderate", "unknown": "Unknown"}
"""CAP severity of each PetaBencana depth class."""

ATTRIBUTION = "© OpenStreetMap contributors"
"""The street geometry comes from OpenStreetMap (ODbL)."""

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
UTC_OFFSET = "-00:00"
"""How CAP 1.2 (section 3.3.2) writes the UTC offset: "-00:00", not "+00:00" nor "Z"."""

MAX_SCHEMA_ERRORS = 5
_CAP_UNSAFE = re.compile(r"[\s,<&]")
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")  # xs:language
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SEVERITY_ORDER = {"150+": 0, "71-150": 1, "10-70": 2, "unknown": 3}


# --- texts --------------------------------------------------------------------------------
def _depth_text(depth: float | None) -> str:
    return "" if depth is None else f"{depth:.0f}"


_TEXTS: dict[str, dict[str, Any]] = {
    "vi": {
        "event": "Ngập đường",
        "unnamed": "Đoạn đường không tên",
        "closed": "Cấm đường",
        "flooded": lambda d: f"ngập {d} cm" if d else "ngập chưa rõ độ sâu",
        "headline_open": lambda d: f"Ngập {d} cm" if d else "Ngập (chưa rõ độ sâu)",
        "class": {
            "150+": "trên 150 cm",
            "71-150": "71–150 cm",
            "10-70": "10–70 cm",
            "unknown": "chưa rõ",
        },
        "depth": lambda d: f"Độ sâu: {d} cm" if d else "Độ sâu: chưa rõ",
        "level": "mức",
        "road_closed": "Đường bị cấm lưu thông.",
        "road_open": "Đường chưa bị cấm.",
        "confirmed": "Đã được xác nhận.",
        "unconfirmed": "Chưa được xác nhận.",
        "sources": lambda s, n: f"Nguồn: {s} ({n} báo cáo).",
        "window": lambda a, b: f"Từ {a} đến {b} (giờ Việt Nam).",
        "time": "%H:%M ngày %d/%m/%Y",
        "unknown_time": "chưa rõ",
        "do_closed": "Không đi vào đoạn đường này; chọn đường khác.",
        "do_deep": "Tránh đoạn đường này: xe máy và ô tô con không đi qua được.",
        "do_moderate": "Hạn chế đi qua; nếu phải đi, đi chậm và cẩn thận, không tắt máy giữa "
        "chỗ ngập.",
        "do_unknown": "Chưa rõ độ sâu: tránh nếu có thể; nếu phải đi, đi chậm và cẩn thận.",
        "none": lambda w: f"Hiện không có điểm ngập nào tại {w}.",
    },
    "en": {
        "event": "Road flooding",
        "unnamed": "Unnamed street",
        "closed": "Road closed",
        "flooded": lambda d: f"flooded {d} cm" if d else "flooded, depth unknown",
        "headline_open": lambda d: f"Flooded {d} cm" if d else "Flooded (depth unknown)",
        "class": {
            "150+": "over 150 cm",
            "71-150": "71–150 cm",
            "10-70": "10–70 cm",
            "unknown": "unknown",
        },
        "depth": lambda d: f"Depth: {d} cm" if d else "Depth: unknown",
        "level": "class",
        "road_closed": "The road is closed to traffic.",
        "road_open": "The road is not closed.",
        "confirmed": "Confirmed.",
        "unconfirmed": "Not yet confirmed.",
        "sources": lambda s, n: f"Sources: {s} ({n} report{'' if n == 1 else 's'}).",
        "window": lambda a, b: f"From {a} to {b} (Vietnam time).",
        "time": "%d %b %Y %H:%M",
        "unknown_time": "unknown",
        "do_closed": "Do not enter this street; take another route.",
        "do_deep": "Avoid this street: motorbikes and cars cannot pass.",
        "do_moderate": "Avoid it if you can; if you must pass, go slowly and with care, and do "
        "not stop the engine in the water.",
        "do_unknown": "Depth unknown: avoid it if you can; if you must pass, go slowly and "
        "with care.",
        "none": lambda w: f"There are no current floods in {w}.",
    },
}


# --- values -------------------------------------------------------------------------------


def _xml_text(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot carry (controls, lone surrogates) replaced."""
    return _NOT_XML.sub("\ufffd", value)


def _aware(value: Any, argument: str) -> datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        msg = (
            f"{argument}: expected a timezone-aware datetime such as "
            f"datetime(2026, 10, 14, 17, 30, tzinfo=ZoneInfo('Asia/Ho_Chi_Minh')), "
            f"got {type(value).__name__} {value!r}"
        )
        raise GISInputError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"{argument}: expected a timezone-aware datetime (with tzinfo), got the naive "
            f"{value.isoformat()}; add tzinfo=ZoneInfo('Asia/Ho_Chi_Minh')"
        )
        raise GISInputError(msg)
    return value


def _parse_time(value: Any, argument: str) -> datetime | None:
    """An aware moment from ISO 8601 text or a datetime; ``None`` when blank."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as e:
            example = "2026-10-14T17:30:00+07:00"
            msg = f"{argument}: expected ISO 8601 text such as {example}, got {value!r}"
            raise GISInputError(msg) from e
    return _aware(value, argument)


def cap_time(moment: datetime) -> str:
    """``moment`` in the CAP pattern ``YYYY-MM-DDThh:mm:ss+hh:mm``, in its own offset.

    Fractional seconds are dropped (not rounded). An offset with seconds, which CAP cannot
    write, is converted to UTC; UTC is written ``-00:00`` as CAP 1.2 requires.

    Parameters
    ----------
    moment
        A timezone-aware moment.

    Raises
    ------
    GISInputError
        If ``moment`` is naive.
    """
    moment = _aware(moment, "moment").replace(microsecond=0)
    offset = moment.utcoffset() or timedelta(0)
    if offset % timedelta(minutes=1):
        moment, offset = moment.astimezone(UTC), timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        zone = UTC_OFFSET
    else:
        hours, mins = divmod(abs(minutes), 60)
        zone = f"{'-' if minutes < 0 else '+'}{hours:02d}:{mins:02d}"
    return f"{moment:%Y-%m-%dT%H:%M:%S}{zone}"


def _text(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GISInputError(f"{argument}: expected non-empty text, got {value!r}")
    return value.strip()


def _cap_token(value: Any, argument: str, example: str) -> str:
    text = _text(value, argument)
    bad = sorted(set(_CAP_UNSAFE.findall(text)))
    if bad:
        msg = (
            f"{argument}: expected a CAP identifier without spaces, commas, '<' or '&' "
            f"(e.g. {example!r}), got {value!r} containing {bad!r}"
        )
        raise GISInputError(msg)
    return text


def _depth(value: Any, segment: str) -> float | None:
    if is_blank(value):
        return None
    try:
        depth = float(value)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"depth_cm of {segment}: expected a number, got {value!r}") from e
    if not math.isfinite(depth) or depth < 0:
        raise GISInputError(f"depth_cm of {segment}: expected 0 or more cm, got {value!r}")
    return depth


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _flag(value: Any, argument: str) -> bool:
    """A yes/no column; text such as "false" (read back from a file) is not taken as true."""
    if is_blank(value):
        return False
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
    elif isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating) and (
        value in (0, 1)
    ):
        return bool(value)
    raise GISInputError(f"{argument}: expected true or false, got {value!r}")


def _count(value: Any, argument: str) -> int:
    if is_blank(value):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"{argument}: expected a whole number, got {value!r}") from e
    if not number.is_integer() or number < 0:
        raise GISInputError(f"{argument}: expected a whole number of 0 or more, got {value!r}")
    return int(number)


def _plain_number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


# --- the flood state ----------------------------------------------------------------------
def _checked_state(state: Any) -> gpd.GeoDataFrame:
    """The flood state in EPSG:4326 with its columns checked."""
    if not isinstance(state, gpd.GeoDataFrame):
        raise GISInputError(
            f"state: expected a GeoDataFrame of flooded segments, got {type(state).__name__}"
        )
    if state.crs is None:
        msg = "state: no CRS: expected the flood state in EPSG:4326 (or any declared CRS), got none"
        raise CRSError(msg)
    missing = [c for c in COLUMNS if c not in state.columns]
    if missing:
        msg = (
            f"state: expected the flood state columns {', '.join(COLUMNS)}; "
            f"missing {', '.join(missing)} (got {', '.join(map(str, state.columns))})"
        )
        raise GISInputError(msg)
    bad = sorted({str(v) for v in state["depth_class"] if v not in DEPTH_SEVERITY})
    if bad:
        msg = f"state: depth_class: expected {', '.join(DEPTH_SEVERITY)}, got {', '.join(bad)}"
        raise GISInputError(msg)
    return to_wgs84(state)


def _rows(state: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One plain-Python record per segment (no numpy types, blanks as None)."""
    rows = []
    for record, geom in zip(state[list(COLUMNS)].to_dict("records"), state.geometry, strict=True):
        segment = str(record["segment_id"])
        since, until = record["since"], record["until"]
        rows.append({
            "segment_id": segment,
            "name": None if is_blank(record["name"]) else str(record["name"]),
            "depth_cm": _depth(record["depth_cm"], segment),
            "depth_class": str(record["depth_class"]),
            "closed": _flag(record["closed"], f"closed of {segment}"),
            "confirmed": _flag(record["confirmed"], f"confirmed of {segment}"),
            "reports": _count(record["reports"], f"reports of {segment}"),
            "since": None if is_blank(since) else _iso_text(since),
            "until": None if is_blank(until) else _iso_text(until),
            "sources": "" if is_blank(record["sources"]) else str(record["sources"]),
            "geometry": None if geom is None or geom.is_empty else geom,
        })  # fmt: skip
    return rows


def _iso_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- GeoJSON ------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Shapely's GeoJSON mapping with tuples turned into lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):  # numpy floats too
        return float(value)
    return value


def to_geojson(state: gpd.GeoDataFrame, *, at: datetime, ward_name: str) -> dict[str, Any]:
    """The current floods as a GeoJSON FeatureCollection, ready for ``json.dumps``.

    Parameters
    ----------
    state
        The flood state (:data:`COLUMNS`, line geometries) in any declared CRS; it is
        reprojected to EPSG:4326. An empty frame means there are no floods now.
    at
        The moment the state describes; timezone-aware.
    ward_name
        The ward's name, e.g. "Phường An Khánh".

    Returns
    -------
    dict
        A FeatureCollection whose features carry exactly :data:`COLUMNS` as properties
        (unknown depth as ``null``) and the segment id as ``id``, plus ``generated_at``
        (ISO 8601 with offset), ``ward``, ``count`` and ``attribution``.

    Raises
    ------
    CRSError
        If ``state`` has no CRS.
    GISInputError
        If a column is missing, a value is unusable, ``at`` is naive or ``ward_name`` is
        empty.
    """
    moment = _aware(at, "at")
    ward = _text(ward_name, "ward_name")
    rows = _rows(_checked_state(state))
    features = []
    for row in rows:
        geom = row.pop("geometry")
        features.append({
            "type": "Feature",
            "id": row["segment_id"],
            "geometry": None if geom is None else _plain(mapping(geom)),
            "properties": row,
        })  # fmt: skip
    return {
        "type": "FeatureCollection",
        "generated_at": moment.replace(microsecond=0).isoformat(),
        "ward": ward,
        "count": len(features),
        "attribution": ATTRIBUTION,
        "features": features,
    }


# --- CAP ----------------------------------------------------------------------------------
def _measure_crs(value: Any) -> Any:
    crs = resolve_crs(value, argument="measure_crs")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        msg = f"measure_crs: expected a projected CRS in metres such as EPSG:9210, got {crs.name!r}"
        raise CRSError(msg)
    return crs


def _languages(value: Any) -> list[tuple[str, str]]:
    """``(language tag, text key)`` pairs, e.g. ``("vi-VN", "vi")``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        msg = (
            "languages: expected a non-empty sequence of language tags such as "
            f"('vi-VN', 'en-US'), got {value!r}"
        )
        raise GISInputError(msg)
    out = []
    for tag in value:
        if not isinstance(tag, str) or not _LANGUAGE.fullmatch(tag):
            raise GISInputError(f"languages: expected a tag such as 'vi-VN', got {tag!r}")
        key = tag.split("-")[0].lower()
        if key not in _TEXTS:
            msg = f"languages: texts exist for Vietnamese (vi-…) and English (en-…), got {tag!r}"
            raise GISInputError(msg)
        out.append((tag, key))
    return out


def _polygons(
    geoms: list[BaseGeometry | None], buffer_m: float, measure_crs: Any
) -> list[list[str]]:
    """Per segment, the CAP ``<polygon>`` texts of its buffered, simplified geometry."""
    present = [i for i, g in enumerate(geoms) if g is not None]
    out: list[list[str]] = [[] for _ in geoms]
    if not present:
        return out
    lines = gpd.GeoSeries([geoms[i] for i in present], crs=4326)
    metric = from_wgs84(lines, measure_crs)
    zones = metric.buffer(buffer_m).simplify(buffer_m / 4, preserve_topology=True)
    lonlat = to_wgs84(gpd.GeoSeries(zones, crs=metric.crs))
    for i, zone in zip(present, lonlat, strict=True):
        parts = zone.geoms if isinstance(zone, MultiPolygon) else [zone]
        for part in parts:
            if isinstance(part, Polygon) and not part.is_empty:
                ring = _ring(part)
                if ring:
                    out[i].append(ring)
    return out


def _ring(polygon: Polygon) -> str | None:
    """The exterior as ``"lat,lon lat,lon …"``, closed, 6 decimals; holes are left out."""
    points: list[tuple[str, str]] = []
    for lon, lat, *_ in polygon.exterior.coords:
        point = (f"{lat:.6f}", f"{lon:.6f}")
        if not points or points[-1] != point:
            points.append(point)
    if points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4:
        return None
    return " ".join(f"{lat},{lon}" for lat, lon in points)


def _local(moment: datetime | None, texts: Mapping[str, Any]) -> str:
    if moment is None:
        return str(texts["unknown_time"])
    return moment.astimezone(TIMEZONE).strftime(texts["time"])


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = _xml_text(text)
    return element


def _info(
    alert: etree._Element,
    row: Mapping[str, Any],
    *,
    tag: str,
    texts: Mapping[str, Any],
    ward: str,
    polygons: list[str],
) -> None:
    segment, depth, klass = row["segment_id"], row["depth_cm"], row["depth_class"]
    street = row["name"] or texts["unnamed"]
    since, until = row["since_dt"], row["until_dt"]
    d = _depth_text(depth)
    flooded: Callable[[str], str] = texts["flooded"]
    if row["closed"]:
        headline = f"{texts['closed']}, {flooded(d)}: {street}"
        instruction = texts["do_closed"]
    else:
        headline = f"{texts['headline_open'](d)}: {street}"
        instruction = {
            "150+": texts["do_deep"], "71-150": texts["do_deep"],
            "10-70": texts["do_moderate"], "unknown": texts["do_unknown"],
        }[klass]  # fmt: skip
    description = " ".join([
        f"{texts['depth'](d)} ({texts['level']} {texts['class'][klass]}).",
        texts["road_closed"] if row["closed"] else texts["road_open"],
        texts["confirmed"] if row["confirmed"] else texts["unconfirmed"],
        texts["sources"](row["sources"] or "—", row["reports"]),
        texts["window"](_local(since, texts), _local(until, texts)),
    ])  # fmt: skip

    info = _sub(alert, "info")
    _sub(info, "language", tag)
    _sub(info, "category", "Met")
    _sub(info, "category", "Transport")
    _sub(info, "event", texts["event"])
    _sub(info, "responseType", "Avoid")
    _sub(info, "urgency", "Immediate")
    _sub(info, "severity", DEPTH_SEVERITY[klass])
    _sub(info, "certainty", "Observed" if row["confirmed"] else "Likely")
    if since is not None:
        _sub(info, "effective", cap_time(since))
    if until is not None:
        _sub(info, "expires", cap_time(until))
    _sub(info, "senderName", ward)
    _sub(info, "headline", headline)
    _sub(info, "description", description)
    _sub(info, "instruction", instruction)
    for name, value in (
        ("depth_cm", "unknown" if depth is None else _plain_number(depth)),
        ("depth_class", klass),
        ("closed", "true" if row["closed"] else "false"),
        ("segment_id", segment),
    ):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", f"{street} ({segment})")
    for polygon in polygons:
        _sub(area, "polygon", polygon)


def to_cap(
    state: gpd.GeoDataFrame,
    *,
    at: datetime,
    sender: str,
    ward_name: str,
    identifier: str | None = None,
    status: str = "Actual",
    languages: Sequence[str] = ("vi-VN", "en-US"),
    buffer_m: float = 15.0,
    measure_crs: str = "EPSG:9210",
) -> bytes:
    """The ward's current floods as one CAP 1.2 ``<alert>`` (UTF-8 XML with declaration).

    Each flooded segment gets one ``<info>`` per language, in the order of ``languages``;
    segments are ordered from the most severe depth class to the least (input order within a
    class). Each ``<info>`` has categories Met and Transport, response Avoid, urgency
    Immediate, severity from :data:`DEPTH_SEVERITY`, certainty Observed when confirmed
    (else Likely), ``effective``/``expires`` from ``since``/``until`` in their own offset,
    a headline, description and instruction in its language, the parameters ``depth_cm``
    ("unknown" when not known), ``depth_class``, ``closed`` and ``segment_id``, and one
    ``<area>`` named after the street and segment with the segment buffered by ``buffer_m``
    as ``<polygon>`` (``lat,lon`` pairs, closed ring, 6 decimals). With no floods the alert
    has no ``<info>`` and a ``<note>`` saying so.

    Parameters
    ----------
    state
        The flood state (:data:`COLUMNS`) in any declared CRS; an empty frame is valid.
    at
        When the alert is sent; timezone-aware, written in its own offset.
    sender
        The ward's CAP sender id, without spaces, commas, "<" or "&"
        (e.g. "ubnd.ankhanh.hcm.gov.vn").
    ward_name
        The ward's name, used as ``senderName``.
    identifier
        The alert's id; default ``{sender}.flood.{at:%Y%m%dT%H%M%S%z}``.
    status
        One of :data:`STATUSES`; "Test" or "Exercise" for drills.
    languages
        Language tags; only Vietnamese (``vi-…``) and English (``en-…``) texts exist.
    buffer_m
        Half-width of the alert polygon around each segment, in metres.
    measure_crs
        A projected CRS in metres in which the buffer is drawn.

    Returns
    -------
    bytes
        The alert, valid against the OASIS CAP 1.2 schema.

    Raises
    ------
    CRSError
        If ``state`` has no CRS or ``measure_crs`` is not a projected CRS in metres.
    GISInputError
        If a column or value is missing or unusable, ``at`` is naive, or an argument is
        out of range.
    """
    moment = _aware(at, "at")
    sender_id = _cap_token(sender, "sender", "ubnd.ankhanh.hcm.gov.vn")
    ward = _text(ward_name, "ward_name")
    if identifier is None:
        alert_id = _CAP_UNSAFE.sub("_", f"{sender_id}.flood.{moment:%Y%m%dT%H%M%S%z}")
    else:
        alert_id = _cap_token(identifier, "identifier", f"{sender_id}.flood.1")
    if status not in STATUSES:
        raise GISInputError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
    tags = _languages(languages)
    if isinstance(buffer_m, bool) or not isinstance(buffer_m, int | float):
        raise GISInputError(f"buffer_m: expected a number of metres, got {buffer_m!r}")
    if not math.isfinite(buffer_m) or not 0 < buffer_m <= 1000:
        raise GISInputError(f"buffer_m: expected more than 0 and at most 1000 m, got {buffer_m!r}")
    metric = _measure_crs(measure_crs)
    rows = _rows(_checked_state(state))
    for row in rows:
        row["since_dt"] = _parse_time(row["since"], f"since of {row['segment_id']}")
        row["until_dt"] = _parse_time(row["until"], f"until of {row['segment_id']}")
    rows.sort(key=lambda r: _SEVERITY_ORDER[r["depth_class"]])
    polygons = _polygons([r["geometry"] for r in rows], float(buffer_m), metric)

    alert = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(alert, "identifier", alert_id)
    _sub(alert, "sender", sender_id)
    _sub(alert, "sent", cap_time(moment))
    _sub(alert, "status", status)
    _sub(alert, "msgType", "Alert")
    _sub(alert, "scope", "Public")
    if not rows:
        _sub(alert, "note", " / ".join(_TEXTS[key]["none"](ward) for _, key in tags))
    for row, rings in zip(rows, polygons, strict=True):
        for tag, key in tags:
            _info(alert, row, tag=tag, texts=_TEXTS[key], ward=ward, polygons=rings)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- validation ---------------------------------------------------------------------------
_SCHEMA_LOCK = threading.Lock()


@cache
def _schema() -> etree.XMLSchema:
    try:
        document = etree.parse(str(SCHEMA_PATH), _safe_parser())
        return etree.XMLSchema(document)
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as e:
        msg = f"CAP schema: expected the OASIS CAP 1.2 schema at {SCHEMA_PATH}, got: {e}"
        raise ConfigError(msg) from e


def _safe_parser() -> etree.XMLParser:
    """No DTD loading, no entity expansion, no network: untrusted XML is safe to parse."""
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def validate_cap(xml: bytes) -> None:
    """Check a CAP document against the OASIS CAP 1.2 schema.

    Parameters
    ----------
    xml
        The document as bytes (its XML declaration gives the encoding).

    Raises
    ------
    GISInputError
        If ``xml`` is not well-formed, not a CAP 1.2 ``<alert>``, or breaks the schema; the
        message lists the first few errors with their line numbers.
    ConfigError
        If the shipped schema file is missing or broken.
    """
    if not isinstance(xml, bytes | bytearray):
        raise GISInputError(f"xml: expected the CAP document as bytes, got {type(xml).__name__}")
    try:
        root = etree.fromstring(bytes(xml), _safe_parser())
    except etree.XMLSyntaxError as e:
        raise GISInputError(f"xml: expected well-formed XML, got an error at {e}") from e
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        # CAP has no DTD; entity declarations are how "billion laughs" bombs arrive, and
        # libxml2's validator fails on the unexpanded references they leave.
        msg = f"xml: expected a CAP document without a DOCTYPE (CAP defines none), got {doctype}"
        raise GISInputError(msg)
    qname = etree.QName(root)
    if qname.namespace != CAP_NS or qname.localname != "alert":
        msg = (
            f"xml: expected a CAP 1.2 <alert> in namespace {CAP_NS}, got <{qname.localname}> "
            f"in namespace {qname.namespace or '(none)'}"
        )
        raise GISInputError(msg)
    schema = _schema()
    with _SCHEMA_LOCK:
        try:
            if schema.validate(root):
                return
        except etree.XMLSchemaValidateError as e:
            raise GISInputError(f"xml: could not be checked against CAP 1.2: {e}") from e
        errors = list(schema.error_log)
    shown = "; ".join(f"line {e.line}: {e.message}" for e in errors[:MAX_SCHEMA_ERRORS])
    extra = len(errors) - MAX_SCHEMA_ERRORS
    more = f" (and {extra} more)" if extra > 0 else ""
    raise GISInputError(f"xml: not valid CAP 1.2: {shown}{more}")
