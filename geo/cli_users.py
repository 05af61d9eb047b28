"""``python -m geo users ...`` and ``python -m geo audit``: accounts and the audit log.

The command line runs where the store's credentials are, so it acts as an admin; what it does
is recorded in the audit log under ``--user`` (default ``cli``). Passwords are read from a
prompt, or from standard input with ``--password-stdin``, never from the arguments.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import pandas as pd

from geo import auth
from geo.config import Settings
from geo.errors import GISInputError
from geo.store import Store

CLI_ROLE = "admin"
USER_COLUMNS = ["username", "display_name", "role", "status", "failed_logins", "locked_until",
                "last_login_at", "created_at"]  # fmt: skip
AUDIT_LIST_COLUMNS = ["id", "at", "actor", "role", "action", "layer_id", "fid"]


def add_parser(sub: Any) -> None:
    """Add the ``users`` and ``audit`` commands."""
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="print JSON for scripts")  # fmt: skip
    who = argparse.ArgumentParser(add_help=False, parents=[out])
    who.add_argument("--user", default="cli", help="who does it (recorded in the audit log)")
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from standard input (one line), not a prompt",
    )  # fmt: skip

    users = sub.add_parser("users", help="accounts: add, list, passwd, role, disable, ...")
    us = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = us.add_parser("add", parents=[who, secret], help="add an account (asks a password)")
    p.add_argument("username", help="2 to 64 of a-z 0-9 . _ -, starting with a letter")
    p.add_argument("--name", default="", help="the name shown, e.g. 'Nguyễn Thị Lan'")
    p.add_argument("--role", choices=auth.ROLES, default="viewer")
    p.set_defaults(func=cmd_add)
    p = us.add_parser("list", parents=[out], help="every account and its state")
    p.set_defaults(func=cmd_list)
    p = us.add_parser("passwd", parents=[who, secret],
                      help="set a new password (signs the account out everywhere)")  # fmt: skip
    p.add_argument("username")
    p.set_defaults(func=cmd_passwd)
    p = us.add_parser("role", parents=[who], help="change an account's role")
    p.add_argument("username")
    p.add_argument("role", choices=auth.ROLES)
    p.set_defaults(func=cmd_role)
    for name, helptext in (
        ("disable", "disable an account (signed out at once)"),
        ("enable", "enable a disabled account"),
        ("unlock", "lift a lockout after failed sign-ins"),
        ("remove", "delete an account (its audit rows stay)"),
    ):
        p = us.add_parser(name, parents=[who], help=helptext)
        p.add_argument("username")
        p.set_defaults(func=cmd_change, change=name)
    p = us.add_parser("bootstrap", parents=[out],
                      help="first start: make 'admin' with a random password if no account "
                      "exists (printed once, and kept in var/initial-admin-password)")  # fmt: skip
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("audit", parents=[out], help="read the audit log, newest first")
    p.add_argument("--actor", help="only what this user did")
    p.add_argument("--action", help="e.g. feature.update, or a prefix ending in '.': user.")
    p.add_argument("--layer", help="only this layer")
    p.add_argument("--since", help="from this date or time (ward time), e.g. 2026-03-01")
    p.add_argument("--until", help="up to this date (included) or time")
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--offset", type=int, default=0, help="skip this many newest rows")
    p.set_defaults(func=cmd_audit)


def _password(args: argparse.Namespace, username: str) -> str:
    """The new password: a line of stdin, or typed twice at a prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        msg = "password: expected a terminal to type it in, or --password-stdin, got neither"
        raise GISInputError(msg)
    first = getpass.getpass(f"Password for {username}: ")
    if getpass.getpass("Again: ") != first:
        raise GISInputError("password: the two entries differ")
    return first


def _row(user: Any) -> dict[str, Any]:
    status = "disabled" if user.disabled else "locked" if auth.is_locked(user) else "active"
    return {
        "username": user.username, "display_name": user.display_name, "role": user.role,
        "status": status, "failed_logins": user.failed_logins,
        "locked_until": user.locked_until, "last_login_at": user.last_login_at,
        "created_at": user.created_at,
    }  # fmt: skip


def cmd_add(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users add``: a new account with the role given (viewer by default)."""
    name = auth.check_username(args.username)
    password = _password(args, name)
    user = auth.add_user(
        store, name, password, display_name=args.name, role=args.role, actor=args.user,
        actor_role=CLI_ROLE,
    )  # fmt: skip
    return _row(user)


def cmd_list(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users list``: every account, its role and state (never a password hash)."""
    rows = [_row(u) for u in auth.list_users(store, actor_role=CLI_ROLE)]
    if getattr(args, "json", False):
        return rows
    return pd.DataFrame(rows, columns=USER_COLUMNS)


def cmd_passwd(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users passwd``: a new password; the account is signed out and unlocked."""
    name = auth.check_username(args.username)
    store.get_user(name)  # not found before asking for a password
    user = auth.set_password(
        store, name, _password(args, name), actor=args.user, actor_role=CLI_ROLE
    )
    return _row(user)


def cmd_role(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users role``: change an account's role."""
    return _row(auth.set_role(store, args.username, args.role, actor=args.user,
                              actor_role=CLI_ROLE))  # fmt: skip


def cmd_change(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users disable|enable|unlock|remove``."""
    who = {"actor": args.user, "actor_role": CLI_ROLE}
    if args.change == "remove":
        return {"removed": auth.remove_user(store, args.username, **who).username}
    if args.change == "unlock":
        return _row(auth.unlock(store, args.username, **who))
    return _row(auth.set_disabled(store, args.username, args.change == "disable", **who))


def cmd_bootstrap(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``users bootstrap``: the first admin, only when the store has no account."""
    password = auth.bootstrap(store, settings.var_dir)
    path = settings.var_dir / auth.INITIAL_PASSWORD_FILE
    if password is None:
        message = "accounts exist; no new admin made"
        return {"created": None, "message": message} if getattr(args, "json", False) else message
    return {
        "created": auth.INITIAL_ADMIN,
        "password": password,
        "password_file": str(path),
        "message": f"sign in as '{auth.INITIAL_ADMIN}' with this password (shown once, and "
        f"kept in {path}); change it with 'python -m geo users passwd {auth.INITIAL_ADMIN}', "
        "then delete the file",
    }


def cmd_audit(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``audit``: the newest rows matching the filters."""
    frame = auth.read_audit(
        store, actor_role=CLI_ROLE, actor=args.actor, action=args.action, layer_id=args.layer,
        since=args.since, until=args.until, limit=args.limit, offset=args.offset,
    )  # fmt: skip
    if getattr(args, "json", False):
        return frame
    return frame[AUDIT_LIST_COLUMNS].astype(object).where(frame[AUDIT_LIST_COLUMNS].notna(), "")
