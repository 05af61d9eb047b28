"""``python -m geo users ...`` and ``python -m geo audit``: exit codes, output, the audit log."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo import auth
from geo.cli import main
from geo.config import ROOT, Settings
from geo.store import open_store
from tests.accounts import PASSWORD


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh GeoPackage named by GIS_DB, var/ in tmp_path, no developer's config or role."""
    path = tmp_path / "users.gpkg"
    config = tmp_path / "none.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIS_DB", str(path))
    monkeypatch.setenv("GIS_CONFIG", str(config))
    monkeypatch.setenv("GIS_VAR_DIR", str(tmp_path / "var"))
    for name in ("GIS_WARD", "GIS_ROLE", "GIS_LANG"):
        monkeypatch.delenv(name, raising=False)
    return path


def run(*argv: str, stdin: str | None = None, monkeypatch: Any = None) -> tuple[int, Any]:
    """``python -m geo --json ...`` in-process; the exit code and the parsed output."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    code = main(["--json", *argv], out=out)
    return code, json.loads(out.getvalue()) if code == 0 else None


def add(monkeypatch: pytest.MonkeyPatch, name: str, role: str, password: str = PASSWORD) -> int:
    code, _ = run("users", "add", name, "--role", role, "--password-stdin",
                  stdin=password + "\n", monkeypatch=monkeypatch)  # fmt: skip
    return code


def test_add_list_and_sign_in(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, row = run("users", "add", "lan", "--name", "Nguyễn Thị Lan", "--role", "editor",
                    "--password-stdin", stdin=PASSWORD + "\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    assert row["username"] == "lan" and row["role"] == "editor" and row["status"] == "active"
    code, rows = run("users", "list")
    assert [r["username"] for r in rows] == ["lan"]
    assert "$argon2" not in json.dumps(rows) and PASSWORD not in json.dumps(rows)
    with open_store(str(db)) as store:
        assert auth.login(store, "lan", PASSWORD, settings=Settings()).account.role == "editor"
        (added,) = store.audit(action="user.add").itertuples()
    assert (added.actor, added.role) == ("cli", "admin")


def test_plain_list_is_a_table(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert add(monkeypatch, "lan", "editor") == 0
    out = io.StringIO()
    assert main(["users", "list"], out=out) == 0
    assert "lan" in out.getvalue() and "editor" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "message"),
    [
        (["users", "add", "lan", "--password-stdin"], "short\n", 2, "at least 10 characters"),
        (["users", "add", "lan", "--password-stdin"], "lan\n", 2, "at least 10"),
        (["users", "add", "Nguyễn", "--password-stdin"], PASSWORD, 2, "username: expected"),
        (["users", "add", "lan"], "", 2, "--password-stdin"),  # no terminal to ask on
        (["users", "passwd", "nobody", "--password-stdin"], PASSWORD, 3, "no account"),
        (["users", "role", "nobody", "admin"], None, 3, "no account"),
        (["users", "disable", "nobody"], None, 3, "no account"),
        (["users", "remove", "root"], None, 2, "only enabled admin"),
        (["users", "role", "root", "viewer"], None, 2, "only enabled admin"),
        (["audit", "--since", "hôm qua"], None, 2, "since: expected an ISO date"),
        (["audit", "--limit", "-5"], None, 2, "limit: expected"),
    ],
)
def test_errors_and_exit_codes(
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str | None,
    code: int,
    message: str,
) -> None:
    assert add(monkeypatch, "root", "admin") == 0
    capsys.readouterr()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(argv, out=io.StringIO()) == code
    assert message in capsys.readouterr().err


def test_a_password_is_never_an_argument(db: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["users", "add", "lan", "--password", PASSWORD], out=io.StringIO())
    assert e.value.code == 2


def test_passwd_role_disable_enable_unlock_remove(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert add(monkeypatch, "root", "admin") == 0
    assert add(monkeypatch, "lan", "editor") == 0
    settings = Settings(lockout_failures=1)
    with open_store(str(db)) as store, pytest.raises(auth.AccountLockedError):
        auth.login(store, "lan", "wrong password", settings=settings)
    code, rows = run("users", "list")
    assert {r["username"]: r["status"] for r in rows} == {"lan": "locked", "root": "active"}
    assert run("users", "unlock", "lan", "--user", "hoa")[1]["status"] == "active"
    code, _ = run("users", "passwd", "lan", "--password-stdin",
                    stdin="mật khẩu mới 2026\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    assert run("users", "role", "lan", "approver")[1]["role"] == "approver"
    assert run("users", "disable", "lan")[1]["status"] == "disabled"
    with open_store(str(db)) as store, pytest.raises(auth.AccountDisabledError):
        auth.login(store, "lan", "mật khẩu mới 2026", settings=settings)
    assert run("users", "enable", "lan")[1]["status"] == "active"
    with open_store(str(db)) as store:
        assert auth.login(store, "lan", "mật khẩu mới 2026", settings=settings).account.role == (
            "approver"
        )
    assert run("users", "remove", "lan") == (0, {"removed": "lan"})
    code, rows = run("audit", "--action", "user.")
    assert [r["action"] for r in rows] == [
        "user.remove", "user.enable", "user.disable", "user.role", "user.password",
        "user.unlock", "user.add", "user.add",
    ]  # fmt: skip
    assert rows[-3]["actor"] == "hoa"
    assert "mật khẩu mới" not in json.dumps(rows)


def test_bootstrap_once(db: Path, tmp_path: Path) -> None:
    code, first = run("users", "bootstrap")
    assert code == 0 and first["created"] == "admin"
    file = tmp_path / "var" / auth.INITIAL_PASSWORD_FILE
    assert first["password_file"] == str(file)
    assert file.read_text(encoding="utf-8").strip() == first["password"]
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    code, second = run("users", "bootstrap")
    assert code == 0 and second["created"] is None and "password" not in second
    with open_store(str(db)) as store:
        signed = auth.login(store, "admin", first["password"], settings=Settings())
    assert signed.account.role == "admin"


def test_bootstrap_prints_the_password_once_on_the_terminal(db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "geo", "users", "bootstrap"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "password: " in done.stdout and "sign in as 'admin'" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "geo", "users", "bootstrap"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=180,
    )  # fmt: skip
    assert again.returncode == 0 and "password: " not in again.stdout


def test_audit_command_filters_and_prints(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert add(monkeypatch, "root", "admin") == 0
    src = tmp_path / "diem.geojson"
    gpd.GeoDataFrame({"ten": ["A"]}, geometry=[Point(106.72, 10.78)], crs=4326).to_file(src)
    code, _ = run("import", str(src), "--layer", "diem", "--role", "admin", "--user", "hoa")
    assert code == 0
    code, rows = run("audit", "--layer", "diem")
    assert [(r["actor"], r["role"], r["action"]) for r in rows] == [
        ("hoa", "admin", "layer.replace")
    ]
    assert rows[0]["after"]["feature_count"] == 1
    code, rows = run("audit", "--actor", "cli", "--limit", "1")
    assert [r["action"] for r in rows] == ["user.add"]
    code, rows = run("audit", "--since", "2000-01-01", "--until", "2000-12-31")
    assert rows == []
    out = io.StringIO()
    assert main(["audit", "--limit", "3"], out=out) == 0
    assert "layer.replace" in out.getvalue() and "{" not in out.getvalue()


def test_layer_import_needs_an_admin(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "diem.geojson"
    gpd.GeoDataFrame({"ten": ["A"]}, geometry=[Point(106.72, 10.78)], crs=4326).to_file(src)
    assert main(["import", str(src), "--layer", "diem"], out=io.StringIO()) == 6  # GIS_ROLE
    assert "an editor may not import layers" in capsys.readouterr().err
    with open_store(str(db)) as store:
        assert not store.has_layer("diem")
        assert store.audit(layer_id="diem").empty
