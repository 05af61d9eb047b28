"""The flood feed (``geo.cap``): GeoJSON and CAP 1.2 alerts, checked against the OASIS schema.

The state frames imitate :func:`geo.floods.segment_state` on three real-looking segments
of central Ho Chi Minh City (lon 106.69, lat 10.785): one of unknown depth, one of 35 cm
confirmed, one of 160 cm closed.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from lxml import etree
from shapely.geometry import LineString, Polygon

from geo import cap
from geo.errors import CRSError, GISInputError

NS = {"c": cap.CAP_NS}
VN = ZoneInfo("Asia/Ho_Chi_Minh")
AT = datetime(2026, 10, 14, 17, 45, 30, 250_000, tzinfo=VN)
SENDER = "ubnd.ankhanh.hcm.gov.vn"
WARD = "Phường An Khánh"
CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
HOSTILE = '<script>alert(1)</script> & "Lê Lợi"'
LINES = {
    "366420012-5741446870-0": LineString([(106.6901, 10.7852), (106.6912, 10.7861)]),
    "5741446870-366420015-0": LineString([(106.6912, 10.7861), (106.6925, 10.7873)]),
    "366420020-366420021-0": LineString(
        [(106.6880, 10.7830), (106.6889, 10.7838), (106.6897, 10.7842)]
    ),
}


def _state(names: list[str | None] | None = None) -> gpd.GeoDataFrame:
    ids = list(LINES)
    return gpd.GeoDataFrame(
        {
            "segment_id": ids,
            "name": names or ["Nam Kỳ Khởi Nghĩa", "Nam Kỳ Khởi Nghĩa", None],
            "depth_cm": [np.nan, 35.0, 160.0],
            "depth_class": ["unknown", "10-70", "150+"],
            "closed": np.array([False, False, True]),
            "confirmed": np.array([False, True, False]),
            "reports": np.array([1, 3, 2], dtype=np.int64),
            "report_ids": ["7", "3,4,9", "5,6"],
            "since": [
                "2026-10-14T10:30:00+00:00",  # UTC: CAP writes -00:00
                "2026-10-14T16:50:12.75+07:00",  # fractional seconds are dropped
                "2026-10-14T17:05:00+07:00",
            ],
            "until": [
                "2026-10-14T20:00:00+07:00",
                "2026-10-14T19:30:00+07:00",
                "2026-10-14T14:00:00+01:00",  # any offset is kept as it is
            ],
            "sources": ["citizen", "camera, field_officer", "field_officer"],
        },
        geometry=list(LINES.values()),
        crs=4326,
    )


@pytest.fixture
def state() -> gpd.GeoDataFrame:
    """Three flooded segments: unknown depth, 35 cm confirmed, 160 cm closed."""
    return _state()


@pytest.fixture
def empty() -> gpd.GeoDataFrame:
    """No floods now: the columns without rows."""
    return _state().iloc[0:0]


def _alert(state: gpd.GeoDataFrame, **kwargs: object) -> etree._Element:
    xml = cap.to_cap(state, **{"at": AT, "sender": SENDER, "ward_name": WARD, **kwargs})  # type: ignore[arg-type]
    cap.validate_cap(xml)
    return etree.fromstring(xml)


def _by_segment(alert: etree._Element) -> dict[tuple[str, str], etree._Element]:
    """Each ``<info>`` keyed by (segment id, language)."""
    out = {}
    for info in alert.findall("c:info", NS):
        segment = info.xpath("c:parameter[c:valueName='segment_id']/c:value/text()", namespaces=NS)
        out[(segment[0], info.findtext("c:language", namespaces=NS))] = info
    return out


def _ring(text: str) -> list[tuple[float, float]]:
    pairs = (pair.split(",") for pair in text.split(" "))
    return [(float(lat), float(lon)) for lat, lon in pairs]


# --- CAP output ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["floods", "empty", "hostile"])
def test_to_cap_is_valid_cap(case: str) -> None:
    frame = {"floods": _state(), "empty": _state().iloc[0:0], "hostile": _state([HOSTILE] * 3)}[
        case
    ]
    xml = cap.to_cap(frame, at=AT, sender=SENDER, ward_name=WARD)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    cap.validate_cap(xml)
    alert = etree.fromstring(xml)
    assert etree.QName(alert).namespace == cap.CAP_NS
    sent = alert.findtext("c:sent", namespaces=NS)
    assert CAP_TIME.fullmatch(sent)
    assert sent == "2026-10-14T17:45:30+07:00"
    assert alert.findtext("c:msgType", namespaces=NS) == "Alert"
    assert alert.findtext("c:scope", namespaces=NS) == "Public"
    assert len(alert.findall("c:info", NS)) == len(frame) * 2
    for element in alert.iter(f"{{{cap.CAP_NS}}}effective", f"{{{cap.CAP_NS}}}expires"):
        assert CAP_TIME.fullmatch(element.text)


def test_cap_content_per_segment(state: gpd.GeoDataFrame) -> None:
    infos = _by_segment(_alert(state))
    unknown, moderate, closed = LINES
    assert len(infos) == 6
    expected = {
        unknown: ("Unknown", "Likely", "2026-10-14T10:30:00-00:00", "2026-10-14T20:00:00+07:00"),
        moderate: (
            "Moderate",
            "Observed",
            "2026-10-14T16:50:12+07:00",
            "2026-10-14T19:30:00+07:00",
        ),
        closed: ("Extreme", "Likely", "2026-10-14T17:05:00+07:00", "2026-10-14T14:00:00+01:00"),
    }
    for (segment, _language), info in infos.items():
        severity, certainty, effective, expires = expected[segment]
        assert info.findtext("c:severity", namespaces=NS) == severity
        assert info.findtext("c:certainty", namespaces=NS) == certainty
        assert info.findtext("c:effective", namespaces=NS) == effective
        assert info.findtext("c:expires", namespaces=NS) == expires
        assert info.findtext("c:urgency", namespaces=NS) == "Immediate"
        assert info.findtext("c:responseType", namespaces=NS) == "Avoid"
        assert info.findtext("c:senderName", namespaces=NS) == WARD
        assert [c.text for c in info.findall("c:category", NS)] == ["Met", "Transport"]
    vi, en = infos[(moderate, "vi-VN")], infos[(moderate, "en-US")]
    assert vi.findtext("c:event", namespaces=NS) == "Ngập đường"
    assert en.findtext("c:event", namespaces=NS) == "Road flooding"
    assert vi.findtext("c:headline", namespaces=NS) == "Ngập 35 cm: Nam Kỳ Khởi Nghĩa"
    assert en.findtext("c:headline", namespaces=NS) == "Flooded 35 cm: Nam Kỳ Khởi Nghĩa"
    assert "camera, field_officer" in en.findtext("c:description", namespaces=NS)
    assert "3 reports" in en.findtext("c:description", namespaces=NS)
    assert "16:50 ngày 14/10/2026" in vi.findtext("c:description", namespaces=NS)
    params = {
        p.findtext("c:valueName", namespaces=NS): p.findtext("c:value", namespaces=NS)
        for p in en.findall("c:parameter", NS)
    }
    assert params == {"depth_cm": "35", "depth_class": "10-70", "closed": "false",
                      "segment_id": moderate}  # fmt: skip
    assert en.findtext("c:area/c:areaDesc", namespaces=NS) == f"Nam Kỳ Khởi Nghĩa ({moderate})"
    shut = infos[(closed, "vi-VN")].findtext("c:headline", namespaces=NS)
    assert shut.startswith("Cấm đường, ngập 160 cm: ")
    assert (
        infos[(closed, "en-US")]
        .findtext("c:headline", namespaces=NS)
        .startswith("Road closed, flooded 160 cm: ")
    )
    assert "Do not enter" in infos[(closed, "en-US")].findtext("c:instruction", namespaces=NS)
    assert infos[(unknown, "en-US")].findtext("c:headline", namespaces=NS) == (
        "Flooded (depth unknown): Nam Kỳ Khởi Nghĩa"
    )
    assert "chưa rõ" in infos[(unknown, "vi-VN")].findtext("c:headline", namespaces=NS)
    unknown_depth = infos[(unknown, "en-US")].xpath(
        "c:parameter[c:valueName='depth_cm']/c:value/text()", namespaces=NS
    )
    assert unknown_depth == ["unknown"]
    # No street name: the area still says which segment.
    assert infos[(closed, "vi-VN")].findtext("c:area/c:areaDesc", namespaces=NS) == (
        f"Đoạn đường không tên ({closed})"
    )


def test_cap_orders_by_severity_and_language(state: gpd.GeoDataFrame) -> None:
    infos = _alert(state).findall("c:info", NS)
    assert [i.findtext("c:language", namespaces=NS) for i in infos] == ["vi-VN", "en-US"] * 3
    assert [i.findtext("c:severity", namespaces=NS) for i in infos] == [
        "Extreme", "Extreme", "Moderate", "Moderate", "Unknown", "Unknown",
    ]  # fmt: skip
    english_only = _alert(state, languages=("en-GB",)).findall("c:info", NS)
    assert [i.findtext("c:language", namespaces=NS) for i in english_only] == ["en-GB"] * 3


def test_cap_polygons_are_closed_lat_first_and_cover_the_segment(
    state: gpd.GeoDataFrame,
) -> None:
    infos = _by_segment(_alert(state))
    assert len(infos) == 6
    for (segment, _), info in infos.items():
        polygons = info.findall("c:area/c:polygon", NS)
        assert len(polygons) == 1
        text = polygons[0].text
        assert re.fullmatch(r"-?\d+\.\d{6},-?\d+\.\d{6}( -?\d+\.\d{6},-?\d+\.\d{6}){3,}", text)
        ring = _ring(text)
        assert len(ring) >= 4 and ring[0] == ring[-1]
        for lat, lon in ring:
            assert 10.7 <= lat <= 10.8 and 106.6 <= lon <= 106.8
        zone = Polygon([(lon, lat) for lat, lon in ring])
        assert zone.is_valid and zone.contains(LINES[segment])
        # 15 m either side, simplified: no further than about 20 m (2e-4°) from the line.
        assert zone.hausdorff_distance(LINES[segment]) < 2.2e-4


def test_cap_buffer_width_follows_buffer_m(state: gpd.GeoDataFrame) -> None:
    def area(buffer_m: float) -> float:
        info = _alert(state.iloc[[1]], buffer_m=buffer_m).find("c:info", NS)
        ring = _ring(info.findtext("c:area/c:polygon", namespaces=NS))
        return Polygon([(lon, lat) for lat, lon in ring]).area

    assert area(30) > 1.7 * area(15)


def test_hostile_street_name_round_trips(state: gpd.GeoDataFrame) -> None:
    frame = _state([HOSTILE, "Lê Lợi", "Hai Bà Trưng"])
    xml = cap.to_cap(frame, at=AT, sender=SENDER, ward_name=WARD)
    cap.validate_cap(xml)
    assert b"<script>" not in xml
    segment = next(iter(LINES))
    for language in ("vi-VN", "en-US"):
        info = _by_segment(etree.fromstring(xml))[(segment, language)]
        assert info.findtext("c:area/c:areaDesc", namespaces=NS) == f"{HOSTILE} ({segment})"
        assert info.findtext("c:headline", namespaces=NS).endswith(f": {HOSTILE}")


def test_characters_xml_cannot_carry_are_replaced() -> None:
    frame = _state(["Lê\x00Lợi\x1b", "ok", "ok"])
    info = _by_segment(_alert(frame))[(next(iter(LINES)), "en-US")]
    assert info.findtext("c:area/c:areaDesc", namespaces=NS).startswith("Lê\ufffdLợi\ufffd (")


def test_no_floods_alert_has_a_note(empty: gpd.GeoDataFrame) -> None:
    alert = _alert(empty)
    assert alert.findall("c:info", NS) == []
    note = alert.findtext("c:note", namespaces=NS)
    assert "Hiện không có điểm ngập nào tại Phường An Khánh" in note
    assert "no current floods in Phường An Khánh" in note


@pytest.mark.parametrize(
    ("at", "sent"),
    [
        (datetime(2026, 10, 14, 10, 0, 0, 999_999, tzinfo=UTC), "2026-10-14T10:00:00-00:00"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
         "2026-01-02T03:04:05-05:30"),
        (pd.Timestamp("2026-10-14 17:45:30", tz="Asia/Ho_Chi_Minh"), "2026-10-14T17:45:30+07:00"),
    ],
)  # fmt: skip
def test_sent_uses_the_offset_of_at(empty: gpd.GeoDataFrame, at: datetime, sent: str) -> None:
    alert = _alert(empty, at=at)
    assert alert.findtext("c:sent", namespaces=NS) == sent


def test_identifier_default_and_explicit(empty: gpd.GeoDataFrame) -> None:
    default = _alert(empty).findtext("c:identifier", namespaces=NS)
    assert default == f"{SENDER}.flood.20261014T174530+0700"
    assert _alert(empty, identifier="ak-2026-0042").findtext("c:identifier", namespaces=NS) == (
        "ak-2026-0042"
    )
    with pytest.raises(GISInputError, match=r"identifier: .*got 'ak 42'"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, identifier="ak 42")
    with pytest.raises(GISInputError, match=r"sender: .*commas.*got 'a,b'"):
        cap.to_cap(empty, at=AT, sender="a,b", ward_name=WARD)


def test_status_and_language_arguments_checked(empty: gpd.GeoDataFrame) -> None:
    assert _alert(empty, status="Exercise").findtext("c:status", namespaces=NS) == "Exercise"
    with pytest.raises(GISInputError, match=r"status: expected one of Actual.*got 'Real'"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, status="Real")
    with pytest.raises(GISInputError, match=r"languages: .*got 'fr-FR'"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, languages=("vi-VN", "fr-FR"))
    with pytest.raises(GISInputError, match=r"languages: expected a non-empty sequence"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, languages="vi-VN")
    with pytest.raises(GISInputError, match=r"buffer_m: expected more than 0"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, buffer_m=0)
    with pytest.raises(CRSError, match=r"measure_crs: expected a projected CRS in metres"):
        cap.to_cap(empty, at=AT, sender=SENDER, ward_name=WARD, measure_crs="EPSG:4326")


# --- refusals -----------------------------------------------------------------------------
def test_naive_datetime_refused(state: gpd.GeoDataFrame) -> None:
    naive = datetime(2026, 10, 14, 17, 45)
    with pytest.raises(GISInputError, match=r"at: expected a timezone-aware datetime.*naive"):
        cap.to_cap(state, at=naive, sender=SENDER, ward_name=WARD)
    with pytest.raises(GISInputError, match=r"at: expected a timezone-aware datetime.*naive"):
        cap.to_geojson(state, at=naive, ward_name=WARD)
    with pytest.raises(GISInputError, match=r"at: .*got str"):
        cap.to_geojson(state, at="2026-10-14T17:45:00+07:00", ward_name=WARD)  # type: ignore[arg-type]


def test_frame_without_crs_refused(state: gpd.GeoDataFrame) -> None:
    bare = state.set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match=r"state: no CRS"):
        cap.to_cap(bare, at=AT, sender=SENDER, ward_name=WARD)
    with pytest.raises(CRSError, match=r"state: no CRS"):
        cap.to_geojson(bare, at=AT, ward_name=WARD)


def test_missing_column_refused(state: gpd.GeoDataFrame) -> None:
    with pytest.raises(
        GISInputError, match=r"state: expected the flood state columns.*missing until"
    ):
        cap.to_cap(state.drop(columns="until"), at=AT, sender=SENDER, ward_name=WARD)
    with pytest.raises(GISInputError, match=r"missing depth_class, sources"):
        cap.to_geojson(state.drop(columns=["sources", "depth_class"]), at=AT, ward_name=WARD)
    with pytest.raises(GISInputError, match=r"state: expected a GeoDataFrame.*got DataFrame"):
        cap.to_geojson(pd.DataFrame(state), at=AT, ward_name=WARD)


def test_bad_values_refused(state: gpd.GeoDataFrame) -> None:
    wrong_class = state.assign(depth_class=["unknown", "deep", "150+"])
    with pytest.raises(GISInputError, match=r"state: depth_class: expected 150\+, .*got deep"):
        cap.to_cap(wrong_class, at=AT, sender=SENDER, ward_name=WARD)
    wrong_time = state.assign(until=["2026-10-14T20:00:00+07:00", "soon", "2026-10-14T21:00+07:00"])
    segment = list(LINES)[1]
    with pytest.raises(GISInputError, match=rf"until of {segment}: expected ISO 8601.*'soon'"):
        cap.to_cap(wrong_time, at=AT, sender=SENDER, ward_name=WARD)
    text_flags = state.assign(closed=["false", "0", "TRUE"], reports=[1.0, "3", 2])
    closed_values = {
        key: info.xpath("c:parameter[c:valueName='closed']/c:value/text()", namespaces=NS)[0]
        for key, info in _by_segment(_alert(text_flags)).items()
    }
    ids = list(LINES)
    assert closed_values == {
        (ids[0], "vi-VN"): "false", (ids[0], "en-US"): "false",
        (ids[1], "vi-VN"): "false", (ids[1], "en-US"): "false",
        (ids[2], "vi-VN"): "true", (ids[2], "en-US"): "true",
    }  # fmt: skip
    with pytest.raises(GISInputError, match=rf"closed of {segment}: expected true or false"):
        cap.to_geojson(state.assign(closed=[False, "maybe", True]), at=AT, ward_name=WARD)
    with pytest.raises(GISInputError, match=rf"reports of {segment}: expected a whole number"):
        cap.to_geojson(state.assign(reports=[1, 2.5, 3]), at=AT, ward_name=WARD)
    naive_time = state.assign(since=["2026-10-14T10:30:00", *state["since"][1:]])
    with pytest.raises(GISInputError, match=r"since of 366420012-5741446870-0: .*naive"):
        cap.to_cap(naive_time, at=AT, sender=SENDER, ward_name=WARD)


def test_projected_frame_is_reprojected(state: gpd.GeoDataFrame) -> None:
    utm = state.to_crs(32648)
    assert utm.geometry.iloc[0].coords[0][0] > 100_000  # really in metres
    from_utm = _by_segment(_alert(utm))
    from_lonlat = _by_segment(_alert(state))
    for key, info in from_utm.items():
        ring = _ring(info.findtext("c:area/c:polygon", namespaces=NS))
        assert all(10.7 <= lat <= 10.8 and 106.6 <= lon <= 106.8 for lat, lon in ring)
        other = _ring(from_lonlat[key].findtext("c:area/c:polygon", namespaces=NS))
        shape = Polygon([(lon, lat) for lat, lon in ring])
        assert shape.symmetric_difference(Polygon([(x, y) for y, x in other])).area < (
            0.02 * shape.area
        )
    coords = cap.to_geojson(utm, at=AT, ward_name=WARD)["features"][0]["geometry"]["coordinates"]
    assert coords[0] == pytest.approx([106.6901, 10.7852], abs=1e-7)


# --- validate_cap -------------------------------------------------------------------------
@pytest.fixture
def valid_xml(state: gpd.GeoDataFrame) -> bytes:
    """A valid alert with the three floods."""
    return cap.to_cap(state, at=AT, sender=SENDER, ward_name=WARD)


def test_validate_rejects_z_time(valid_xml: bytes) -> None:
    broken = valid_xml.replace(b"<sent>2026-10-14T17:45:30+07:00", b"<sent>2026-10-14T10:45:30Z")
    assert broken != valid_xml
    with pytest.raises(GISInputError, match=r"not valid CAP 1\.2: line 5: .*sent"):
        cap.validate_cap(broken)


def test_validate_rejects_missing_identifier(valid_xml: bytes) -> None:
    broken = re.sub(rb"\s*<identifier>[^<]*</identifier>", b"", valid_xml)
    assert broken != valid_xml
    with pytest.raises(GISInputError, match=r"not valid CAP 1\.2: line \d+: .*identifier"):
        cap.validate_cap(broken)


def test_validate_rejects_wrong_namespace(valid_xml: bytes) -> None:
    old = valid_xml.replace(cap.CAP_NS.encode(), b"urn:oasis:names:tc:emergency:cap:1.1")
    with pytest.raises(GISInputError, match=r"expected a CAP 1\.2 <alert> .*cap:1\.1"):
        cap.validate_cap(old)
    with pytest.raises(GISInputError, match=r"got <alert> in namespace \(none\)"):
        cap.validate_cap(b"<alert><identifier>x</identifier></alert>")


def test_validate_rejects_non_xml() -> None:
    with pytest.raises(GISInputError, match=r"xml: expected well-formed XML"):
        cap.validate_cap(b"sent,identifier\nnot xml at all")
    with pytest.raises(GISInputError, match=r"xml: expected the CAP document as bytes, got str"):
        cap.validate_cap("<alert/>")  # type: ignore[arg-type]


def test_validate_rejects_bad_values_with_a_short_list(valid_xml: bytes) -> None:
    broken = valid_xml.replace(b"<severity>Extreme", b"<severity>Huge").replace(
        b"<urgency>Immediate", b"<urgency>Now"
    )
    with pytest.raises(GISInputError) as caught:
        cap.validate_cap(broken)
    message = str(caught.value)
    assert "Huge" in message and "Now" in message
    assert message.count("line ") == cap.MAX_SCHEMA_ERRORS
    assert re.search(r"\(and \d+ more\)$", message)


def test_validate_refuses_a_doctype(valid_xml: bytes) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x "xxxxxxxxxx">'
        b'<!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;&x;&x;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&y;</alert>'
    )
    with pytest.raises(GISInputError, match=r"without a DOCTYPE .*got <!DOCTYPE alert"):
        cap.validate_cap(bomb)
    # Even a harmless DOCTYPE on an otherwise valid alert: CAP defines none.
    declared = valid_xml.replace(b"?>\n<alert", b"?>\n<!DOCTYPE alert>\n<alert", 1)
    assert declared != valid_xml
    with pytest.raises(GISInputError, match=r"without a DOCTYPE"):
        cap.validate_cap(declared)


def test_validate_is_safe_across_threads(valid_xml: bytes) -> None:
    broken = valid_xml.replace(b"<status>Actual", b"<status>Real")
    results: dict[int, str] = {}

    def run(i: int) -> None:
        try:
            cap.validate_cap(broken if i % 2 else valid_xml)
            results[i] = "ok"
        except GISInputError as e:
            results[i] = str(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in results.items():
        assert (result == "ok") == (i % 2 == 0)
        assert i % 2 == 0 or "Real" in result
    assert len(results) == 16


# --- GeoJSON ------------------------------------------------------------------------------
def test_to_geojson(state: gpd.GeoDataFrame) -> None:
    collection = cap.to_geojson(state, at=AT, ward_name=WARD)
    text = json.dumps(collection, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == collection
    assert collection["type"] == "FeatureCollection"
    assert collection["generated_at"] == "2026-10-14T17:45:30+07:00"
    assert collection["ward"] == WARD
    assert collection["count"] == 3 == len(collection["features"])
    assert collection["attribution"] == "© OpenStreetMap contributors"
    first, second, _third = collection["features"]
    assert set(first["properties"]) == set(cap.COLUMNS)  # report_ids is not published
    assert first["properties"] == {
        "segment_id": "366420012-5741446870-0",
        "name": "Nam Kỳ Khởi Nghĩa",
        "depth_cm": None,
        "depth_class": "unknown",
        "closed": False,
        "confirmed": False,
        "reports": 1,
        "since": "2026-10-14T10:30:00+00:00",
        "until": "2026-10-14T20:00:00+07:00",
        "sources": "citizen",
    }
    assert first["id"] == "366420012-5741446870-0"
    assert second["properties"]["depth_cm"] == 35.0
    assert second["properties"]["confirmed"] is True
    assert type(second["properties"]["reports"]) is int
    assert first["geometry"] == {
        "type": "LineString",
        "coordinates": [[106.6901, 10.7852], [106.6912, 10.7861]],
    }


def test_to_geojson_empty(empty: gpd.GeoDataFrame) -> None:
    collection = cap.to_geojson(empty, at=AT, ward_name=WARD)
    assert collection["count"] == 0 and collection["features"] == []
    json.dumps(collection, allow_nan=False)
    with pytest.raises(GISInputError, match=r"ward_name: expected non-empty text"):
        cap.to_geojson(empty, at=AT, ward_name=" ")
