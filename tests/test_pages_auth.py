"""AppTest runs of signing in and out, session expiry, pages by role, and the admin pages
(accounts, audit log), in Vietnamese and English."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from streamlit.testing.v1 import AppTest

from geo import auth
from geo.config import Settings
from geo.store import open_store
from tests.accounts import PASSWORD, TOKEN_KEY, add_account, sign_in
from ui.i18n import t

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
ADMIN_PAGES = ("views/users.py", "views/audit.py")
WARD_TIME = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's store; no developer's config, language or anonymous reading."""
    config = tmp_path / "gis.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIS_CONFIG", str(config))
    monkeypatch.setenv("GIS_DB", str(tmp_path / "ward.gpkg"))
    monkeypatch.setenv("GIS_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("GIS_BASEMAP", "none")
    for name in ("GIS_LANG", "GIS_WARD", "GIS_ROLE", "GIS_ANONYMOUS_READ"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "ward.gpkg"


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def _texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def _login(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


def _keys(at: AppTest) -> set[str]:
    """Keys of every widget on the page."""
    widgets = [*at.button, *at.text_input, *at.selectbox, *at.checkbox, *at.radio]
    keys = {str(w.key) for w in widgets if w.key}
    return keys | {str(w.key) for w in at.get("file_uploader") if getattr(w, "key", None)}


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The in-memory media stores AppTest creates for each run (download buttons' files)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    stores: list[Any] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    return stores


def _download(at: AppTest, media: list[Any], key: str) -> pd.DataFrame:
    """The CSV a download button offers, read back."""
    (button,) = [b for b in at.get("download_button") if b.key == key]
    file = media[-1].get_file(button.proto.url.rsplit("/", 1)[-1])
    return pd.read_csv(io.BytesIO(file.content))


def _age_session(db: Path, column: str, delta: timedelta) -> None:
    """Move the stored sessions' ``column`` (created/expires/last seen) by ``delta``."""
    with open_store(str(db)) as store, store._write() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT token_sha256, " + column + " FROM sessions")
        for digest, value in cur.fetchall():
            moved = (datetime.fromisoformat(value) + delta).isoformat(timespec="microseconds")
            cur.execute(f"UPDATE sessions SET {column} = ? WHERE token_sha256 = ?",
                        (moved, digest))  # fmt: skip


# --- signing in --------------------------------------------------------------------------------


def test_nothing_but_the_sign_in_page_until_signed_in(db: Path) -> None:
    at = _app().run()
    assert not at.exception
    assert [x.value for x in at.title] == [t("auth.title")]
    assert t("auth.no_accounts") in _texts(at)  # a fresh store: how to get the first admin
    assert "Bản đồ phường An Khánh" not in _texts(at)
    for page in ("views/map.py", "views/data.py", *ADMIN_PAGES):  # a bookmark: still sign in
        at.switch_page(page).run()
        assert not at.exception
        assert [x.value for x in at.title] == [t("auth.title")]
        assert not at.dataframe and not at.get("download_button")
    add_account(db, "lan", "editor")
    at.switch_page("views/floods.py").run()
    assert t("auth.no_accounts") not in _texts(at)
    _login(at, "lan")  # and the bookmarked page opens
    assert [x.value for x in at.title] == [t("fl.title")]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_signing_in_opens_the_pages_of_the_role(db: Path, lang: str) -> None:
    add_account(db, "lan", "editor", display_name="Nguyễn Thị Lan")
    at = _app().run()
    if lang == "en":
        at.radio(key="lang").set_value("en").run()
        assert [x.value for x in at.title] == ["Sign in"]
        assert at.text_input(key="login_password").label == "Password"
    _login(at, "lan")
    texts = _texts(at)
    assert t("map.title", lang, ward="An Khánh") in texts
    assert t("auth.signed_in", lang, name="Nguyễn Thị Lan", username="lan") in texts
    assert t("app.role", lang, role=t("role.editor", lang)) in texts
    assert at.session_state[TOKEN_KEY]
    at.switch_page("views/parcel_import.py").run()  # an editor imports parcels
    assert not at.exception
    for page in ADMIN_PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    with open_store(str(db)) as store:
        (row,) = store.audit(action="login.success").itertuples()
    assert (row.actor, row.role) == ("lan", "editor")


def test_a_wrong_password_is_refused(db: Path) -> None:
    add_account(db, "lan", "editor")
    at = _login(_app().run(), "lan", "not the password")
    assert [e.value for e in at.error] == [t("auth.wrong")]
    assert TOKEN_KEY not in at.session_state
    assert [x.value for x in at.title] == [t("auth.title")]
    at = _login(at, "nobody", PASSWORD)
    assert [e.value for e in at.error] == [t("auth.wrong")]  # the same words


def test_repeated_failures_lock_the_account_and_say_until_when(db: Path) -> None:
    add_account(db, "lan", "editor")
    at = _app().run()
    for _ in range(Settings().lockout_failures - 1):
        _login(at, "lan", "not the password")
        assert [e.value for e in at.error] == [t("auth.wrong")]
    _login(at, "lan", "not the password")
    (error,) = [e.value for e in at.error]
    with open_store(str(db)) as store:
        until = datetime.fromisoformat(str(store.get_user("lan").locked_until))
    local = until.astimezone(WARD_TIME).strftime("%H:%M %d/%m/%Y")
    assert error == t("auth.locked", until=local)
    _login(at, "lan")  # the right password does not open it before then
    assert [e.value for e in at.error] == [t("auth.locked", until=local)]
    assert TOKEN_KEY not in at.session_state
    at.radio(key="lang").set_value("en").run()
    _login(at, "lan")
    assert "locked until" in at.error[0].value


def test_a_disabled_account_is_told_so(db: Path) -> None:
    add_account(db, "lan", "editor")
    add_account(db, "root", "admin")
    with open_store(str(db)) as store:
        auth.set_disabled(store, "lan", True, actor="root", actor_role="admin")
    at = _login(_app().run(), "lan")
    assert [e.value for e in at.error] == [t("auth.disabled")]


# --- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "delta", "reason"),
    [
        ("expires_at", -timedelta(hours=13), "expired"),
        ("last_seen_at", -timedelta(minutes=31), "idle"),
    ],
)
def test_an_ended_session_goes_back_to_sign_in_with_a_message(
    db: Path, column: str, delta: timedelta, reason: str
) -> None:
    at = _app()
    sign_in(at, db, "editor")
    at.run()
    assert t("map.title", ward="An Khánh") in _texts(at)
    _age_session(db, column, delta)
    at.run()
    assert not at.exception
    assert [x.value for x in at.title] == [t("auth.title")]
    assert [w.value for w in at.warning] == [t(f"auth.ended.{reason}")]
    assert TOKEN_KEY not in at.session_state
    with open_store(str(db)) as store:
        assert store.audit(action="session.expired")["detail"].iloc[0]["reason"] == reason


def test_signing_out(db: Path) -> None:
    at = _app()
    sign_in(at, db, "editor")
    at.run()
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert [x.value for x in at.title] == [t("auth.title")]
    assert t("auth.signed_out") in _texts(at)
    assert TOKEN_KEY not in at.session_state
    with open_store(str(db)) as store:
        assert store.audit(action="logout")["actor"].tolist() == ["editor"]


def test_a_role_change_applies_at_the_next_rerun(db: Path) -> None:
    at = _app()
    sign_in(at, db, "admin", "hoa")
    add_account(db, "root", "admin")
    at.run()
    at.switch_page("views/users.py").run()
    assert not at.exception
    with open_store(str(db)) as store:
        auth.set_role(store, "hoa", "viewer", actor="root", actor_role="admin")
    at.run()
    assert not at.exception
    assert t("us.title") not in [x.value for x in at.title]
    assert not at.dataframe or t("us.col.username") not in at.dataframe[0].value.columns
    assert t("app.role", role=t("role.viewer")) in _texts(at)


# --- pages by role -------------------------------------------------------------------------------


def test_a_viewer_sees_no_edit_buttons(db: Path) -> None:
    at = _app()
    sign_in(at, db, "viewer")
    at.run()
    assert t("app.role", role=t("role.viewer")) in _texts(at)
    at.switch_page("views/data.py").run()
    assert not at.exception
    assert t("data.admin_only") in _texts(at)
    assert not {"data_upload", "data_write", "data_remove", "data_remove_layer"} & _keys(at)
    assert at.download_button(key="data_download")  # reading and exporting stay
    for page in (*ADMIN_PAGES, "views/parcel_import.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


@pytest.mark.parametrize("role", ["viewer", "editor", "approver"])
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_refuse_non_admins(db: Path, role: str, page: str) -> None:
    at = _app()
    sign_in(at, db, role)
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)  # not offered
    # reached anyway (the page alone: no signed-in account, so a viewer), it refuses
    alone = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT).run()
    assert not alone.exception
    assert [e.value for e in alone.error] == [t("auth.admin_only")]
    assert not alone.dataframe and not alone.button and not alone.text_input


def test_anonymous_reading_shows_the_viewer_pages_and_a_sign_in_link(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIS_ANONYMOUS_READ", "true")
    add_account(db, "lan", "editor")
    at = _app().run()
    assert not at.exception
    texts = _texts(at)
    assert t("map.title", ward="An Khánh") in texts
    assert t("auth.guest") in texts and t("app.role", role=t("role.viewer")) in texts
    at.switch_page("views/data.py").run()
    assert t("data.admin_only") in _texts(at)
    for page in ADMIN_PAGES:
        with pytest.raises(ValueError):
            at.switch_page(page)
    at.switch_page("views/login.py").run()
    _login(at, "lan")
    assert t("auth.signed_in", name="lan", username="lan") in _texts(at)
    assert t("auth.guest") not in _texts(at)


def test_anonymous_reading_is_off_by_default() -> None:
    assert Settings().anonymous_read is False


# --- the admin pages -----------------------------------------------------------------------------


def _users_page(db: Path) -> AppTest:
    at = _app()
    sign_in(at, db, "admin", "root")
    at.run()
    at.switch_page("views/users.py").run()
    assert not at.exception
    return at


def test_an_admin_adds_and_manages_accounts(db: Path) -> None:
    at = _users_page(db)
    assert [x.value for x in at.title] == [t("us.title")]
    at.text_input(key="us_new_username").input("Lan.Nguyen")
    at.text_input(key="us_new_name").input("Nguyễn Thị Lan")
    at.selectbox(key="us_new_role").set_value("editor")
    at.text_input(key="us_new_password").input(PASSWORD)
    at.text_input(key="us_new_password2").input(PASSWORD + "?")
    at.button(key="us_add_submit").click().run()
    assert [e.value for e in at.error] == [t("us.mismatch")]
    at.text_input(key="us_new_username").input("Lan.Nguyen")
    at.text_input(key="us_new_name").input("Nguyễn Thị Lan")
    at.selectbox(key="us_new_role").set_value("editor")
    at.text_input(key="us_new_password").input("short")
    at.text_input(key="us_new_password2").input("short")
    at.button(key="us_add_submit").click().run()
    assert "at least 10 characters" in at.error[0].value
    at.text_input(key="us_new_username").input("Lan.Nguyen")
    at.text_input(key="us_new_name").input("Nguyễn Thị Lan")
    at.selectbox(key="us_new_role").set_value("editor")
    at.text_input(key="us_new_password").input(PASSWORD)
    at.text_input(key="us_new_password2").input(PASSWORD)
    at.button(key="us_add_submit").click().run()
    assert [s.value for s in at.success] == [t("us.added", username="lan.nguyen")]
    table = at.dataframe[0].value
    assert set(table[t("us.col.username")]) == {"lan.nguyen", "root"}

    at.selectbox(key="us_pick").set_value("lan.nguyen").run()
    at.selectbox(key="us_role_lan.nguyen").set_value("approver")
    at.button(key="us_role_save").click().run()
    assert [s.value for s in at.success] == [t("us.role_saved", username="lan.nguyen")]
    at.button(key="us_disable").click().run()
    assert [s.value for s in at.success] == [t("us.disabled_done", username="lan.nguyen")]
    at.button(key="us_enable").click().run()
    at.text_input(key="us_reset_password").input("mật khẩu mới 2026")
    at.text_input(key="us_reset_password2").input("mật khẩu mới 2026")
    at.button(key="us_reset_submit").click().run()
    assert [s.value for s in at.success] == [t("us.reset_done", username="lan.nguyen")]
    with open_store(str(db)) as store:
        user = store.get_user("lan.nguyen")
        assert (user.role, user.disabled) == ("approver", False)
        signed = auth.login(store, "lan.nguyen", "mật khẩu mới 2026", settings=Settings())
        assert signed.account.display_name == "Nguyễn Thị Lan"
        for _ in range(2):
            with pytest.raises(auth.AuthenticationError):
                auth.login(store, "lan.nguyen", "wrong password", settings=Settings())
    at.run()
    at.button(key="us_unlock").click().run()
    assert [s.value for s in at.success] == [t("us.unlocked", username="lan.nguyen")]
    assert at.button(key="us_remove").disabled
    at.checkbox(key="us_sure_lan.nguyen").check().run()
    at.button(key="us_remove").click().run()
    assert [s.value for s in at.success] == [t("us.removed", username="lan.nguyen")]
    with open_store(str(db)) as store:
        assert [u.username for u in store.list_users()] == ["root"]
        actions = store.audit(actor="root", action="user.")["action"].tolist()
    assert actions == ["user.remove", "user.unlock", "user.password", "user.enable",
                       "user.disable", "user.role", "user.add"]  # fmt: skip


def test_the_last_admin_cannot_remove_itself(db: Path) -> None:
    at = _users_page(db)
    at.selectbox(key="us_pick").set_value("root").run()
    at.checkbox(key="us_sure_root").check().run()
    at.button(key="us_remove").click().run()
    assert not at.exception
    assert "only enabled admin" in at.error[0].value
    with open_store(str(db)) as store:
        assert [u.username for u in store.list_users()] == ["root"]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_audit_page_filters_shows_a_row_and_downloads(
    db: Path, lang: str, media: list[Any]
) -> None:
    with open_store(str(db)) as store:
        points = gpd.GeoDataFrame({"ten": ["Điểm A"]}, geometry=[Point(106.72, 10.78)], crs=4326)
        fid = store.apply_edits("diem", inserts=points, user="lan", role="editor").inserted[0]
        store.update_feature("diem", fid, expected_version=1, props={"ten": "Điểm B"},
                             user="lan", role="editor", reason="sửa tên")  # fmt: skip
        store.record_event("login.failure", actor='=HYPERLINK("http://x","y")',
                           detail={"reason": "unknown user"})  # fmt: skip
    at = _app()
    sign_in(at, db, "admin", "root")
    at.run()
    if lang == "en":
        at.radio(key="lang").set_value("en").run()
    at.switch_page("views/audit.py").run()
    assert not at.exception
    assert [x.value for x in at.title] == [t("au.title", lang)]
    table = at.dataframe[0].value
    assert {"feature.insert", "feature.update", "login.success", "user.add"} <= set(
        table[t("au.col.action", lang)]
    )
    at.selectbox(key="au_action").set_value("feature.").run()
    table = at.dataframe[0].value
    assert table[t("au.col.action", lang)].tolist() == ["feature.update", "feature.insert"]
    assert table[t("au.col.actor", lang)].tolist() == ["lan", "lan"]
    assert at.selectbox(key="au_pick").value == int(table[t("au.col.id", lang)].iloc[0])
    before, after, detail = (json.loads(j.value) for j in at.json)
    assert (before, after) == ({"ten": "Điểm A"}, {"ten": "Điểm B"})
    assert detail["reason"] == "sửa tên" and detail["version"] == 2
    at.text_input(key="au_actor").input("nobody").run()
    assert t("au.none", lang) in _texts(at)
    at.text_input(key="au_actor").input("lan").run()
    csv = _download(at, media, "au_download")
    assert csv["action"].tolist() == ["feature.update", "feature.insert"]
    assert "Điểm B" in csv["after"].iloc[0]
    at.text_input(key="au_actor").input("").run()
    at.selectbox(key="au_action").set_value("login.").run()
    csv = _download(at, media, "au_download")
    assert """'=HYPERLINK("http://x","y")""" in csv["actor"].tolist()  # no formula in a sheet


def test_the_audit_page_is_read_only(db: Path) -> None:
    at = _app()
    sign_in(at, db, "admin", "root")
    at.run()
    at.switch_page("views/audit.py").run()
    buttons = {b.key for b in at.button}
    assert not {k for k in buttons if k and ("delete" in k or "edit" in k or "save" in k)}


def test_sessions_are_not_shared_between_browsers(db: Path) -> None:
    first, second = _app(), _app()
    sign_in(first, db, "admin", "root")
    first.run()
    second.run()
    assert [x.value for x in second.title] == [t("auth.title")]
    assert TOKEN_KEY not in second.session_state
    # and a token is worth nothing once signed out elsewhere
    token = first.session_state[TOKEN_KEY]
    with open_store(str(db)) as store:
        auth.logout(store, token)
    second.session_state[TOKEN_KEY] = token
    second.run()
    assert [x.value for x in second.title] == [t("auth.title")]
