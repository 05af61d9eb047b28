"""Streamlit pieces shared by the clearance pages: dataset choice, demo banner, the record panel."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from geo import clearance, demo, wards
from geo.errors import ConflictError, GISInputError, NotFoundError, PermissionDeniedError
from ui import state
from ui.i18n import fmt_num, t

DEMO_SIZE = 300


def today() -> date:
    """The date overdue is judged on."""
    return clearance.local_today()


RECORD_KEYS = ("e_", "tasks_", "att_", "seen_", "reload_", "cl_pick", "cl_clicked")


def forget_record_state() -> None:
    """Drop the record panel's widget state: a form must never carry values from one dataset
    (or one removed layer) into a parcel of another that has the same id and version."""
    for key in [k for k in st.session_state if str(k).startswith(RECORD_KEYS)]:
        del st.session_state[key]


def pick_dataset(lang: str) -> str | None:
    """The parcel layer to work on: a choice when both real and demo records exist."""
    present = [info.layer_id for info in state.parcel_layers()]
    if not present:
        chosen = None
    elif len(present) == 1:
        chosen = present[0]
    else:
        chosen = str(
            st.radio(
                t("cl.dataset", lang),
                present,
                format_func=lambda layer_id: t(f"cl.dataset.{layer_id}", lang),
                horizontal=True,
                key="parcel_dataset",
            )
        )
    if st.session_state.get("parcel_layer_active") != chosen:
        forget_record_state()
        st.session_state["parcel_layer_active"] = chosen
    return chosen


def demo_banner(layer_id: str, lang: str) -> None:
    """A warning that the data is generated, with the one-click removal."""
    if layer_id != clearance.DEMO_LAYER:
        return
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.warning(t("cl.demo_banner", lang), icon=":material/science:")
    if right.button(t("cl.demo_remove", lang), key="demo_remove"):
        if state.role() not in clearance.EDIT_ROLES:
            st.error(t("cl.e.viewer", lang))
            return
        count = demo.remove_demo(
            state.get_store(), user=state.user_name() or "web", role=state.role()
        )
        state.changed()
        forget_record_state()
        st.toast(t("cl.demo_removed", lang, n=count))
        st.rerun()


def empty_state(lang: str) -> None:
    """No parcel layer yet: say how to import, offer the labelled demo set."""
    st.info(t("cl.empty", lang))
    if st.button(t("cl.demo_make", lang, n=DEMO_SIZE), key="demo_make", type="primary"):
        if state.role() not in clearance.EDIT_ROLES:
            st.error(t("cl.e.viewer", lang))
            return
        store = state.get_store()
        bar = st.progress(0.0, text=t("cl.demo_progress", lang))
        count = demo.install_demo(
            store,
            state.get_settings().profile,
            store.read_layer(wards.OLD_LAYER),
            store.read_layer(wards.NEW_LAYER),
            n=DEMO_SIZE,
            role=state.role(),
            user=state.user_name() or "web",
            progress=lambda share, _: _show(bar, share, t("cl.demo_progress", lang)),
        )
        state.changed()
        st.toast(t("cl.demo_made", lang, n=count))
        st.rerun()


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md(text: Any) -> str:
    """User text made inert for ``st.markdown``: Markdown and HTML characters escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def _show(bar: Any, share: float, text: str) -> None:
    bar.progress(share, text=text)


def value_text(value: Any, lang: str) -> str:
    """A record value for display."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int | float):
        return fmt_num(value, lang, 0 if float(value).is_integer() else 1)
    if isinstance(value, list):
        return str(len(value))
    return str(value)


def stage_label(code: Any, lang: str) -> str:
    """A stage's name, or the raw value if it is not a stage."""
    stage = clearance.STAGE_BY_CODE.get(str(code))
    return stage.label(lang) if stage else str(code)


