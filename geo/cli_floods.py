"""``python -m geo streets|flood|route ...``: the street network, flood reports, the feed,
flood-prone streets, and routes around floods."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry import LineString

from geo import cap, floods, routing, streets, wards
from geo.config import Settings
from geo.errors import GISInputError, NotFoundError
from geo.store import Store

REPORT_COLUMNS = ["fid", "status", "street", "depth_cm", "effect", "source", "observed_at",
                  "ends_at", "confirmed", "reporter", "_version"]  # fmt: skip


def add_parser(sub: Any) -> None:
    """Add the ``streets``, ``flood`` and ``route`` commands."""
    # --json is global (before the command); accepted after it too, as scripts write it
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="print JSON for scripts")  # fmt: skip
    who = argparse.ArgumentParser(add_help=False, parents=[out])
    who.add_argument("--user", default="cli", help="who makes the change (history)")
    who.add_argument("--role", choices=floods.ROLES, help="default: GIS_ROLE (editor)")

    st = sub.add_parser("streets", help="the ward's street network (OpenStreetMap)")
    st_sub = st.add_subparsers(dest="streets_command", required=True, metavar="ACTION")
    p = st_sub.add_parser("import", parents=[who], help="import an .osm or .osm.pbf file")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_streets_import)
    p = st_sub.add_parser("sample", parents=[who],
                          help="store the shipped sample (central HCMC, not the ward)")  # fmt: skip
    p.set_defaults(func=cmd_streets_sample)
    p = st_sub.add_parser("fetch", parents=[who], help="download the ward's streets (online)")
    p.add_argument("--margin-m", type=float, default=300.0, help="around the ward (m)")
    p.set_defaults(func=cmd_streets_fetch)
    p = st_sub.add_parser("info", parents=[out], help="the stored network and its streets")
    p.set_defaults(func=cmd_streets_info)

    fl = sub.add_parser("flood", help="flood reports, flood-prone streets and the feed")
    fl_sub = fl.add_subparsers(dest="flood_command", required=True, metavar="ACTION")
    p = fl_sub.add_parser("report", parents=[who], help="mark a street flooded")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", metavar="LAT,LON", help="a point near the street (snapped)")
    where.add_argument("--along", metavar="LAT,LON;LAT,LON;...", help="a line along the street")
    p.add_argument("--depth", help="water depth in cm (omit when unknown)")
    p.add_argument("--source", choices=floods.SOURCES, required=True)
    p.add_argument("--effect", choices=floods.EFFECTS, default="passable")
    p.add_argument("--observed", help="when it was seen (default now, Vietnam time)")
    p.add_argument("--until", help="expected end (default: observed + GIS_FLOOD_REPORT_HOURS)")
    p.add_argument("--confirmed", action="store_true", help="confirmed (approver/admin)")
    p.add_argument("--supersedes", type=int, help="a report this one replaces (it ends)")
    p.add_argument("--expected-version", type=int,
                   help="with --supersedes: the version of that report you read")  # fmt: skip
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_report)

    p = fl_sub.add_parser("list", parents=[out], help="reports and their status at a moment")
    p.add_argument("--when", help="the moment (default now)")
    p.add_argument("--live", action="store_true", help="only reports live at that moment")
    p.set_defaults(func=cmd_list)

    p = fl_sub.add_parser("state", parents=[out], help="the flooded segments at a moment")
    p.add_argument("--when", help="the moment (default now)")
    p.set_defaults(func=cmd_state)

    for name, helptext in (("confirm", "confirm a report (approver/admin)"),
                           ("end", "end a report: the water receded")):  # fmt: skip
        p = fl_sub.add_parser(name, parents=[who], help=helptext)
        p.add_argument("fid", type=int)
        p.add_argument("--expected-version", type=int, required=True,
                       help="the version you read (see 'list')")  # fmt: skip
        if name == "end":
            p.add_argument("--when", help="when it ended (default now)")
            p.add_argument("--reason", default="water receded")
        p.set_defaults(func=cmd_confirm if name == "confirm" else cmd_end)

    p = fl_sub.add_parser("feed", parents=[out], help="current floods as GeoJSON or CAP 1.2")
    p.add_argument("--format", choices=("geojson", "cap"), default="geojson")
    p.add_argument("--when", help="the moment (default now)")
    p.add_argument("--sender", help="CAP sender id (default: the ward's id)")
    p.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")
    p.set_defaults(func=cmd_feed)

    p = fl_sub.add_parser("prone", parents=[who], help="designate a flood-prone street")
    p.add_argument("street", nargs="?", help="the street's name (all its segments)")
    p.add_argument("--segments", help="comma-separated segment ids instead of the whole street")
    p.add_argument("--reason", default="")
    p.add_argument("--programme", default="", help="the programme it belongs to")
    p.add_argument("--list", action="store_true", help="list flood-prone streets instead")
    p.set_defaults(func=cmd_prone)

    p = fl_sub.add_parser("works", parents=[who], help="record works on a flood-prone street")
    p.add_argument("fid", type=int)
    p.add_argument("--expected-version", type=int, required=True)
    p.add_argument("--name", required=True, help="the works")
    p.add_argument("--status", choices=floods.WORK_STATUSES, default="planned")
    p.add_argument("--start")
    p.add_argument("--end")
    p.set_defaults(func=cmd_works)

    p = sub.add_parser("route", parents=[out], help="a route between two points, around floods")
    p.add_argument("origin", metavar="LAT,LON")
    p.add_argument("destination", metavar="LAT,LON")
    p.add_argument("--avoid-flooded", action="store_true", help="avoid flooded segments")
    p.add_argument("--vehicle", choices=("motorbike", "car", "truck"), default="motorbike")
    p.add_argument("--max-depth", type=float, help="override the vehicle's depth (cm)")
    p.add_argument("--when", help="floods at this moment (default now)")
    p.set_defaults(func=cmd_route)


def _role(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.role or settings.role)


def read_streets(store: Store) -> Any:
    """The stored street segments; ``NotFoundError`` says how to get them."""
    if not store.has_layer(streets.STREETS_LAYER):
        raise NotFoundError(
            "streets: no street network is stored; run 'python -m geo streets import FILE.osm' "
            "or 'python -m geo streets fetch' (online)"
        )
    return store.read_layer(streets.STREETS_LAYER)


def cmd_streets_import(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``streets import``: read an OSM file and store its drivable segments."""
    floods.check_role(_role(args, settings), "import streets", "streets.import")
    edges = streets.edges_frame(streets.read_streets(args.file))
    count, moved = floods.replace_network(
        store, edges, source=f"OpenStreetMap: {args.file.name}", user=args.user,
        role=_role(args, settings), measure_crs=settings.profile.measure_crs,
    )  # fmt: skip
    return {"layer": streets.STREETS_LAYER, "segments": count,
            "length_km": round(float(edges["length_m"].sum()) / 1000, 2),
            "reports_resnapped": moved}  # fmt: skip


