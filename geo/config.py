"""One typed, validated configuration object, read from a TOML file and ``GIS_*`` variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from geo.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
ENV_PREFIX = "GIS_"
Basemap = Literal["none", "osm", "carto"]
Lang = Literal["vi", "en"]
Role = Literal["viewer", "editor", "approver", "admin"]
Vehicle = Literal["motorbike", "car", "truck"]


def _default_depths() -> dict[Vehicle, float]:
    return {"motorbike": 20.0, "car": 30.0, "truck": 50.0}


class OldWardMerge(BaseModel):
    """A merger before 2025 that GADM 4.1 does not show: units dissolved into one ward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    district: str
    units: list[str] = Field(min_length=2)


class WardProfile(BaseModel):
    """A deployable ward: its name, data files and measurement CRS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    kind: str = "Phường"
    province: str
    measure_crs: str
    new_wards: Path
    old_wards: Path
    old_wards_layout: str = ""
    old_ward_merges: list[OldWardMerge] = Field(default_factory=list)
    official_area_km2: float | None = None
    official_population: int | None = None
    planned_population: int | None = None
    official_source: str | None = None
    focus: str | None = None
    flood_prone_streets: list[str] = Field(default_factory=list)
    """Streets the ward's anti-flooding programme names; the app offers to designate them."""

    @field_validator("measure_crs")
    @classmethod
    def _projected_metres(cls, value: str) -> str:
        try:
            crs = CRS.from_user_input(value)
        except PyprojCRSError as e:
            msg = f"measure_crs: expected an EPSG code such as 'EPSG:9210', got {value!r}"
            raise ValueError(msg) from e
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if not crs.is_projected or unit not in ("metre", "meter"):
            raise ValueError(f"measure_crs: expected a projected CRS in metres, got {crs.name!r}")
        return value


class Settings(BaseModel):
    """Application settings; build with :func:`load_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ward: str = "an-khanh"
    db: str | None = None
    var_dir: Path = ROOT / "var"
    data_dir: Path = DATA_DIR
    basemap: Basemap = "osm"
    lang: Lang = "vi"
    max_upload_mb: int = Field(default=200, gt=0, le=4096)
    max_attachment_mb: int = Field(default=20, gt=0, le=512)
    flood_report_hours: float = Field(default=6.0, gt=0, le=336)
    """How long a flood report stays live when it gives no expected end (hours)."""
    vehicle_depth_cm: dict[Vehicle, float] = Field(default_factory=_default_depths)
    """The deepest water each vehicle may be routed through (cm)."""
    role: Role = "editor"
    """The role the command line acts with when a command is given no ``--role`` (viewer,
    editor, approver, admin). The web app does not use it: there the signed-in account's
    role counts."""
    anonymous_read: bool = False
    """Let visitors who are not signed in read the viewer pages (off by default)."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 14)
    """A sign-in ends this many hours after it began, whatever the activity (hours)."""
    idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    """A sign-in ends after this long without any use (minutes)."""
    lockout_failures: int = Field(default=5, ge=1, le=100)
    """Failed sign-ins in a row that lock an account."""
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    """How long a locked account stays locked (minutes)."""

    @field_validator("vehicle_depth_cm", mode="before")
    @classmethod
    def _depths_text(cls, value: object) -> object:
        """``GIS_VEHICLE_DEPTH_CM=motorbike=15,car=30,truck=50`` from the environment."""
        if not isinstance(value, str):
            return value
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            msg = f"vehicle_depth_cm: expected motorbike=20,car=30,truck=50, got {value!r}"
            raise ValueError(msg)
        return {k.strip(): v.strip() for k, v in pairs}

    @field_validator("vehicle_depth_cm")
    @classmethod
    def _depths(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 <= v <= 200}
        if bad:
            raise ValueError(f"vehicle_depth_cm: expected 0 to 200 cm per vehicle, got {bad}")
        missing = {"motorbike", "car", "truck"} - set(value)
        if missing:
            raise ValueError(f"vehicle_depth_cm: expected a depth for {sorted(missing)}")
        return value

    @cached_property
    def profiles(self) -> dict[str, WardProfile]:
        """All ward profiles in ``data_dir/wards.toml``."""
        return load_profiles(self.data_dir / "wards.toml")

    @property
    def profile(self) -> WardProfile:
        """The configured ward's profile."""
        try:
            return self.profiles[self.ward]
        except KeyError as e:
            known = ", ".join(sorted(self.profiles))
            msg = f"ward: expected one of {known}, got {self.ward!r}"
            raise ConfigError(msg) from e

    @property
    def db_url(self) -> str:
        """The store's location: ``GIS_DB`` if set, else a GeoPackage under ``var_dir``."""
        return self.db or str(self.var_dir / f"{self.ward}.gpkg")


def load_profiles(path: Path) -> dict[str, WardProfile]:
    """Read and validate every ward profile in a TOML file.

    Parameters
    ----------
    path
        The profiles file; relative data paths in it are resolved against its folder.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"ward profiles: could not read {path}: {e}") from e
    profiles: dict[str, WardProfile] = {}
    for ward_id, table in raw.items():
        table = dict(table)
        for key in ("new_wards", "old_wards"):
            if key in table:
                table[key] = path.parent / table[key]
        try:
            profiles[ward_id] = WardProfile(id=ward_id, **table)
        except ValidationError as e:
            raise ConfigError(f"ward profile {ward_id!r} in {path}: {e}") from e
    return profiles


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build the settings from a TOML file overlaid with ``GIS_*`` environment variables.

    Parameters
    ----------
    env
        The environment to read; ``os.environ`` when omitted.
    config_file
        A TOML file with the same keys as :class:`Settings`; defaults to ``GIS_CONFIG``,
        else ``gis.toml`` at the project root if it exists.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    path = config_file or (Path(env["GIS_CONFIG"]) if env.get("GIS_CONFIG") else ROOT / "gis.toml")
    if config_file is not None or env.get("GIS_CONFIG") or path.exists():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"config file: could not read {path}: {e}") from e
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if env.get(key):
            values[name] = env[key]
    try:
        settings = Settings(**values)  # type: ignore[arg-type]
    except ValidationError as e:
        raise ConfigError(f"configuration: {e}") from e
    settings.profile  # noqa: B018 - validate the ward name now, not on first use
    return settings
