"""Accounts page (admins): list, add, change role, reset password, disable, enable, unlock."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo import auth
from geo.errors import GISInputError, NotFoundError, PermissionDeniedError
from ui import state
from ui.i18n import t

FLASH = "us_flash"
ERRORS = (GISInputError, NotFoundError, PermissionDeniedError)

lang = state.lang()
store = state.get_store()

st.title(t("us.title", lang))
if not state.can("users.manage"):  # the page is not offered to others; geo checks again
    st.error(t("auth.admin_only", lang))
    st.stop()
st.caption(t("us.intro", lang))
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH))


def role_label(role: str) -> str:
    """A role's name in the page's language."""
    return t(f"role.{role}", lang)


def done(message: str) -> None:
    """Say what was done on the next run, which shows the accounts as they are now."""
    st.session_state[FLASH] = message
    st.rerun()


who = {"actor": state.user_name(), "actor_role": state.role()}
users = auth.list_users(store, actor_role=state.role())
by_name = {u.username: u for u in users}


def status(user: auth.User) -> str:
    """Active, disabled or locked, in words."""
    kind = "disabled" if user.disabled else "locked" if auth.is_locked(user) else "active"
    return t(f"us.status.{kind}", lang)


st.dataframe(
    pd.DataFrame(
        [
            {
                t("us.col.username", lang): u.username,
                t("us.col.name", lang): u.display_name,
                t("us.col.role", lang): role_label(u.role),
                t("us.col.status", lang): status(u),
                t("us.col.failed", lang): u.failed_logins,
                t("us.col.last_login", lang): (u.last_login_at or "")[:16].replace("T", " "),
                t("us.col.created", lang): u.created_at[:16].replace("T", " "),
            }
            for u in users
        ]
    ),
    hide_index=True,
)

# Add -------------------------------------------------------------------------------------------
st.subheader(t("us.add", lang))
with st.form("us_add", clear_on_submit=True):
    left, right = st.columns(2)
    new_name = left.text_input(t("us.f.username", lang), key="us_new_username")
    new_display = right.text_input(t("us.f.name", lang), key="us_new_name")
    new_role = left.selectbox(
        t("us.f.role", lang), auth.ROLES, format_func=role_label, key="us_new_role"
    )
    first = left.text_input(t("us.f.password", lang), type="password", key="us_new_password")
    again = right.text_input(t("us.f.password2", lang), type="password", key="us_new_password2")
    st.caption(t("us.f.rules", lang))
    add = st.form_submit_button(t("us.f.add", lang), type="primary", key="us_add_submit")
if add:
    if first != again:
        st.error(t("us.mismatch", lang))
    else:
        try:
            user = auth.add_user(
                store, new_name, first, display_name=new_display, role=new_role, **who
            )
        except ERRORS as e:
            st.error(str(e))
        else:
            done(t("us.added", lang, username=user.username))

# Manage one account ----------------------------------------------------------------------------
picked = st.selectbox(t("us.pick", lang), list(by_name), index=None, key="us_pick")
if picked is not None and picked in by_name:
    user = by_name[picked]
    st.subheader(t("us.manage", lang, username=user.username))
    try:
        role_col, action_col = st.columns(2, gap="large")
        with role_col:
            role = st.selectbox(
                t("us.f.role", lang), auth.ROLES, index=auth.ROLES.index(user.role),
                format_func=role_label, key=f"us_role_{user.username}",
            )  # fmt: skip
            if st.button(t("us.role_save", lang), key="us_role_save"):
                auth.set_role(store, user.username, role, **who)
                done(t("us.role_saved", lang, username=user.username))
            with st.form(f"us_reset_{user.username}", clear_on_submit=True):
                first = st.text_input(t("us.f.password", lang), type="password",
                                      key="us_reset_password")  # fmt: skip
                again = st.text_input(t("us.f.password2", lang), type="password",
                                      key="us_reset_password2")  # fmt: skip
                st.caption(t("us.f.rules", lang))
                reset = st.form_submit_button(t("us.reset", lang), key="us_reset_submit")
            if reset:
                if first != again:
                    st.error(t("us.mismatch", lang))
                else:
                    auth.set_password(store, user.username, first, **who)
                    done(t("us.reset_done", lang, username=user.username))
        with action_col:
            locked = auth.is_locked(user) or user.failed_logins > 0
            if locked and st.button(t("us.unlock", lang), key="us_unlock",
                                    icon=":material/lock_open:"):  # fmt: skip
                auth.unlock(store, user.username, **who)
                done(t("us.unlocked", lang, username=user.username))
            if user.disabled:
                if st.button(t("us.enable", lang), key="us_enable", icon=":material/person_check:"):
                    auth.set_disabled(store, user.username, False, **who)
                    done(t("us.enabled_done", lang, username=user.username))
            elif st.button(t("us.disable", lang), key="us_disable", icon=":material/block:"):
                auth.set_disabled(store, user.username, True, **who)
                done(t("us.disabled_done", lang, username=user.username))
            sure = st.checkbox(
                t("us.remove_sure", lang, username=user.username), key=f"us_sure_{user.username}"
            )
            if st.button(t("us.remove", lang), key="us_remove", disabled=not sure,
                         icon=":material/person_remove:"):  # fmt: skip
                auth.remove_user(store, user.username, **who)
                done(t("us.removed", lang, username=user.username))
    except ERRORS as e:
        st.error(str(e))