def record_panel(layer_id: str, fid: int, lang: str) -> None:
    """One parcel: its record, an edit form, tasks, history and documents."""
    store = state.get_store()
    try:
        feature = store.get_feature(layer_id, fid)
    except NotFoundError:
        st.info(t("map.panel.gone", lang))
        return
    # The edit forms work on the version this session saw, not whatever is stored now: a save
    # sends that version and is refused if someone else saved in between.
    seen_key = f"seen_{layer_id}_{fid}"
    if seen_key not in st.session_state:
        st.session_state[seen_key] = (feature.version, feature.props)
    seen, seen_props = st.session_state[seen_key]
    props = feature.props
    key = clearance.parcel_key(props.get("map_sheet"), props.get("parcel_no"))
    st.markdown(f"#### {md(key)} · {md(props.get('holder') or '')}")
    st.markdown(f"**{stage_label(props.get('stage'), lang)}**")
    now = today()
    if clearance.parcel_overdue(props, now):
        days = (now - date.fromisoformat(str(props["deadline"])[:10])).days
        st.error(t("cl.overdue_flag", lang, days=days))
    if props.get("complaint_filed") and not props.get("complaint_resolved"):
        st.warning(t("cl.complaint_flag", lang, date=props["complaint_filed"]))
    st.caption(
        t(
            "cl.version",
            lang,
            version=feature.version,
            updated=feature.updated_at[:16].replace("T", " "),
            by=feature.updated_by,
        )
    )
    tabs = st.tabs(
        [
            t("cl.tab.record", lang),
            t("cl.tab.edit", lang),
            t("cl.tab.tasks", lang),
            t("cl.tab.history", lang),
            t("cl.tab.files", lang),
        ]
    )
    with tabs[0]:
        _record_table(props, lang)
    with tabs[1]:
        _stale_notice(seen_key, seen, feature.version, feature.props, lang)
        _edit_form(layer_id, fid, seen_props, seen, seen_key, lang)
    with tabs[2]:
        _stale_notice(seen_key, seen, feature.version, feature.props, lang, suffix="t")
        _tasks_form(layer_id, fid, seen_props, seen, seen_key, lang)
    with tabs[3]:
        _history_table(layer_id, fid, lang)
    with tabs[4]:
        _documents(layer_id, fid, lang)


def _record_table(props: dict[str, Any], lang: str) -> None:
    rows = []
    for field in clearance.FIELDS:
        if field.kind == "tasks":
            continue
        value = props.get(field.name)
        text = stage_label(value, lang) if field.kind == "stage" else value_text(value, lang)
        rows.append((field.label(lang), text))
    frame = pd.DataFrame(rows, columns=[t("map.panel.field", lang), t("map.panel.value", lang)])
    st.dataframe(frame, hide_index=True, width="stretch", height=420)


def _can_save(lang: str) -> bool:
    if state.role() not in clearance.EDIT_ROLES:
        st.error(t("cl.e.viewer", lang))
        return False
    if not state.user_name():
        st.error(t("cl.e.no_user", lang))
        return False
    return True


def _save(
    layer_id: str,
    fid: int,
    changes: dict[str, Any],
    seen: int,
    seen_key: str,
    lang: str,
    *,
    reason: str = "",
    override_reason: str | None = None,
) -> None:
    """Save with the version the user saw; report conflicts and broken rules plainly."""
    try:
        feature = clearance.edit_parcel(
            state.get_store(), layer_id, fid, changes, expected_version=seen,
            user=state.user_name(), role=state.role(), reason=reason,
            override_reason=override_reason, today=today(),
        )  # fmt: skip
    except ConflictError as e:
        who = ", ".join(sorted({str(c["changed_by"]) for c in e.changes})) or "?"
        st.error(t("cl.e.conflict", lang, who=who, current=e.current_version, expected=seen))
        rows = [
            (
                c["version"],
                c["changed_at"],
                c["changed_by"],
                _change_text(c["before"], c["after"], lang),
            )
            for c in e.changes
        ]
        st.dataframe(
            pd.DataFrame(
                rows,
                columns=["v", t("cl.h.when", lang), t("cl.h.who", lang), t("cl.h.change", lang)],
            ),
            hide_index=True,
        )
        return
    except (PermissionDeniedError, NotFoundError) as e:
        st.error(t("cl.e.rule", lang, error=e))
        return
    except GISInputError as e:
        if "nothing differs" in str(e):
            st.info(t("cl.e.nothing", lang))
        else:
            st.error(t("cl.e.rule", lang, error=e))
        return
    st.session_state[seen_key] = (feature.version, feature.props)
    state.changed()
    st.session_state["flash"] = t("cl.e.saved", lang, version=feature.version)
    st.rerun()


def _stale_notice(
    seen_key: str, seen: int, version: int, props: dict[str, Any], lang: str, suffix: str = "e"
) -> None:
    """If the record moved on since this session opened it: say so and offer to reload."""
    if version == seen:
        return
    st.warning(t("cl.e.stale", lang, seen=seen, version=version))
    if st.button(t("cl.e.reload", lang), key=f"reload_{suffix}_{seen_key}"):
        st.session_state[seen_key] = (version, props)
        st.rerun()


def _edit_form(
    layer_id: str, fid: int, props: dict[str, Any], seen: int, seen_key: str, lang: str
) -> None:
    current = str(props.get("stage") or clearance.FIRST_STAGE)
    approver = state.role() in clearance.OVERRIDE_ROLES
    options = [current, *clearance.TRANSITIONS.get(current, ())]
    if approver:
        options += [s.code for s in clearance.STAGES if s.code not in options]
    with st.form(f"edit_{layer_id}_{fid}_{seen}"):
        stage = st.selectbox(
            t("cl.e.stage", lang), options, format_func=lambda c: stage_label(c, lang),
            help=t("cl.e.stage_help", lang), key=f"e_stage_{fid}_{seen}",
        )  # fmt: skip
        values: dict[str, Any] = {"stage": stage}
        groups = (
            ("cl.e.money", ("comp_land", "comp_assets", "comp_support", "paid_amount", "paid_date",
                            "resettlement", "decision_no", "decision_date")),
            ("cl.e.six", clearance.SIX_CLEARS),
            ("cl.e.complaint", ("complaint_filed", "complaint_resolved", "complaint_note")),
            ("cl.e.other", ("holder", "address", "land_type", "area_total_m2",
                            "area_recovered_m2", "note")),
        )  # fmt: skip
        for title, names in groups:
            with st.expander(t(title, lang), expanded=title == "cl.e.money"):
                cols = st.columns(2)
                for i, name in enumerate(names):
                    field = clearance.FIELD_BY_NAME[name]
                    current_value = props.get(name)
                    widget_key = f"e_{name}_{fid}_{seen}"
                    with cols[i % 2]:
                        if field.kind == "bool":
                            values[name] = st.checkbox(
                                field.label(lang), value=bool(current_value), key=widget_key
                            )
                        else:
                            values[name] = st.text_input(
                                field.label(lang),
                                value="" if current_value is None else _plain_text(current_value),
                                key=widget_key,
                            )
        reason = st.text_input(t("cl.e.reason", lang), key=f"e_reason_{fid}_{seen}")
        override = ""
        if approver:
            override = st.text_input(
                t("cl.e.override_reason", lang), key=f"e_override_{fid}_{seen}"
            )
        submitted = st.form_submit_button(t("cl.e.save", lang), type="primary")
    if submitted and _can_save(lang):
        changes = {
            k: (None if isinstance(v, str) and not v.strip() else v)
            for k, v in values.items()
            if _differs(props.get(k), v)
        }
        _save(layer_id, fid, changes, seen, seen_key, lang, reason=reason,
              override_reason=override.strip() or None)  # fmt: skip


def _plain_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _differs(stored: Any, typed: Any) -> bool:
    """Whether a form value changes the stored one (numbers and blanks compared as such)."""
    if isinstance(typed, bool):
        return bool(stored) != typed
    text = str(typed).strip()
    if stored is None:
        return bool(text)
    return _plain_text(stored) != text


def _tasks_form(
    layer_id: str, fid: int, props: dict[str, Any], seen: int, seen_key: str, lang: str
) -> None:
    st.caption(t("cl.t.intro", lang))
    raw_tasks = props.get("tasks")
    tasks: list[dict[str, Any]] = raw_tasks if isinstance(raw_tasks, list) else []
    columns = ["task", "responsible", "unit", "deadline", "result", "authority", "done"]
    frame = pd.DataFrame(tasks, columns=["id", *columns, "done_date"])
    frame["deadline"] = pd.to_datetime(frame["deadline"], errors="coerce").dt.date
    frame["done"] = frame["done"].fillna(False).astype(bool)
    config = {
        name: st.column_config.TextColumn(t(f"cl.t.{name}", lang))
        for name in ("task", "responsible", "unit", "result", "authority")
    }
    config["deadline"] = st.column_config.DateColumn(t("cl.t.deadline", lang))
    config["done"] = st.column_config.CheckboxColumn(t("cl.t.done", lang))
    with st.form(f"tasks_{layer_id}_{fid}_{seen}"):
        edited = st.data_editor(
            frame[["id", *columns]], column_config=config, column_order=columns,
            num_rows="dynamic", hide_index=True, width="stretch",
            key=f"tasks_{fid}_{seen}",
        )  # fmt: skip
        submitted = st.form_submit_button(t("cl.t.save", lang))
    if submitted and _can_save(lang):
        records = []
        for rec in edited.to_dict("records"):
            if not str(rec.get("task") or "").strip():
                continue
            item = {k: (None if pd.isna(v) else v) for k, v in rec.items() if k in columns}
            if rec.get("id") and not pd.isna(rec["id"]):
                item["id"] = rec["id"]
            before: dict[str, Any] = next(
                (x for x in tasks or [] if x.get("id") == item.get("id")), {}
            )
            if item.get("done") and not before.get("done"):
                item["done_date"] = today().isoformat()
            elif item.get("done"):
                item["done_date"] = before.get("done_date")
            records.append(item)
        _save(layer_id, fid, {"tasks": records}, seen, seen_key, lang)


def _change_text(before: Any, after: Any, lang: str) -> str:
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    parts = []
    for name in list(after)[:12]:
        if name == "geometry":
            parts.append("geometry")
            continue
        old: Any = before.get(name)
        new: Any = after.get(name)
        if name == "stage":
            old, new = stage_label(old, lang) if old else None, stage_label(new, lang)
        if isinstance(new, list):
            new = f"{len(new)} ×"
            old = None if old is None else f"{len(old)} ×"
        label = (
            clearance.FIELD_BY_NAME[name].label(lang) if name in clearance.FIELD_BY_NAME else name
        )
        parts.append(f"{label}: {value_text(old, lang)} → {value_text(new, lang)}")
    return "; ".join(parts)


def _text_or_blank(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _reader(store: Any, attachment_id: int) -> Any:
    """A callable giving a document's bytes, for a download button that reads on click."""

    def read() -> bytes:
        return bytes(store.read_attachment(attachment_id)[1])

    return read


def _history_table(layer_id: str, fid: int, lang: str) -> None:
    history = state.get_store().history(layer_id, fid)
    if history.empty:
        st.caption(t("cl.h.empty", lang))
        return
    rows = [
        (r["changed_at"][:16].replace("T", " "), _text_or_blank(r.get("effective_at")),
         r["changed_by"], r["action"], _change_text(r["before"], r["after"], lang), r["reason"])
        for r in history.iloc[::-1].to_dict("records")
    ]  # fmt: skip
    columns = [
        t(f"cl.h.{c}", lang) for c in ("when", "effective", "who", "action", "change", "reason")
    ]
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")


def _documents(layer_id: str, fid: int, lang: str) -> None:
    store = state.get_store()
    settings = state.get_settings()
    attachments = store.list_attachments(layer_id, fid)
    for att in attachments:
        left, mid, right = st.columns([4, 2, 1], vertical_alignment="center")
        left.markdown(f"📄 {md(att.filename)} · {md(att.created_by)} · {att.created_at[:10]}")
        mid.download_button(
            t("cl.a.download", lang, name=""),
            _reader(store, att.id),  # the bytes are read only when clicked
            file_name=att.filename, mime=att.mime, key=f"att_dl_{att.id}",
        )  # fmt: skip
        if right.button(t("cl.a.remove", lang), key=f"att_rm_{att.id}") and _can_save(lang):
            try:
                clearance.detach(store, att.id, user=state.user_name(), role=state.role())
            except (NotFoundError, PermissionDeniedError) as e:
                st.error(t("cl.a.error", lang, error=e))
                return
            state.changed()
            st.session_state["flash"] = t("cl.a.removed", lang, name=att.filename)
            st.rerun()
    if not attachments:
        st.caption(t("cl.a.none", lang))
    upload = st.file_uploader(
        t("cl.a.upload", lang, mb=settings.max_attachment_mb),
        type=["pdf", "jpg", "jpeg", "png", "webp"], key=f"att_up_{fid}",
    )  # fmt: skip
    if upload is not None and st.button(t("cl.a.add", lang), key=f"att_add_{fid}"):
        if not _can_save(lang):
            return
        try:
            att = clearance.attach(
                store, layer_id, fid, upload.getvalue(), upload.name, user=state.user_name(),
                role=state.role(), max_bytes=settings.max_attachment_mb * 1024 * 1024,
            )  # fmt: skip
        except (GISInputError, PermissionDeniedError) as e:
            st.error(t("cl.a.error", lang, error=e))
            return
        state.changed()
        st.session_state["flash"] = t("cl.a.added", lang, name=att.filename)
        st.rerun()
