"""Accounts, roles and sign-in sessions: argon2id passwords, lockout, expiry, permissions."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo.config import Settings
from geo.errors import (
    AccountDisabledError,
    AccountLockedError,
    AuthenticationError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    SessionExpiredError,
    StoreError,
)
from geo.store import Session, Store, User

ROLES: tuple[str, ...] = ("viewer", "editor", "approver", "admin")
_EDIT = frozenset({"editor", "approver", "admin"})
_APPROVE = frozenset({"approver", "admin"})
_ADMIN = frozenset({"admin"})

PERMISSIONS: Mapping[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "parcel.edit": _EDIT,
    "parcel.override": _APPROVE,
    "parcel.import": _EDIT,
    "parcel.attach": _EDIT,
    "demo.manage": _EDIT,
    "flood.report": _EDIT,
    "flood.confirm": _APPROVE,
    "flood.prone": _EDIT,
    "streets.import": _EDIT,
    "dem.manage": _EDIT,
    "layer.import": _ADMIN,
    "layer.delete": _ADMIN,
    "users.manage": _ADMIN,
    "audit.read": _ADMIN,
}
"""Which roles may do each action. Every write in ``geo`` checks it through :func:`require`;
the pages only hide what a role may not use."""

DESCRIPTIONS: Mapping[str, str] = {
    "read": "read the maps",
    "parcel.edit": "edit parcels",
    "parcel.override": "override the stage rules",
    "parcel.import": "import parcels",
    "parcel.attach": "attach documents to parcels",
    "demo.manage": "make or remove the demo set",
    "flood.report": "mark floods",
    "flood.confirm": "confirm flood reports",
    "flood.prone": "designate flood-prone streets",
    "streets.import": "import streets",
    "dem.manage": "replace the elevation model",
    "layer.import": "import layers",
    "layer.delete": "remove layers",
    "users.manage": "manage accounts",
    "audit.read": "read the audit log",
}

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often (the idle expiry's resolution)."""
INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")

HASHER = PasswordHasher()
"""argon2id with the RFC 9106 low-memory profile (t=3, m=64 MiB, p=4), argon2-cffi's default.
Hashes made with other parameters are re-hashed with these at the next sign-in."""
_dummy: dict[str, str] = {}


# --- roles -------------------------------------------------------------------------------------


def check_role(role: Any) -> str:
    """Return ``role`` if it is one of :data:`ROLES`."""
    if role not in ROLES:
        raise GISInputError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    return str(role)


def roles_for(action: str) -> frozenset[str]:
    """The roles allowed to do ``action``."""
    try:
        return PERMISSIONS[action]
    except KeyError as e:
        known = ", ".join(sorted(PERMISSIONS))
        raise GISInputError(f"action: expected one of {known}, got {action!r}") from e


