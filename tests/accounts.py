"""Test helpers: accounts in a test store, and signed-in AppTest sessions (no backdoor: a real
account, a real password check, a real session token)."""

from __future__ import annotations

from pathlib import Path

from geo import auth
from geo.config import Settings
from geo.errors import NotFoundError
from geo.store import Store, open_store

PASSWORD = "mật khẩu thử 2025"
"""Every test account's password (10+ characters, not the username)."""
TOKEN_KEY = "auth_token"
"""Where the app keeps the session token in ``st.session_state`` (``ui.state.TOKEN_KEY``)."""


def add_account(
    db: str | Path | Store,
    username: str = "an",
    role: str = "editor",
    *,
    display_name: str | None = None,
    password: str = PASSWORD,
) -> str:
    """Create an account in the store at ``db`` (a path or URL, or an open store), or give the
    existing one ``role``; return its username."""
    if isinstance(db, Store):
        return _add(db, username, role, display_name, password)
    with open_store(str(db)) as store:
        return _add(store, username, role, display_name, password)


def _add(store: Store, username: str, role: str, display_name: str | None, password: str) -> str:
    try:
        found = store.get_user(username)
    except NotFoundError:
        auth.add_user(
            store, username, password, display_name=display_name or username, role=role,
            actor="test", actor_role="admin",
        )  # fmt: skip
    else:
        if found.role != role:
            store.update_user(username, role=role, actor="test", actor_role="admin")
    return username


def session_token(db: str | Path, username: str, password: str = PASSWORD) -> str:
    """Sign in as ``username`` with its password; return the session token the browser keeps."""
    with open_store(str(db)) as store:
        return auth.login(store, username, password, settings=Settings()).token


def sign_in(at: object, db: str | Path, role: str = "editor", username: str | None = None) -> str:
    """Make an account with ``role`` (named after the role unless ``username`` is given), sign
    it in, and put the token in the AppTest's session state before its next run; return the
    username."""
    name = add_account(db, username or role, role)
    at.session_state[TOKEN_KEY] = session_token(db, name)  # type: ignore[attr-defined]
    return name
