"""The banner shown instead of a page while the database cannot be reached.

The store reconnects by itself on its next use (``geo.store_sql``), so nothing here reopens
anything: the banner offers a retry button, and a fragment checks every few seconds and
reruns the app once the database answers again.
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from geo.errors import StoreError
from ui import state
from ui.i18n import t

POLL_S = 5
"""Seconds between checks while the database is down."""


def reachable() -> bool:
    """Whether the store answers now (one cheap query; reconnects if it had been lost)."""
    try:
        state.check_store()
    except StoreError:
        return False
    return True


@st.fragment(run_every=POLL_S)
def _watch() -> None:
    if reachable():
        st.rerun(scope="app")


def unreachable(error: StoreError, lang: str, *, recheck: bool = False) -> NoReturn:
    """Say the database is down, offer a retry, watch for its return, and stop the page.

    A GeoPackage has no server to come back: its error is shown as it is, and so is any other
    store error when ``recheck`` finds the database answering.
    """
    server = state.get_settings().db_url.startswith(("postgresql://", "postgres://"))
    if not server or (recheck and reachable()):
        st.error(t("app.store_error", lang, error=error))
        st.stop()
    st.error(t("app.db_down", lang), icon=":material/cloud_off:")
    st.caption(t("app.db_unsaved", lang))
    st.text(t("app.db_detail", lang, error=error))  # plain text: paths and URLs stay as they are
    st.button(t("app.db_retry", lang), key="db_retry", type="primary", icon=":material/refresh:")
    _watch()
    st.stop()
