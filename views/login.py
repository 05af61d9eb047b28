"""Sign-in page (offered in the menu when anonymous reading is on): the form of ui/signin."""

from __future__ import annotations

import streamlit as st

from ui import signin, state

if state.account() is not None:  # signed in already (the address /login): go to the map
    st.switch_page("views/map.py")
signin.show()