def can(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown role may do nothing)."""
    return role in roles_for(action)


def require(role: str, action: str, what: str | None = None) -> None:
    """Refuse ``role`` if it may not do ``action``.

    Parameters
    ----------
    role
        The acting role, one of :data:`ROLES`.
    action
        A key of :data:`PERMISSIONS`.
    what
        The action in words for the message ("edit parcels"); its description by default.

    Raises
    ------
    GISInputError
        If ``role`` or ``action`` is unknown.
    PermissionDeniedError
        If the role may not do it.
    """
    allowed = roles_for(action)
    check_role(role)
    if role not in allowed:
        article = "an" if role[0] in "aeiou" else "a"
        needs = ", ".join(r for r in ROLES if r in allowed)
        msg = f"role: {article} {role} may not {what or DESCRIPTIONS[action]} (needs {needs})"
        raise PermissionDeniedError(msg)


# --- passwords ---------------------------------------------------------------------------------


def check_username(username: Any) -> str:
    """A username, lower-cased: 2 to 64 of ``a-z 0-9 . _ -``, starting with a letter."""
    text = username.strip().lower() if isinstance(username, str) else username
    if not isinstance(text, str) or not _USERNAME.fullmatch(text):
        msg = (
            "username: expected 2 to 64 characters from a-z, 0-9, '.', '_', '-', starting "
            f"with a letter, got {username!r}"
        )
        raise GISInputError(msg)
    return text


def check_password(password: Any, username: str = "") -> str:
    """Return ``password`` if it follows the rules: at least :data:`MIN_PASSWORD`
    characters, not the username, no control characters."""
    if not isinstance(password, str):
        raise GISInputError(f"password: expected text, got {type(password).__name__}")
    length = len(password)
    if length < MIN_PASSWORD:
        msg = f"password: expected at least {MIN_PASSWORD} characters, got {length}"
        raise GISInputError(msg)
    if length > MAX_PASSWORD:
        raise GISInputError(f"password: expected at most {MAX_PASSWORD} characters, got {length}")
    if any(unicodedata.category(c) == "Cc" for c in password):
        raise GISInputError("password: expected no control characters (tab, newline, NUL)")
    if username and password.strip().casefold() == username.strip().casefold():
        raise GISInputError("password: expected something other than the username, got it")
    return password


def hash_password(password: str, username: str = "") -> str:
    """The argon2id hash of a password that follows :func:`check_password`."""
    return HASHER.hash(check_password(password, username))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a broken hash)."""
    try:
        return bool(HASHER.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that takes as long."""
    key = f"{HASHER.time_cost}:{HASHER.memory_cost}:{HASHER.parallelism}"
    if key not in _dummy:
        _dummy[key] = HASHER.hash(secrets.token_urlsafe(16))
    return _dummy[key]


def random_password() -> str:
    """A random password for a new account (about 128 bits)."""
    return secrets.token_urlsafe(16)


# --- sign-in and sessions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """Who is signed in, as the pages need it."""

    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the token to keep in the browser session (shown to no one)."""

    token: str = field(repr=False)
    account: Account
    expires_at: str


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a session token: all the store keeps of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise GISInputError(f"now: expected a time with a time zone, got {moment!r}")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _safe_name(text: Any) -> str:
    """An attempted username as it may be written to the audit: printable, at most 64."""
    raw = text if isinstance(text, str) else repr(text)
    return "".join(c for c in raw if unicodedata.category(c)[0] != "C")[:64] or "?"


def login(
    store: Store,
    username: str,
    password: str,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> SignIn:
    """Check a username and password; on success start a session.

    An unknown user costs the same password check as a known one and gets the same message.
    Every attempt is in the audit log.

    Raises
    ------
    AuthenticationError
        Unknown user or wrong password (the message does not say which).
    AccountLockedError
        Too many failures in a row: locked until ``error.until``. A right password does not
        open a locked account before then.
    AccountDisabledError
        The password is right but an admin disabled the account.
    """
    moment = _now(now)
    wrong = AuthenticationError("username, password: expected a known account and its password")
    try:
        name = check_username(username)
        user = store.get_user(name)
    except (GISInputError, NotFoundError):
        verify_password(_dummy_hash(), str(password))
        store.record_event(
            "login.failure", actor=_safe_name(username), detail={"reason": "unknown user"}
        )
        raise wrong from None
    matches = verify_password(user.password_hash, str(password))
    if user.locked_until and _parse(user.locked_until) > moment:
        store.record_event(
            "login.refused", actor=user.username, actor_role=user.role,
            detail={"reason": "locked", "locked_until": user.locked_until},
        )  # fmt: skip
        raise AccountLockedError(
            f"username: account {user.username!r} is locked until {user.locked_until} after "
            "repeated failed sign-ins",
            until=user.locked_until,
        )
    if not matches:
        until = _iso(moment + timedelta(minutes=settings.lockout_minutes))
        after = store.login_failed(
            user.username, lock_after=settings.lockout_failures, lock_until=until
        )
        if after.locked_until == until:
            raise AccountLockedError(
                f"username: account {user.username!r} is locked until {until} after "
                f"{settings.lockout_failures} failed sign-ins",
                until=until,
            )
        raise wrong
    if user.disabled:
        store.record_event(
            "login.refused", actor=user.username, actor_role=user.role,
            detail={"reason": "disabled"},
        )  # fmt: skip
        raise AccountDisabledError(f"username: account {user.username!r} is disabled")
    rehash = None
    if HASHER.check_needs_rehash(user.password_hash):
        rehash = HASHER.hash(str(password))
    token = secrets.token_urlsafe(32)
    expires = _iso(moment + timedelta(hours=settings.session_hours))
    store.create_session(
        Session(token_digest(token), user.username, _iso(moment), expires, _iso(moment)),
        actor_role=user.role,
        password_hash=rehash,
    )
    return SignIn(token, Account(user.username, user.display_name, user.role), expires)


def check_session(
    store: Store, token: str, *, settings: Settings, now: datetime | None = None
) -> Account:
    """The account a session token belongs to, checked on every page view.

    Past its absolute expiry, or idle longer than ``settings.idle_minutes``, the session is
    ended (``session.expired`` in the audit). The account's current role counts, so a role
    change applies at once.

    Raises
    ------
    SessionExpiredError
        With ``reason`` ``unknown``, ``expired``, ``idle`` or ``disabled``.
    """
    moment = _now(now)
    if not isinstance(token, str) or not token:
        raise SessionExpiredError("token: expected a session token, got none", reason="unknown")
    digest = token_digest(token)
    try:
        session = store.get_session(digest)
    except NotFoundError:
        raise SessionExpiredError("token: no such session", reason="unknown") from None
    reason = ""
    if _parse(session.expires_at) <= moment:
        reason = "expired"
    elif moment - _parse(session.last_seen_at) > timedelta(minutes=settings.idle_minutes):
        reason = "idle"
    try:
        user = store.get_user(session.username)
    except NotFoundError:
        user = None
    if not reason and (user is None or user.disabled):
        reason = "disabled"
    if reason:
        store.end_session(digest, reason=reason, actor_role=user.role if user else "")
        raise SessionExpiredError(f"token: the session has ended ({reason})", reason=reason)
    assert user is not None
    if moment - _parse(session.last_seen_at) >= TOUCH_EVERY:
        store.touch_session(digest, _iso(moment))
    return Account(user.username, user.display_name, user.role)


def logout(store: Store, token: str) -> bool:
    """End a session (``logout`` in the audit); whether it was still open."""
    if not isinstance(token, str) or not token:
        return False
    digest = token_digest(token)
    try:
        session = store.get_session(digest)
        role = store.get_user(session.username).role
    except NotFoundError:
        return False
    return store.end_session(digest, reason="logout", actor_role=role)


# --- account administration (admins; the command line acts as one) -----------------------------


def list_users(store: Store, *, actor_role: str) -> list[User]:
    """Every account (admins only)."""
    require(actor_role, "users.manage")
    return store.list_users()


def add_user(
    store: Store,
    username: str,
    password: str,
    *,
    display_name: str = "",
    role: str = "viewer",
    actor: str,
    actor_role: str,
) -> User:
    """Create an account with a password that follows the rules (admins only)."""
    require(actor_role, "users.manage")
    name = check_username(username)
    password_hash = hash_password(password, name)
    return store.add_user(
        name, display_name=display_name.strip() or name, role=check_role(role),
        password_hash=password_hash, actor=actor, actor_role=actor_role,
    )  # fmt: skip


def _enabled_admins(store: Store) -> list[str]:
    return [u.username for u in store.list_users() if u.role == "admin" and not u.disabled]


def _keep_an_admin(store: Store, username: str, what: str) -> None:
    """Refuse to leave the office without an enabled admin."""
    if _enabled_admins(store) == [username]:
        msg = f"username: {username!r} is the only enabled admin; add another before you {what}"
        raise GISInputError(msg)


def set_password(
    store: Store, username: str, password: str, *, actor: str, actor_role: str
) -> User:
    """Give an account a new password and sign it out everywhere (admins only)."""
    require(actor_role, "users.manage")
    name = check_username(username)
    store.get_user(name)  # NotFoundError before the slow hash
    return store.update_user(
        name, password_hash=hash_password(password, name), end_sessions=True, unlock=True,
        actor=actor, actor_role=actor_role,
    )  # fmt: skip


def set_role(store: Store, username: str, role: str, *, actor: str, actor_role: str) -> User:
    """Change an account's role; it applies at the account's next page view (admins only)."""
    require(actor_role, "users.manage")
    name = check_username(username)
    if check_role(role) != "admin" and store.get_user(name).role == "admin":
        _keep_an_admin(store, name, "change its role")
    return store.update_user(name, role=role, actor=actor, actor_role=actor_role)


def set_display_name(
    store: Store, username: str, display_name: str, *, actor: str, actor_role: str
) -> User:
    """Change the name shown for an account (admins only)."""
    require(actor_role, "users.manage")
    return store.update_user(
        check_username(username), display_name=display_name, actor=actor, actor_role=actor_role
    )


def set_disabled(
    store: Store, username: str, disabled: bool, *, actor: str, actor_role: str
) -> User:
    """Disable an account (it is signed out at once) or enable it again (admins only)."""
    require(actor_role, "users.manage")
    name = check_username(username)
    if disabled:
        _keep_an_admin(store, name, "disable it")
    return store.update_user(name, disabled=bool(disabled), actor=actor, actor_role=actor_role)


def unlock(store: Store, username: str, *, actor: str, actor_role: str) -> User:
    """Lift a lockout and reset the failure count (admins only)."""
    require(actor_role, "users.manage")
    return store.update_user(
        check_username(username), unlock=True, actor=actor, actor_role=actor_role
    )


def remove_user(store: Store, username: str, *, actor: str, actor_role: str) -> User:
    """Delete an account and its sessions; its audit rows stay (admins only)."""
    require(actor_role, "users.manage")
    name = check_username(username)
    _keep_an_admin(store, name, "remove it")
    return store.remove_user(name, actor=actor, actor_role=actor_role)


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Whether an account is locked out at ``now``."""
    return bool(user.locked_until) and _parse(str(user.locked_until)) > _now(now)


def read_audit(store: Store, *, actor_role: str, **filters: Any) -> pd.DataFrame:
    """The audit log with :meth:`geo.store.Store.audit`'s filters (admins only)."""
    require(actor_role, "audit.read")
    return store.audit(**filters)


# --- first start -------------------------------------------------------------------------------


def bootstrap(store: Store, var_dir: Path, *, actor: str = "bootstrap") -> str | None:
    """On a store with no account, create ``admin`` with a random password.

    The password is written to ``var_dir/initial-admin-password`` (mode 0600) and returned,
    for the caller to print once; nothing happens (None) when any account exists.
    """
    if store.list_users():
        return None
    password = random_password()
    path = Path(var_dir) / INITIAL_PASSWORD_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        path.chmod(0o600)  # the file may have existed with a wider mode
    except OSError as e:
        raise StoreError(f"var_dir: could not write {str(path)!r}: {e}") from e
    try:
        add_user(
            store, INITIAL_ADMIN, password, display_name="Quản trị (admin)", role="admin",
            actor=actor, actor_role="admin",
        )  # fmt: skip
    except BaseException:
        path.unlink(missing_ok=True)  # a password that opens nothing must not be left
        raise
    return password
