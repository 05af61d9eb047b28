"""Accounts, passwords, lockout, sessions and the permission matrix, on both store backends.

Time is injected (``now=``): nothing sleeps.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from geo import auth
from geo.config import ROOT, Settings
from geo.errors import (
    AccountDisabledError,
    AccountLockedError,
    AuthenticationError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    SessionExpiredError,
)
from geo.store import Store
from tests.accounts import PASSWORD

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SETTINGS = Settings()


@pytest.fixture
def lan(store: Store) -> Store:
    """A store with an admin (``root``) and an editor (``lan``, password :data:`PASSWORD`)."""
    auth.add_user(store, "root", "root password 1", role="admin", actor="t", actor_role="admin")
    auth.add_user(
        store, "lan", PASSWORD, display_name="Nguyễn Thị Lan", role="editor", actor="root",
        actor_role="admin",
    )  # fmt: skip
    return store


def _login(store: Store, password: str = PASSWORD, at: datetime = T0, **kw: Any) -> auth.SignIn:
    return auth.login(store, "lan", password, settings=kw.pop("settings", SETTINGS), now=at)


def _raw(store: Store, sql: str) -> list[tuple[Any, ...]]:
    conn = store.conn  # type: ignore[attr-defined]
    with store._lock:  # type: ignore[attr-defined]
        cur = conn.cursor()
        try:
            cur.execute(sql)
            rows = list(cur.fetchall())
        finally:
            cur.close()
            if store.backend == "postgis":
                conn.rollback()
    return rows


# --- passwords ---------------------------------------------------------------------------------


def test_the_app_hashes_with_argon2id_at_rfc_9106_costs() -> None:
    """The tests use cheap costs (conftest); the app's own are checked in a fresh process."""
    code = "from geo import auth; print(auth.HASHER.hash('một mật khẩu dài'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.strip()  # fmt: skip
    assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_passwords_are_stored_as_argon2id_hashes_only(lan: Store) -> None:
    user = lan.get_user("lan")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert "password_hash" not in repr(user) and user.password_hash not in repr(user)
    dump = repr(_raw(lan, "SELECT * FROM users"))
    assert PASSWORD not in dump
    assert auth.verify_password(user.password_hash, PASSWORD)
    assert not auth.verify_password(user.password_hash, PASSWORD + "x")
    assert not auth.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("ngắn quá", "at least 10 characters"),
        ("Lan.Nguyen", "other than the username"),
        ("  lan.nguyen ", "other than the username"),
        ("mười ký tự\x00xx", "no control characters"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_password_rules(store: Store, password: str, problem: str) -> None:
    with pytest.raises(GISInputError, match=problem):
        auth.add_user(store, "lan.nguyen", password, actor="t", actor_role="admin")
    assert store.list_users() == []


@pytest.mark.parametrize("name", ["a", "Nguyễn", "9lan", "lan nguyen", "x" * 65, "", None])
def test_username_rules(store: Store, name: Any) -> None:
    with pytest.raises(GISInputError, match="username"):
        auth.add_user(store, name, PASSWORD, actor="t", actor_role="admin")


def test_usernames_are_case_insensitive_and_unique(lan: Store) -> None:
    assert auth.login(lan, " LAN ", PASSWORD, settings=SETTINGS, now=T0).account.username == "lan"
    with pytest.raises(GISInputError, match="already exists"):
        auth.add_user(lan, "Lan", "another password", actor="root", actor_role="admin")


# --- signing in --------------------------------------------------------------------------------


def test_login_starts_a_session_with_the_accounts_role(lan: Store) -> None:
    signed = _login(lan)
    assert signed.account == auth.Account("lan", "Nguyễn Thị Lan", "editor")
    assert len(signed.token) >= 40 and signed.token not in repr(signed)
    assert auth.check_session(lan, signed.token, settings=SETTINGS, now=T0) == signed.account
    # only the token's SHA-256 is stored
    stored = _raw(lan, "SELECT * FROM sessions")
    assert signed.token not in repr(stored)
    assert stored[0][0] == hashlib.sha256(signed.token.encode()).hexdigest()
    assert lan.get_user("lan").last_login_at is not None


def test_wrong_password_and_unknown_user_get_the_same_message(
    lan: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checks.append(h) or real(h, p))
    with pytest.raises(AuthenticationError) as wrong:
        _login(lan, "not the password")
    with pytest.raises(AuthenticationError) as unknown:
        auth.login(lan, "nobody", PASSWORD, settings=SETTINGS, now=T0)
    with pytest.raises(AuthenticationError) as invalid:
        auth.login(lan, "Robert'); DROP TABLE users;--", PASSWORD, settings=SETTINGS, now=T0)
    assert str(wrong.value) == str(unknown.value) == str(invalid.value)
    assert type(unknown.value) is AuthenticationError
    # an unknown user costs one password check too (against a dummy hash)
    assert len(checks) == 3
    assert checks[1].startswith("$argon2id$") and checks[1] == checks[2]
    failures = lan.audit(action="login.failure")
    assert failures["actor"].tolist() == ["Robert'); DROP TABLE users;--", "nobody", "lan"]
    assert [d["reason"] for d in failures["detail"]] == ["unknown user"] * 2 + ["wrong password"]
    assert len(lan.list_users()) == 2


def test_lockout_after_repeated_failures_then_unlock_by_time_or_admin(lan: Store) -> None:
    for i in range(SETTINGS.lockout_failures - 1):
        with pytest.raises(AuthenticationError) as e:
            _login(lan, "wrong password", T0 + timedelta(seconds=i))
        assert not isinstance(e.value, AccountLockedError)
    assert lan.get_user("lan").failed_logins == SETTINGS.lockout_failures - 1
    with pytest.raises(AccountLockedError) as locked:
        _login(lan, "wrong password", T0 + timedelta(minutes=1))
    until = T0 + timedelta(minutes=1 + SETTINGS.lockout_minutes)
    assert datetime.fromisoformat(locked.value.until) == until
    assert auth.is_locked(lan.get_user("lan"), T0 + timedelta(minutes=2))
    # the right password does not open a locked account, and does not count as a failure
    with pytest.raises(AccountLockedError):
        _login(lan, PASSWORD, until - timedelta(seconds=1))
    assert lan.get_user("lan").failed_logins == 0
    # after the lock time the right password works and the count starts again
    assert _login(lan, PASSWORD, until).account.username == "lan"
    assert lan.get_user("lan").locked_until is None

    for i in range(SETTINGS.lockout_failures):
        with pytest.raises(AuthenticationError):
            _login(lan, "wrong again!", until + timedelta(seconds=i + 1))
    with pytest.raises(AccountLockedError):
        _login(lan, PASSWORD, until + timedelta(minutes=1))
    auth.unlock(lan, "lan", actor="root", actor_role="admin")
    assert _login(lan, PASSWORD, until + timedelta(minutes=1)).account.role == "editor"
    actions = lan.audit(actor="lan")["action"].tolist()
    assert actions.count("login.locked") == 2 and actions.count("login.refused") == 2
    assert lan.audit(action="user.unlock")["actor"].tolist() == ["root"]


def test_lockout_settings_are_used(lan: Store) -> None:
    strict = Settings(lockout_failures=2, lockout_minutes=1)
    with pytest.raises(AuthenticationError):
        _login(lan, "wrong password", settings=strict)
    with pytest.raises(AccountLockedError):
        _login(lan, "wrong password", settings=strict)
    assert _login(lan, PASSWORD, T0 + timedelta(minutes=1), settings=strict)


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(lan: Store) -> None:
    signed = _login(lan)
    auth.set_disabled(lan, "lan", True, actor="root", actor_role="admin")
    with pytest.raises(SessionExpiredError) as ended:
        auth.check_session(lan, signed.token, settings=SETTINGS, now=T0)
    assert ended.value.reason == "unknown"  # disabling removed the session at once
    with pytest.raises(AccountDisabledError):
        _login(lan)
    with pytest.raises(AuthenticationError) as wrong:
        _login(lan, "wrong password")  # no hint that the account exists but is disabled
    assert not isinstance(wrong.value, AccountDisabledError)
    auth.set_disabled(lan, "lan", False, actor="root", actor_role="admin")
    assert _login(lan).account.username == "lan"
    actions = lan.audit(action="user.")["action"].tolist()
    assert actions[:2] == ["user.enable", "user.disable"]


# --- sessions ----------------------------------------------------------------------------------


def test_a_session_expires_at_its_absolute_limit_however_busy(lan: Store) -> None:
    token = _login(lan).token
    moment = T0
    end = T0 + timedelta(hours=SETTINGS.session_hours)
    while moment + timedelta(minutes=20) < end:
        moment += timedelta(minutes=20)
        auth.check_session(lan, token, settings=SETTINGS, now=moment)
    with pytest.raises(SessionExpiredError) as e:
        auth.check_session(lan, token, settings=SETTINGS, now=end)
    assert e.value.reason == "expired"
    with pytest.raises(SessionExpiredError) as again:
        auth.check_session(lan, token, settings=SETTINGS, now=end)
    assert again.value.reason == "unknown"  # it was removed
    assert _raw(lan, "SELECT COUNT(*) FROM sessions") == [(0,)]
    (row,) = lan.audit(action="session.expired").itertuples()
    assert (row.actor, row.role, row.detail["reason"]) == ("lan", "editor", "expired")


def test_a_session_expires_when_idle(lan: Store) -> None:
    token = _login(lan).token
    idle = timedelta(minutes=SETTINGS.idle_minutes)
    seen = T0 + idle - timedelta(seconds=1)
    assert auth.check_session(lan, token, settings=SETTINGS, now=seen)  # use renews it
    assert auth.check_session(lan, token, settings=SETTINGS, now=seen + idle)
    with pytest.raises(SessionExpiredError) as e:
        auth.check_session(
            lan, token, settings=SETTINGS, now=seen + 2 * idle + timedelta(seconds=1)
        )
    assert e.value.reason == "idle"


def test_idle_minutes_setting_is_used(lan: Store) -> None:
    quick = Settings(idle_minutes=5)
    token = _login(lan, settings=quick).token
    with pytest.raises(SessionExpiredError, match="idle"):
        auth.check_session(lan, token, settings=quick, now=T0 + timedelta(minutes=6))


def test_logout_ends_the_session(lan: Store) -> None:
    first, second = _login(lan), _login(lan)
    assert auth.logout(lan, first.token)
    with pytest.raises(SessionExpiredError):
        auth.check_session(lan, first.token, settings=SETTINGS, now=T0)
    assert auth.check_session(lan, second.token, settings=SETTINGS, now=T0)  # another tab
    assert not auth.logout(lan, first.token)
    assert not auth.logout(lan, "")
    assert lan.audit(action="logout")["actor"].tolist() == ["lan"]


@pytest.mark.parametrize("token", ["", "made-up", "x" * 43])
def test_unknown_tokens_are_refused(lan: Store, token: str) -> None:
    with pytest.raises(SessionExpiredError) as e:
        auth.check_session(lan, token, settings=SETTINGS, now=T0)
    assert e.value.reason == "unknown"


def test_a_role_change_applies_at_the_next_page_view(lan: Store) -> None:
    token = _login(lan).token
    auth.set_role(lan, "lan", "viewer", actor="root", actor_role="admin")
    assert auth.check_session(lan, token, settings=SETTINGS, now=T0).role == "viewer"


def test_a_new_password_signs_the_account_out_everywhere(lan: Store) -> None:
    token = _login(lan).token
    auth.set_password(lan, "lan", "a brand new secret", actor="root", actor_role="admin")
    with pytest.raises(SessionExpiredError):
        auth.check_session(lan, token, settings=SETTINGS, now=T0)
    with pytest.raises(AuthenticationError):
        _login(lan)
    assert _login(lan, "a brand new secret")


def test_removing_an_account_ends_its_sessions(lan: Store) -> None:
    token = _login(lan).token
    auth.remove_user(lan, "lan", actor="root", actor_role="admin")
    with pytest.raises(SessionExpiredError):
        auth.check_session(lan, token, settings=SETTINGS, now=T0)
    with pytest.raises(NotFoundError):
        lan.get_user("lan")


def test_a_hash_with_old_costs_is_renewed_at_sign_in(
    lan: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    old = lan.get_user("lan").password_hash
    monkeypatch.setattr(
        auth, "HASHER", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    )
    _login(lan)
    new = lan.get_user("lan").password_hash
    assert new != old and "m=2048,t=2,p=1" in new
    assert lan.audit(action="login.success")["detail"].iloc[0]["rehashed"] is True


# --- administration ----------------------------------------------------------------------------


def test_the_last_enabled_admin_stays(lan: Store) -> None:
    for act in (
        lambda: auth.remove_user(lan, "root", actor="root", actor_role="admin"),
        lambda: auth.set_disabled(lan, "root", True, actor="root", actor_role="admin"),
        lambda: auth.set_role(lan, "root", "editor", actor="root", actor_role="admin"),
    ):
        with pytest.raises(GISInputError, match="only enabled admin"):
            act()
    auth.set_role(lan, "lan", "admin", actor="root", actor_role="admin")
    auth.set_role(lan, "root", "viewer", actor="lan", actor_role="admin")
    assert lan.get_user("root").role == "viewer"


def test_account_administration_never_writes_secrets_to_the_audit(lan: Store) -> None:
    auth.set_password(lan, "lan", "a brand new secret", actor="root", actor_role="admin")
    auth.set_display_name(lan, "lan", "Lan (phòng TN-MT)", actor="root", actor_role="admin")
    auth.remove_user(lan, "lan", actor="root", actor_role="admin")
    dump = repr(_raw(lan, "SELECT * FROM audit_log"))
    for secret in (PASSWORD, "a brand new secret", "root password 1", "$argon2"):
        assert secret not in dump
    rows = lan.audit(action="user.")
    assert rows["action"].tolist() == [
        "user.remove", "user.rename", "user.password", "user.add", "user.add",
    ]  # fmt: skip
    password_row = rows.iloc[2]
    assert password_row["after"] == {"password": "(changed)"}
    assert password_row["detail"]["username"] == "lan"
    assert rows.iloc[3]["after"]["role"] == "editor"
    assert set(rows.iloc[3]["after"]) == {
        "username", "display_name", "role", "disabled", "failed_logins", "locked_until",
    }  # fmt: skip


def test_bootstrap_makes_one_admin_once(store: Store, tmp_path: Path) -> None:
    password = auth.bootstrap(store, tmp_path / "var")
    assert password is not None
    file = tmp_path / "var" / auth.INITIAL_PASSWORD_FILE
    assert file.read_text(encoding="utf-8").strip() == password
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    (admin,) = store.list_users()
    assert (admin.username, admin.role) == ("admin", "admin")
    assert auth.login(store, "admin", password, settings=SETTINGS, now=T0).account.role == "admin"
    file.write_text("kept\n", encoding="utf-8")
    assert auth.bootstrap(store, tmp_path / "var") is None
    assert file.read_text(encoding="utf-8") == "kept\n"
    assert len(store.list_users()) == 1


# --- the permission matrix ---------------------------------------------------------------------

EXPECTED = {
    "viewer": {"read"},
    "editor": {"read", "parcel.edit", "parcel.import", "parcel.attach", "demo.manage",
               "flood.report", "flood.prone", "streets.import", "dem.manage"},
    "approver": {"read", "parcel.edit", "parcel.import", "parcel.attach", "demo.manage",
                 "flood.report", "flood.prone", "streets.import", "dem.manage",
                 "parcel.override", "flood.confirm"},
    "admin": set(auth.PERMISSIONS),
}  # fmt: skip


@pytest.mark.parametrize("role", auth.ROLES)
@pytest.mark.parametrize("action", sorted(auth.PERMISSIONS))
def test_permission_matrix(role: str, action: str) -> None:
    allowed = action in EXPECTED[role]
    assert auth.can(role, action) is allowed
    if allowed:
        auth.require(role, action)
    else:
        with pytest.raises(PermissionDeniedError, match=f"{role} may not"):
            auth.require(role, action)


def test_unknown_roles_and_actions() -> None:
    assert not auth.can("root", "read")
    with pytest.raises(GISInputError, match="role: expected one of"):
        auth.require("root", "read")
    with pytest.raises(GISInputError, match="action: expected one of"):
        auth.can("admin", "format.disk")
    assert auth.DESCRIPTIONS.keys() == auth.PERMISSIONS.keys()