def cmd_streets_sample(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``streets sample``: the shipped OSM sample, labelled as not the ward's network."""
    edges = streets.edges_frame(streets.read_streets(streets.SAMPLE_OSM))
    count, moved = floods.replace_network(
        store, edges, source=streets.SAMPLE_SOURCE, user=args.user,
        role=_role(args, settings), measure_crs=settings.profile.measure_crs,
    )  # fmt: skip
    return {"layer": streets.STREETS_LAYER, "segments": count, "source": streets.SAMPLE_SOURCE,
            "reports_resnapped": moved}  # fmt: skip


def cmd_streets_fetch(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``streets fetch``: download the ward's streets from OpenStreetMap."""
    floods.check_role(_role(args, settings), "import streets", "streets.import")
    new = store.read_layer(wards.NEW_LAYER)
    polygon = new.loc[new["name"] == settings.profile.name, "geometry"].union_all()
    print(f"fetching streets of {settings.profile.name} from OpenStreetMap...", file=sys.stderr)
    graph = streets.fetch_streets(polygon, margin_m=args.margin_m,
                                  cache_dir=settings.var_dir / "osm-cache")  # fmt: skip
    edges = streets.edges_frame(graph)
    stamp = floods.iso(floods.now_local())
    count, moved = floods.replace_network(
        store, edges, source=f"OpenStreetMap (Overpass, {stamp})", user=args.user,
        role=_role(args, settings), measure_crs=settings.profile.measure_crs,
    )  # fmt: skip
    return {"layer": streets.STREETS_LAYER, "segments": count, "reports_resnapped": moved}


def cmd_streets_info(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``streets info``: the stored network and the programme's streets in it."""
    edges = read_streets(store)
    index = floods.SegmentIndex(edges, settings.profile.measure_crs)
    info = store.layer_info(streets.STREETS_LAYER)
    programme = floods.programme_status(floods.read_prone(store), index,
                                        settings.profile.flood_prone_streets)  # fmt: skip
    return {"segments": len(edges), "streets": len(index.street_names()),
            "length_km": round(float(edges["length_m"].sum()) / 1000, 2),
            "source": info.source, "updated_at": info.updated_at,
            "sample": streets.is_sample(info),
            "programme": floods_records(programme)}  # fmt: skip


def floods_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame as plain records for JSON and tables."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def cmd_report(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood report``: snap to the street and record the report."""
    index = floods.SegmentIndex(read_streets(store), settings.profile.measure_crs)
    if args.supersedes is not None and args.expected_version is None:
        msg = "--supersedes: expected --expected-version too (the version of that report you read)"
        raise GISInputError(msg)
    if args.at:
        snap = index.snap(*floods.parse_latlon(args.at, "--at"))
        marked = "point"
    else:
        points = [floods.parse_latlon(p, "--along") for p in args.along.split(";") if p.strip()]
        snap = index.along(LineString(points))
        marked = "line"
    fid = floods.add_report(
        store, snap, user=args.user, role=_role(args, settings),
        depth_cm=args.depth, observed_at=args.observed or floods.now_local(),
        source=args.source, effect=args.effect, expected_end=args.until,
        hours=settings.flood_report_hours, confirmed=args.confirmed, note=args.note,
        marked_as=marked, supersedes=args.supersedes, expected_version=args.expected_version,
    )  # fmt: skip
    props = store.get_feature(floods.REPORTS_LAYER, fid).props
    return {"fid": fid, "street": snap.name, "segments": snap.segment_ids,
            "snapped_m": snap.distance_m, "depth_cm": props["depth_cm"],
            "depth_class": floods.depth_class(props["depth_cm"]),
            "expires_at": props["expires_at"]}  # fmt: skip


def cmd_list(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood list``: every report with its status at a moment."""
    status = floods.report_status(floods.read_reports(store), args.when)
    if args.live and not status.empty:
        status = status[status["status"] == "live"]
    table = status.assign(fid=status.index).reset_index(drop=True)
    return table.reindex(columns=REPORT_COLUMNS)


def cmd_state(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood state``: the flooded segments at a moment."""
    state = floods.segment_state(read_streets(store), floods.read_reports(store), args.when)
    return pd.DataFrame(state.drop(columns="geometry"))


def cmd_confirm(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood confirm``."""
    floods.confirm_report(store, args.fid, expected_version=args.expected_version,
                          user=args.user, role=_role(args, settings))  # fmt: skip
    return {"fid": args.fid, "confirmed": True}


def cmd_end(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood end``."""
    floods.end_report(store, args.fid, expected_version=args.expected_version, user=args.user,
                      role=_role(args, settings), at=args.when, reason=args.reason)  # fmt: skip
    return {"fid": args.fid, "ended": True}


def cmd_feed(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood feed``: GeoJSON or a CAP 1.2 alert, validated before it is written."""
    moment = floods.parse_time(args.when or floods.now_local(), "--when")
    if moment > floods.now_local() + timedelta(minutes=10):
        raise GISInputError(f"--when: expected a moment not in the future, got {args.when!r}")
    state = floods.segment_state(read_streets(store), floods.read_reports(store), moment)
    name = f"{settings.profile.kind} {settings.profile.name}"
    if args.format == "cap":
        data = cap.to_cap(state, at=moment, sender=args.sender or f"{settings.ward}.gis",
                          ward_name=name, measure_crs=settings.profile.measure_crs)  # fmt: skip
        cap.validate_cap(data)
    else:
        text = json.dumps(cap.to_geojson(state, at=moment, ward_name=name), ensure_ascii=False)
        data = text.encode("utf-8")
    if args.output:
        try:
            args.output.write_bytes(data)
        except OSError as e:
            raise GISInputError(f"--output: could not write {str(args.output)!r}: {e}") from e
        return {"file": str(args.output), "format": args.format, "floods": len(state)}
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()
    return None


def cmd_prone(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood prone``: designate a street (or segments), or list them."""
    if args.list:
        prone = floods.read_prone(store)
        return pd.DataFrame({
            "fid": prone.index, "street": prone["street"], "scope": prone["scope"],
            "segments": prone["segment_ids"].map(lambda v: len(floods.segment_list(v))),
            "works": prone["works"].map(lambda v: len(floods.check_works(v))),
            "_version": prone["_version"],
        }).reset_index(drop=True)  # fmt: skip
    if not args.street:
        raise GISInputError("flood prone: expected a street name (or --list)")
    index = floods.SegmentIndex(read_streets(store), settings.profile.measure_crs)
    ids = [s.strip() for s in args.segments.split(",")] if args.segments else None
    fid = floods.designate(store, index, street=args.street, segment_ids=ids, reason=args.reason,
                           programme=args.programme, user=args.user,
                           role=_role(args, settings))  # fmt: skip
    props = store.get_feature(floods.PRONE_LAYER, fid).props
    return {"fid": fid, "street": props["street"], "segments": len(props["segment_ids"])}


def cmd_works(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``flood works``: add a works record to a flood-prone street."""
    feature = store.get_feature(floods.PRONE_LAYER, args.fid)
    works = [*floods.check_works(feature.props.get("works")),
             {"name": args.name, "status": args.status, "start": args.start, "end": args.end}]
    floods.update_prone(store, args.fid, expected_version=args.expected_version, user=args.user,
                        role=_role(args, settings), works=works,
                        reason=f"works: {args.name} ({args.status})")  # fmt: skip
    return {"fid": args.fid, "works": floods.check_works(works)}


def cmd_route(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``route``: the route between two points; with --avoid-flooded, around current floods."""
    origin = floods.parse_latlon(args.origin, "origin")
    destination = floods.parse_latlon(args.destination, "destination")
    edges = read_streets(store)
    graph = routing.StreetGraph(edges)
    limit = settings.vehicle_depth_cm[args.vehicle] if args.max_depth is None else args.max_depth
    if not args.avoid_flooded:
        route = graph.route(origin, destination)
        return {**_route_dict(route), "avoid_flooded": False}
    state = floods.segment_state(edges, floods.read_reports(store), args.when)
    closures = floods.floods_for_routing(state)
    comparison = routing.compare(graph, origin, destination, floods=closures, max_depth_cm=limit)
    if comparison.safe is None:
        raise routing.NoRouteError(
            f"route: no route avoids the floods for a {args.vehicle} (max {limit:g} cm); the "
            f"shortest route crosses {len(comparison.blocked)} flooded segment(s)"
        )
    return {**_route_dict(comparison.safe), "avoid_flooded": True, "vehicle": args.vehicle,
            "max_depth_cm": limit, "shortest_length_m": comparison.shortest.length_m,
            "detour_m": comparison.detour_m, "avoided_segments": comparison.blocked}  # fmt: skip


def _route_dict(route: routing.Route) -> dict[str, Any]:
    names: list[str] = []
    for name in route.names:
        if name and (not names or names[-1] != name):
            names.append(name)
    return {"length_m": route.length_m, "segments": route.segment_ids, "streets": names}
