"""The ward web GIS: Streamlit entry point with the language switch, sign-in and the router."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from geo.errors import ConfigError, GISInputError, StoreError
from ui import dbstatus, signin, state
from ui.i18n import LANG_NAMES, t

st.set_page_config(page_title="Web GIS", page_icon="🗺️", layout="wide")

try:
    settings = state.get_settings()
    profile = settings.profile
except ConfigError as e:
    st.error(t("app.config_error", "vi", error=e))
    st.stop()

lang = state.lang()

try:  # the sign-in needs the store, so it is checked before any page is chosen
    state.check_store()
except StoreError as e:  # the database is down: a banner, a retry, no traceback
    dbstatus.unreachable(e, lang)
except (GISInputError, ConfigError) as e:
    st.error(t("app.store_error", lang, error=e))
    st.stop()

try:
    account = state.check_sign_in()  # every run: an expired session goes back to sign-in
except StoreError as e:
    dbstatus.unreachable(e, lang)

only_login = account is None and not settings.anonymous_read
login = st.Page("views/login.py", title=t("nav.login", lang), icon=":material/login:",
                url_path="login", visibility="hidden" if account else "visible")  # fmt: skip
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
    st.Page("views/users.py", title=t("nav.users", lang), icon=":material/group:",
            url_path="users"),
    st.Page("views/audit.py", title=t("nav.audit", lang), icon=":material/history:",
            url_path="audit"),
]  # fmt: skip
# Pages a role cannot use are not offered; each write checks the role again in geo/.
NEEDS = {"parcel-import": "parcel.import", "users": "users.manage", "audit": "audit.read"}
page: StreamlitPage | None = None
if only_login:
    # Every link resolves (a bookmark of /floods opens it after signing in), but nothing runs
    # except the sign-in form, and there is no menu.
    st.navigation([*pages, login], position="hidden")
else:
    offered = [p for p in pages if p.url_path not in NEEDS or state.can(NEEDS[p.url_path])]
    page = st.navigation([*offered, login])  # /login stays an address once signed in

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
    if account is not None:
        st.markdown(t("auth.signed_in", lang, name=account.display_name,
                      username=account.username))  # fmt: skip
        st.caption(t("app.role", lang, role=t(f"role.{account.role}", lang)))
        if st.button(t("auth.sign_out", lang), key="sign_out", icon=":material/logout:"):
            state.sign_out()
            st.session_state[state.ENDED_KEY] = "signed_out"
            st.rerun()
    elif settings.anonymous_read:
        st.caption(t("auth.guest", lang))
        st.caption(t("app.role", lang, role=t("role.viewer", lang)))
        st.page_link(login, label=t("auth.sign_in_link", lang), icon=":material/login:")

try:
    if page is None:
        signin.show()
    else:
        page.run()
except StoreError as e:  # lost while the page ran (or another store error: recheck)
    dbstatus.unreachable(e, lang, recheck=True)
