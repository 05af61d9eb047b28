"""The sign-in form (username and password), shown instead of any page until signed in."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from geo import auth
from geo.errors import AccountDisabledError, AccountLockedError, AuthenticationError
from ui import state
from ui.i18n import t

WARD_TIME = ZoneInfo("Asia/Ho_Chi_Minh")


def show() -> None:
    """The sign-in page: why a session ended, the form, and what went wrong; on success the
    token is kept and the app runs again with the pages of the account's role."""
    lang = state.lang()
    settings = state.get_settings()
    store = state.get_store()

    st.title(t("auth.title", lang))
    st.caption(t("auth.intro", lang, ward=settings.profile.name))

    ended = st.session_state.pop(state.ENDED_KEY, None)
    if ended == "signed_out":
        st.info(t("auth.signed_out", lang), icon=":material/logout:")
    elif ended in ("expired", "idle", "disabled", "unknown"):
        st.warning(t(f"auth.ended.{ended}", lang), icon=":material/timer_off:")
    if not store.list_users():
        st.info(t("auth.no_accounts", lang), icon=":material/key:")

    with st.form("login_form", clear_on_submit=True, border=True, width=420):
        username = st.text_input(t("auth.username", lang), key="login_username")
        password = st.text_input(t("auth.password", lang), type="password", key="login_password")
        submitted = st.form_submit_button(
            t("auth.submit", lang), type="primary", key="login_submit"
        )

    if submitted:
        try:
            signed = auth.login(store, username, password, settings=settings)
        except AccountLockedError as e:
            until = datetime.fromisoformat(e.until).astimezone(WARD_TIME)
            st.error(t("auth.locked", lang, until=until.strftime("%H:%M %d/%m/%Y")))
        except AccountDisabledError:
            st.error(t("auth.disabled", lang))
        except AuthenticationError:
            st.error(t("auth.wrong", lang))
        else:
            state.sign_in(signed)
            st.rerun()
