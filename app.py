"""The ward web GIS: Streamlit entry point with the language switch and the page router."""

from __future__ import annotations

import streamlit as st

from geo.errors import ConfigError, GISInputError, StoreError
from ui import dbstatus, state
from ui.i18n import LANG_NAMES, t

st.set_page_config(page_title="Web GIS", page_icon="🗺️", layout="wide")

try:
    settings = state.get_settings()
    profile = settings.profile
except ConfigError as e:
    st.error(t("app.config_error", "vi", error=e))
    st.stop()

lang = state.lang()
pages = [
    st.Page("views/map.py", title=t("nav.map", lang), icon=":material/map:", url_path="map",
            default=True),
    st.Page("views/merger.py", title=t("nav.merger", lang), icon=":material/merge:",
            url_path="merger"),
    st.Page("views/lookup.py", title=t("nav.lookup", lang), icon=":material/search:",
            url_path="lookup"),
    st.Page("views/clearance.py", title=t("nav.clearance", lang), icon=":material/landscape:",
            url_path="clearance"),
    st.Page("views/progress.py", title=t("nav.progress", lang), icon=":material/monitoring:",
            url_path="progress"),
    st.Page("views/parcel_import.py", title=t("nav.parcel_import", lang),
            icon=":material/upload_file:", url_path="parcel-import"),
    st.Page("views/floods.py", title=t("nav.floods", lang), icon=":material/flood:",
            url_path="floods"),
    st.Page("views/route.py", title=t("nav.route", lang), icon=":material/alt_route:",
            url_path="route"),
    st.Page("views/elevation.py", title=t("nav.elevation", lang), icon=":material/terrain:",
            url_path="elevation"),
    st.Page("views/data.py", title=t("nav.data", lang), icon=":material/database:",
            url_path="data"),
]  # fmt: skip
page = st.navigation(pages)

with st.sidebar:
    st.markdown(f"**{t('app.title', lang, ward=profile.name)}**")
    st.caption(
        t("app.ward_caption", lang, kind=profile.kind, ward=profile.name, province=profile.province)
        + " · "
        + t("app.since", lang)
    )
    st.radio(
        t("app.language", lang),
        options=list(LANG_NAMES),
        index=list(LANG_NAMES).index(settings.lang),
        format_func=LANG_NAMES.__getitem__,
        key="lang",
        horizontal=True,
    )
    st.text_input(t("app.user", lang), key="user_name", help=t("app.user_help", lang))
    st.caption(t("app.role", lang, role=t(f"role.{settings.role}", lang)))

try:
    state.check_store()
except StoreError as e:  # the database is down: a banner, a retry, no traceback
    dbstatus.unreachable(e, lang)
except (GISInputError, ConfigError) as e:
    st.error(t("app.store_error", lang, error=e))
    st.stop()

try:
    page.run()
except StoreError as e:  # lost while the page ran (or another store error: recheck)
    dbstatus.unreachable(e, lang, recheck=True)
