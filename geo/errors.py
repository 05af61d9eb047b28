"""Exceptions raised by ``geo``: each subclasses a built-in so callers can catch broadly."""

from __future__ import annotations


class GISInputError(ValueError):
    """Input data or arguments are unusable; the message says what was expected and what arrived."""


class CRSError(GISInputError):
    """A coordinate reference system is missing, unknown, or contradicts the coordinates."""


class SwappedAxesError(CRSError):
    """Coordinates look like latitude/longitude given in the wrong order."""


class GeometryError(GISInputError):
    """Geometries are missing, empty, invalid or self-intersecting."""


class UploadError(GISInputError):
    """An uploaded file is broken, too large, of the wrong type, or hostile (zip slip, bomb)."""


class ConfigError(ValueError):
    """The configuration (environment, config file, ward profile) is invalid."""


class NotFoundError(LookupError):
    """A layer, feature or ward that was asked for does not exist."""


class ConflictError(RuntimeError):
    """An edit was based on a stale version: someone else changed the record in between."""

    def __init__(self, message: str, *, current_version: int, changes: list[dict[str, object]]):
        super().__init__(message)
        self.current_version = current_version
        self.changes = changes


class StoreError(RuntimeError):
    """The storage backend failed or is unreachable; nothing was written."""


class RuleError(GISInputError):
    """A change breaks a business rule (a stage transition, a missing payment record)."""


class PermissionDeniedError(PermissionError):
    """The user's role does not allow the action."""


class FetchError(ConnectionError):
    """Data could not be fetched from an online source (offline, refused, timed out)."""


class AuthenticationError(PermissionError):
    """Sign-in failed: an unknown user or a wrong password (the message does not say which)."""


class AccountLockedError(AuthenticationError):
    """Too many failed sign-ins: the account is locked until ``until`` (ISO 8601, UTC)."""

    def __init__(self, message: str, *, until: str):
        super().__init__(message)
        self.until = until


class AccountDisabledError(AuthenticationError):
    """The account exists and the password is right, but an admin disabled it."""


class SessionExpiredError(AuthenticationError):
    """A session token is unknown, past its absolute expiry, idle too long, or its account
    was disabled or removed; ``reason`` says which (``unknown``, ``expired``, ``idle``,
    ``disabled``)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason
