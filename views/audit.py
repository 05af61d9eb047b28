"""Audit log page (admins): filters, the rows newest first, one row's before and after, CSV."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from geo import auth
from geo.errors import GISInputError
from geo.tables import safe_frame
from ui import state
from ui.i18n import t

PAGE_SIZE = 200
CSV_ROWS = 10_000
WARD_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
ACTIONS = ("feature.", "feature.insert", "feature.update", "layer.", "attachment.", "user.",
           "login.", "logout", "session.expired", "dem.", "demo.install")  # fmt: skip
"""The action filter's choices: a name ending in '.' is a prefix."""

lang = state.lang()
store = state.get_store()

st.title(t("au.title", lang))
if not state.can("audit.read"):  # the page is not offered to others; geo checks again
    st.error(t("auth.admin_only", lang))
    st.stop()
st.caption(t("au.intro", lang))


def local(at: str) -> str:
    """A stored UTC time as the ward's clock time."""
    return pd.Timestamp(at).tz_convert(WARD_TIME).strftime("%Y-%m-%d %H:%M:%S")


def text(value: Any) -> str:
    """A JSON cell as one line of text ('' for none)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


everyone = t("au.all", lang)
actor_col, action_col, layer_col = st.columns(3)
actor = actor_col.text_input(t("au.actor", lang), key="au_actor").strip()
action = action_col.selectbox(t("au.action", lang), [everyone, *ACTIONS], key="au_action")
layers = [info.layer_id for info in state.catalog()]
layer = layer_col.selectbox(t("au.layer", lang), [everyone, *layers], key="au_layer")
since_col, until_col, page_col = st.columns(3)
since = since_col.date_input(t("au.since", lang), value=None, key="au_since", format="DD/MM/YYYY")
until = until_col.date_input(t("au.until", lang), value=None, key="au_until", format="DD/MM/YYYY")
page = int(page_col.number_input(t("au.page", lang), min_value=1, value=1, step=1, key="au_page"))

filters: dict[str, Any] = {
    "actor": actor or None,
    "action": None if action == everyone else action,
    "layer_id": None if layer == everyone else layer,
    "since": since.isoformat() if since else None,
    "until": until.isoformat() if until else None,
}
try:
    rows = auth.read_audit(
        store, actor_role=state.role(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **filters
    )
except GISInputError as e:
    st.error(str(e))
    st.stop()

if rows.empty:
    st.info(t("au.none", lang))
    st.stop()

st.caption(t("au.count", lang, n=len(rows), page=page))
table = pd.DataFrame(
    {
        t("au.col.id", lang): rows["id"].astype(int),
        t("au.col.at", lang): rows["at"].map(local),
        t("au.col.actor", lang): rows["actor"],
        t("au.col.role", lang): rows["role"],
        t("au.col.action", lang): rows["action"],
        t("au.col.layer", lang): rows["layer_id"].fillna(""),
        t("au.col.fid", lang): rows["fid"].astype("Int64").astype(str).replace("<NA>", ""),
    }
)
st.dataframe(table, hide_index=True, key="au_table")

picked = st.selectbox(t("au.pick", lang), rows["id"].astype(int).tolist(), key="au_pick")
row = rows[rows["id"] == picked].iloc[0]
before_col, after_col, detail_col = st.columns(3)
for column, key, value in ((before_col, "au.before", row["before"]),
                           (after_col, "au.after", row["after"]),
                           (detail_col, "au.detail", row["detail"])):  # fmt: skip
    column.markdown(f"**{t(key, lang)}**")
    if value is None or value == {}:
        column.caption(t("au.nothing", lang))
    else:
        column.json(value, expanded=True)

export = auth.read_audit(store, actor_role=state.role(), limit=CSV_ROWS, **filters)
for name in ("before", "after", "detail"):
    export[name] = export[name].map(text)
st.download_button(
    t("au.download", lang),
    safe_frame(export).to_csv(index=False).encode("utf-8-sig"),
    file_name="nhat-ky-thao-tac.csv",
    mime="text/csv",
    icon=":material/download:",
    key="au_download",
)
