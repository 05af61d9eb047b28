"""The flooding page's panels: marking a flood, the reports and their actions, a street's
history, flood-prone streets with their works, and the feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import altair as alt
import geopandas as gpd
import pandas as pd
import streamlit as st
from shapely.geometry import Point

from geo import cap, floods, routing
from geo.errors import ConflictError, GISInputError, NotFoundError, PermissionDeniedError
from ui import floods as ui_floods
from ui import state
from ui.i18n import t
from ui.parcels import md

PENDING = "fl_pending"
FIRST = "fl_first"


# --- map data -----------------------------------------------------------------------------
def state_for_map(flooded: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    """Flooded segments with a label for the popup."""
    out = flooded.copy()
    out["label"] = [
        t("fl.closed_label", lang) if closed else ui_floods.class_label(code, lang)
        for code, closed in zip(out["depth_class"], out["closed"], strict=True)
    ]
    out["since"] = out["since"].map(ui_floods.local_text)
    out["until"] = out["until"].map(ui_floods.local_text)
    out["sources"] = out["sources"].map(
        lambda s: ", ".join(ui_floods.source_label(p.strip(), lang) for p in str(s).split(","))
    )
    return out


def reports_for_map(live: pd.DataFrame, lang: str) -> gpd.GeoDataFrame:
    """Live report points with their depth class and words for the popup."""
    out = gpd.GeoDataFrame(live.copy(), geometry="geometry", crs=4326)
    out["depth_class"] = out["depth_cm"].map(floods.depth_class)
    out["label"] = [f"#{fid}" for fid in out.index]
    out["source_label"] = out["source"].map(lambda s: ui_floods.source_label(s, lang))
    out["observed_at"] = out["observed_at"].map(ui_floods.local_text)
    return out


def prone_for_map(prone: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    """Flood-prone streets with a one-line summary of their works."""
    out = prone.copy()
    out["works_summary"] = out["works"].map(lambda w: _works_summary(w, lang))
    return out


def _works_summary(works: Any, lang: str) -> str:
    items = floods.check_works(works)
    return "; ".join(f"{w['name']} ({t('fl.work.' + w['status'], lang)})" for w in items)


# --- marking --------------------------------------------------------------------------------
def pending_points() -> list[tuple[float, float]]:
    """Where the planner clicked for the report being prepared (lon, lat)."""
    points = []
    if st.session_state.get(FIRST):
        points.append(st.session_state[FIRST])
    pending = st.session_state.get(PENDING)
    if pending:
        points.append((pending["lon"], pending["lat"]))
    return points


def on_click(click: tuple[float, float], mode: str, lang: str) -> None:
    """A map click: snap it to a street (one point), or start/finish a stretch (two points)."""
    index = ui_floods.segment_index()
    try:
        if mode == "point":
            snap = index.snap(*click)
            marked = "point"
        elif not st.session_state.get(FIRST):
            index.snap(*click)  # a first click off the streets is refused at once
            st.session_state[FIRST] = click
            st.session_state.pop(PENDING, None)
            st.rerun()
        else:
            start = index.snap(*st.session_state.pop(FIRST))
            end = index.snap(*click)
            ids = routing.stretch(ui_floods.street_graph(), start.segment_ids, end.segment_ids)
            snap, marked = index.from_segments(ids), "line"
    except (NotFoundError, GISInputError) as e:
        st.session_state.pop(FIRST, None)
        st.session_state[PENDING] = None
        st.session_state["fl_click_error"] = str(e)
        st.rerun()
    st.session_state.pop("fl_click_error", None)
    st.session_state[PENDING] = {
        "ids": snap.segment_ids, "name": snap.name, "lon": snap.point.x, "lat": snap.point.y,
        "distance": snap.distance_m, "marked_as": marked,
    }  # fmt: skip
    st.rerun()


def _when(lang: str, key: str, default: datetime) -> datetime:
    left, right = st.columns(2)
    day = left.date_input(t("fl.when.day", lang), value=default.date(), key=f"{key}_d",
                          format="DD/MM/YYYY")  # fmt: skip
    clock = right.time_input(t("fl.when.time", lang), value=default.time().replace(second=0),
                             key=f"{key}_t", step=timedelta(minutes=5))  # fmt: skip
    return datetime.combine(day, clock, tzinfo=floods.TIMEZONE)


def report_form(lang: str, *, past: bool) -> None:
    """The form that records a flood at the clicked street."""
    if past:
        st.info(t("fl.mark.past", lang))
        return
    if st.session_state.get("fl_click_error"):
        st.warning(t("fl.mark.miss", lang, error=md(st.session_state["fl_click_error"])))
    if st.session_state.get(FIRST):
        st.info(t("fl.mark.second", lang))
        return
    pending = st.session_state.get(PENDING)
    if not pending:
        st.caption(t("fl.mark.hint", lang))
        return
    name = pending["name"] or t("fl.unnamed", lang)
    st.markdown(t("fl.mark.at", lang, street=md(name), n=len(pending["ids"])))
    settings = state.get_settings()
    can_confirm = state.role() in floods.CONFIRM_ROLES
    with st.form("fl_form", clear_on_submit=False):
        left, right = st.columns([2, 1])
        depth = left.number_input(t("fl.f.depth", lang), min_value=0, max_value=500, value=30,
                                  step=5, key="fl_depth")  # fmt: skip
        unknown = right.checkbox(t("fl.f.unknown", lang), key="fl_unknown")
        source = st.selectbox(t("fl.f.source", lang), floods.SOURCES, key="fl_source",
                              format_func=lambda s: ui_floods.source_label(s, lang))  # fmt: skip
        effect = st.radio(t("fl.f.effect", lang), floods.EFFECTS, horizontal=True,
                          key="fl_effect",
                          format_func=lambda e: t(f"fl.effect.{e}", lang))  # fmt: skip
        st.markdown(f"**{t('fl.f.observed', lang)}**")
        observed = _when(lang, "fl_obs", floods.now_local())
        has_end = st.checkbox(t("fl.f.has_end", lang, hours=f"{settings.flood_report_hours:g}"),
                              key="fl_has_end")  # fmt: skip
        end = _when(lang, "fl_end", floods.now_local() + timedelta(hours=2)) if has_end else None
        why = None if can_confirm else t("fl.f.confirm_role", lang)
        confirmed = st.checkbox(t("fl.f.confirmed", lang), key="fl_confirmed",
                                disabled=not can_confirm, help=why)  # fmt: skip
        note = st.text_area(t("fl.f.note", lang), key="fl_note", max_chars=floods.MAX_TEXT)
        submitted = st.form_submit_button(t("fl.f.save", lang), type="primary")
    if not submitted:
        return
    snap = floods.Snap(list(pending["ids"]), pending["name"],
                       Point(pending["lon"], pending["lat"]), pending["distance"])  # fmt: skip
    try:
        fid = floods.add_report(
            state.get_store(), snap, user=state.user_name() or "web", role=state.role(),
            depth_cm=None if unknown else depth, observed_at=observed, source=source,
            effect=effect, expected_end=end, hours=settings.flood_report_hours,
            confirmed=confirmed, note=note, marked_as=pending["marked_as"],
        )  # fmt: skip
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
        return
    except (GISInputError, NotFoundError) as e:
        st.error(t("fl.e.input", lang, error=md(e)))
        return
    state.changed()
    st.session_state[PENDING] = None
    ui_floods.flash(t("fl.mark.saved", lang, fid=fid, street=md(name)))
    st.rerun()


# --- reports --------------------------------------------------------------------------------
def reports_panel(status: pd.DataFrame, lang: str, *, moment: datetime) -> None:
    """The reports at the chosen moment, and actions on a live one."""
    if status.empty:
        st.caption(t("fl.reports.none", lang))
        return
    order = {"live": 0, "future": 3, "expired": 2, "ended": 1}
    shown = status[status["status"] != "future"].copy()
    shown = shown.sort_values(["status", "observed_at"], key=lambda s: s.map(order)
                              if s.name == "status" else s, ascending=[True, False])  # fmt: skip
    table = pd.DataFrame({
        "#": shown.index.astype(int),
        t("fl.r.status", lang): shown["status"].map(lambda s: t(f"fl.status.{s}", lang)),
        t("fl.r.street", lang): shown["street"].fillna(""),
        t("fl.r.depth", lang): pd.to_numeric(shown["depth_cm"], errors="coerce"),
        t("fl.r.effect", lang): shown["effect"].map(lambda e: t(f"fl.effect.{e}", lang)),
        t("fl.r.source", lang): shown["source"].map(lambda s: ui_floods.source_label(s, lang)),
        t("fl.r.observed", lang): shown["observed_at"].map(ui_floods.local_text),
        t("fl.r.ends", lang): shown["ends_at"].map(ui_floods.local_text),
        t("fl.r.confirmed", lang): shown["confirmed"].astype(bool),
    })  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch", height=240)
    live = shown[shown["status"] == "live"]
    if live.empty or moment < floods.now_local() - timedelta(minutes=1):
        return
    fid = st.selectbox(
        t("fl.r.pick", lang), [None, *[int(f) for f in live.index]], key="fl_pick",
        format_func=lambda f: t("fl.r.pick_none", lang) if f is None
        else f"#{f} · {live.loc[f, 'street'] or t('fl.unnamed', lang)}",
    )  # fmt: skip
    if fid is not None:
        _report_actions(int(fid), pd.Series(live.loc[fid]), lang)


def _report_actions(fid: int, row: pd.Series, lang: str) -> None:
    # the version on screen when the report was picked: an action is checked against it, so
    # a colleague's change made since is refused rather than overwritten
    version = int(st.session_state.setdefault(f"fl_seen_{fid}", int(row["_version"])))
    store = state.get_store()
    user, role = state.user_name() or "web", state.role()
    if row.get("note"):
        st.caption(t("fl.r.note", lang, note=md(row["note"])))
    st.caption(t("fl.r.meta", lang, who=md(row.get("reporter") or "?"), version=version))
    try:
        if not row["confirmed"] and role in floods.CONFIRM_ROLES and st.button(
            t("fl.r.confirm", lang), key=f"fl_confirm_{fid}"
        ):
            floods.confirm_report(store, fid, expected_version=version, user=user, role=role)
            _done(t("fl.r.confirmed_ok", lang, fid=fid))
        with st.form(f"fl_update_{fid}"):
            depth = st.number_input(t("fl.r.new_depth", lang), 0, 500, step=5,
                                    value=int(float(row["depth_cm"]))
                                    if pd.notna(row["depth_cm"]) else 30)  # fmt: skip
            unknown = st.checkbox(t("fl.r.unknown", lang), value=pd.isna(row["depth_cm"]))
            closed = st.checkbox(t("fl.effect.closed", lang), value=row["effect"] == "closed")
            if st.form_submit_button(t("fl.r.update", lang)):
                ids = floods.segment_list(row["segment_ids"])
                snap = floods.Snap(ids, str(row["street"] or ""), row.geometry, 0.0)
                new = floods.add_report(
                    store, snap, user=user, role=role, depth_cm=None if unknown else depth,
                    observed_at=floods.now_local(), source=str(row["source"]),
                    effect="closed" if closed else "passable", supersedes=fid,
                    expected_version=version,
                    hours=state.get_settings().flood_report_hours, marked_as=str(
                        row.get("marked_as") or "point"),
                )  # fmt: skip
                _done(t("fl.r.updated_ok", lang, fid=fid, new=new))
        with st.form(f"fl_end_{fid}"):
            reason = st.text_input(t("fl.r.end_reason", lang), value=t("fl.r.receded", lang))
            if st.form_submit_button(t("fl.r.end", lang)):
                floods.end_report(store, fid, expected_version=version, user=user, role=role,
                                  reason=reason)  # fmt: skip
                _done(t("fl.r.ended_ok", lang, fid=fid))
    except ConflictError:
        st.error(t("fl.e.conflict", lang))
        st.button(t("fl.reload", lang), key=f"fl_reload_{fid}", on_click=_forget_seen,
                  args=(f"fl_seen_{fid}",))  # fmt: skip
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
    except (GISInputError, NotFoundError) as e:
        st.error(t("fl.e.input", lang, error=md(e)))


def _forget_seen(key: str) -> None:
    """"Reload" after a conflict (a callback, so it runs whatever the next run draws): the
    record is read afresh and the version on screen becomes the stored one."""
    st.session_state.pop(key, None)
    state.changed()


def resnap(lang: str) -> None:
    """Move live reports left off a re-imported network back onto it."""
    try:
        moved = floods.resnap(state.get_store(), ui_floods.segment_index(),
                              user=state.user_name() or "web", role=state.role())  # fmt: skip
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
        return
    _done(t("fl.streets.resnapped", lang, n=len(moved)))


def _done(message: str) -> None:
    for key in [k for k in st.session_state if str(k).startswith("fl_seen_")]:
        del st.session_state[key]
    state.changed()
    ui_floods.flash(message)
    st.rerun()


# --- a street's history -----------------------------------------------------------------------
def history_panel(reports: pd.DataFrame, lang: str) -> None:
    """A street's flood events over time: a chart of depths and the list."""
    names = sorted({str(n) for n in reports["street"].dropna() if str(n)}
                   | {str(n) for n in ui_floods.prone()["street"].dropna()},
                   key=floods.street_key)  # fmt: skip
    if not names:
        st.caption(t("fl.history.none", lang))
        return
    name = st.selectbox(t("fl.history.street", lang), names, key="fl_history_street")
    ids = ui_floods.segment_index().street(name)
    events = floods.street_events(reports, ids)
    if events.empty:
        st.caption(t("fl.history.no_events", lang))
        return
    chart_data = pd.DataFrame({
        "start": pd.to_datetime(events["observed_at"].map(
            lambda v: floods.parse_time(v, "t").replace(tzinfo=None))),
        "end": pd.to_datetime(events["ends_at"].map(
            lambda v: floods.parse_time(v, "t").replace(tzinfo=None))),
        "depth": events["depth_cm"].fillna(0),
        "class": events["depth_class"].map(lambda c: ui_floods.class_label(c, lang)),
        "report": events["fid"].map(lambda f: f"#{f}"),
    })  # fmt: skip
    colours = [floods.DEPTH_COLOURS[c] for c in floods.DEPTH_CLASSES]
    domain = [ui_floods.class_label(c, lang) for c in floods.DEPTH_CLASSES]
    chart = alt.Chart(chart_data).mark_rect(opacity=0.8, stroke="#333333",
                                            strokeWidth=0.5).encode(
        x=alt.X("start:T", title=t("fl.history.time", lang)),
        x2="end:T",
        y=alt.Y("depth:Q", title=t("fl.history.depth", lang)),
        y2=alt.datum(0),
        color=alt.Color("class:N", scale=alt.Scale(domain=domain, range=colours),
                        legend=alt.Legend(title=t("fl.history.class", lang), orient="bottom",
                                          columns=2)),
        tooltip=["report", "start:T", "end:T", "depth:Q", "class"],
    ).properties(height=220)  # fmt: skip
    st.altair_chart(chart, width="stretch")
    st.caption(t("fl.history.caption", lang, n=len(events)))


# --- flood-prone streets ------------------------------------------------------------------------
def prone_panel(lang: str) -> None:
    """The programme's streets, designation, and the works on each flood-prone street."""
    settings = state.get_settings()
    index = ui_floods.segment_index()
    prone = ui_floods.prone()
    programme = floods.programme_status(prone, index, settings.profile.flood_prone_streets)
    if not programme.empty:
        st.markdown(f"**{t('fl.prone.programme', lang, ward=settings.profile.name)}**")
        for row in programme.itertuples(index=False):
            left, right = st.columns([3, 2], vertical_alignment="center")
            if row.designated:
                note = t("fl.prone.designated", lang)
            elif row.segments:
                note = t("fl.prone.found", lang, n=row.segments)
            else:
                note = t("fl.prone.missing", lang)
            left.markdown(f"{md(row.street)} · {note}")
            if row.segments and not row.designated and right.button(
                t("fl.prone.designate", lang), key=f"fl_prog_{row.street}"
            ):
                _designate(str(row.street), lang, programme=t("fl.prone.programme_name", lang))
    with st.form("fl_prone_form"):
        street = st.selectbox(t("fl.prone.street", lang), index.street_names(), key="fl_prone_st")
        reason = st.text_input(t("fl.prone.reason", lang), key="fl_prone_reason")
        if st.form_submit_button(t("fl.prone.designate", lang)):
            _designate(str(street), lang, reason=reason)
    if prone.empty:
        return
    for fid, row in prone.iterrows():
        with st.expander(f"{md(row['street'])} · {t('fl.prone.works', lang)}"):
            _works_editor(int(fid), row, lang)


def _designate(street: str, lang: str, *, reason: str = "", programme: str = "") -> None:
    try:
        floods.designate(state.get_store(), ui_floods.segment_index(), street=street,
                         reason=reason, programme=programme, user=state.user_name() or "web",
                         role=state.role())  # fmt: skip
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
        return
    except (GISInputError, NotFoundError) as e:
        st.error(t("fl.e.input", lang, error=md(e)))
        return
    _done(t("fl.prone.done", lang, street=md(street)))


def _works_editor(fid: int, row: pd.Series, lang: str) -> None:
    # the version when editing began: a colleague's save in between is refused on save, and
    # it is part of the editor's key so their data never silently replaces the edits
    seen = int(st.session_state.setdefault(f"fl_works_seen_{fid}", int(row["_version"])))
    works = pd.DataFrame(floods.check_works(row["works"]),
                         columns=["name", "status", "start", "end", "note"])  # fmt: skip
    for name in ("start", "end"):
        works[name] = pd.to_datetime(works[name]).dt.date
    edited = st.data_editor(
        works, num_rows="dynamic", width="stretch", key=f"fl_works_{fid}_{seen}",
        column_config={
            "name": st.column_config.TextColumn(t("fl.work.name", lang), required=True),
            "status": st.column_config.SelectboxColumn(
                t("fl.work.status", lang), options=list(floods.WORK_STATUSES), required=True,
                default="planned"),
            "start": st.column_config.DateColumn(t("fl.work.start", lang), format="DD/MM/YYYY"),
            "end": st.column_config.DateColumn(t("fl.work.end", lang), format="DD/MM/YYYY"),
            "note": st.column_config.TextColumn(t("fl.work.note", lang)),
        },
    )  # fmt: skip
    st.caption(t("fl.work.statuses", lang))
    if st.button(t("fl.work.save", lang), key=f"fl_works_save_{fid}"):
        records = [
            {k: (None if pd.isna(v) else v) for k, v in rec.items()}
            for rec in edited.to_dict("records") if not pd.isna(rec.get("name"))
        ]  # fmt: skip
        try:
            floods.update_prone(state.get_store(), fid, expected_version=seen,
                                user=state.user_name() or "web", role=state.role(),
                                works=records, reason="works updated")  # fmt: skip
        except ConflictError:
            st.error(t("fl.e.conflict", lang))
            st.button(t("fl.reload", lang), key=f"fl_works_reload_{fid}", on_click=_forget_seen,
                      args=(f"fl_works_seen_{fid}",))  # fmt: skip
            return
        except PermissionDeniedError:
            st.error(t("fl.e.viewer", lang))
            return
        except GISInputError as e:
            st.error(t("fl.e.input", lang, error=md(e)))
            return
        _done(t("fl.work.saved", lang, street=md(row["street"])))


# --- feed ------------------------------------------------------------------------------------
def feed_panel(flooded: gpd.GeoDataFrame, moment: datetime, lang: str) -> None:
    """Current floods for the operations centre: GeoJSON and a CAP 1.2 alert."""
    settings = state.get_settings()
    name = f"{settings.profile.kind} {settings.profile.name}"
    count = floods.summary(flooded, ui_floods.street_segments())["segments"]
    when = moment.strftime("%d/%m/%Y %H:%M")
    st.caption(t("fl.feed.intro", lang, n=count, features=len(flooded), when=when))
    stamp = moment.strftime("%Y%m%d-%H%M")
    geojson = json.dumps(cap.to_geojson(flooded, at=moment, ward_name=name), ensure_ascii=False)
    st.download_button(t("fl.feed.geojson", lang), geojson.encode("utf-8"),
                       file_name=f"ngap-{settings.ward}-{stamp}.geojson",
                       mime="application/geo+json", key="fl_feed_geojson")  # fmt: skip
    try:
        alert = cap.to_cap(flooded, at=moment, sender=f"{settings.ward}.gis", ward_name=name,
                           measure_crs=settings.profile.measure_crs)  # fmt: skip
        cap.validate_cap(alert)
    except GISInputError as e:
        st.error(t("fl.e.input", lang, error=md(e)))
        return
    st.download_button(t("fl.feed.cap", lang), alert, file_name=f"cap-{settings.ward}-{stamp}.xml",
                       mime="application/cap+xml", key="fl_feed_cap")  # fmt: skip
    st.caption(t("fl.feed.cli", lang))
