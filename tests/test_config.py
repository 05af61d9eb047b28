"""Settings from a TOML file and ``GIS_*`` variables, and the ward profiles they select."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from geo.config import DATA_DIR, ROOT, Settings, WardProfile, load_profiles, load_settings
from geo.errors import ConfigError

PROFILES_FILE = DATA_DIR / "wards.toml"


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    """An empty config file, so a developer's own ``gis.toml`` cannot change the results."""
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return path


def load(empty_config: Path, **env: str) -> Settings:
    """``load_settings`` with only the given variables (plus the empty config file)."""
    return load_settings(env={"GIS_CONFIG": str(empty_config), **env})


def profile_toml(measure_crs: str) -> str:
    return (
        "[test-ward]\n"
        'name = "Thử"\n'
        'province = "Thành phố Hồ Chí Minh"\n'
        f'measure_crs = "{measure_crs}"\n'
        'new_wards = "wards/hcmc_wards_2025_new.geojson"\n'
        'old_wards = "wards/hcmc_wards_pre2025_gadm41.geojson"\n'
    )


# --- Defaults and the ward -------------------------------------------------------------------


def test_defaults_are_an_khanh_in_ho_chi_minh_city(empty_config: Path) -> None:
    settings = load(empty_config)
    assert settings.ward == "an-khanh"
    assert settings.profile.name == "An Khánh"
    assert settings.profile.province == "Thành phố Hồ Chí Minh"
    assert settings.profile.measure_crs == "EPSG:9210"
    assert settings.basemap == "osm"
    assert settings.lang == "vi"
    assert settings.db is None
    assert settings.db_url == str(ROOT / "var" / "an-khanh.gpkg")


def test_ward_an_hai_measures_in_vn2000_tm3_107_45(empty_config: Path) -> None:
    settings = load(empty_config, GIS_WARD="an-hai")
    assert settings.profile.id == "an-hai"
    assert settings.profile.province == "Thành phố Đà Nẵng"
    assert settings.profile.measure_crs == "EPSG:5899"


def test_unknown_ward_names_the_known_wards(empty_config: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(empty_config, GIS_WARD="thu-thiem")
    message = str(excinfo.value)
    assert "'thu-thiem'" in message
    known = load_profiles(PROFILES_FILE)
    assert {"an-khanh", "an-hai", "binh-trung"} <= set(known)
    for ward_id in known:
        assert ward_id in message


def test_settings_fixture_is_isolated(settings: Settings, tmp_path: Path) -> None:
    assert settings.ward == "an-khanh"
    assert settings.basemap == "none"
    assert settings.var_dir == tmp_path
    assert settings.db_url == str(tmp_path / "an-khanh.gpkg")


# --- Validation of single values -------------------------------------------------------------


@pytest.mark.parametrize("basemap", ["google", "OSM", "satellite"])
def test_bad_basemap_is_refused(empty_config: Path, basemap: str) -> None:
    with pytest.raises(ConfigError, match="basemap"):
        load(empty_config, GIS_BASEMAP=basemap)


@pytest.mark.parametrize("basemap", ["none", "osm", "carto"])
def test_known_basemaps_are_accepted(empty_config: Path, basemap: str) -> None:
    assert load(empty_config, GIS_BASEMAP=basemap).basemap == basemap


def test_bad_language_is_refused(empty_config: Path) -> None:
    with pytest.raises(ConfigError, match="lang"):
        load(empty_config, GIS_LANG="fr")


@pytest.mark.parametrize("value", ["0", "-5", "5000", "lots"])
def test_upload_limit_must_be_a_sane_size(empty_config: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="max_upload_mb"):
        load(empty_config, GIS_MAX_UPLOAD_MB=value)


def test_upload_limit_from_env_is_an_int(empty_config: Path) -> None:
    assert load(empty_config, GIS_MAX_UPLOAD_MB="50").max_upload_mb == 50


def test_account_settings_defaults_and_environment(empty_config: Path) -> None:
    settings = load(empty_config)
    assert (settings.anonymous_read, settings.session_hours, settings.idle_minutes) == (
        False, 12.0, 30.0,
    )  # fmt: skip
    assert (settings.lockout_failures, settings.lockout_minutes) == (5, 15.0)
    changed = load(
        empty_config, GIS_ANONYMOUS_READ="true", GIS_SESSION_HOURS="8", GIS_IDLE_MINUTES="10",
        GIS_LOCKOUT_FAILURES="3", GIS_LOCKOUT_MINUTES="60",
    )  # fmt: skip
    assert changed.anonymous_read is True
    assert (changed.session_hours, changed.idle_minutes) == (8.0, 10.0)
    assert (changed.lockout_failures, changed.lockout_minutes) == (3, 60.0)
    assert load(empty_config, GIS_ANONYMOUS_READ="false").anonymous_read is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GIS_ANONYMOUS_READ", "perhaps"),
        ("GIS_SESSION_HOURS", "0"),
        ("GIS_SESSION_HOURS", "1000"),
        ("GIS_IDLE_MINUTES", "-1"),
        ("GIS_LOCKOUT_FAILURES", "0"),
        ("GIS_LOCKOUT_FAILURES", "2.5"),
        ("GIS_LOCKOUT_MINUTES", "never"),
    ],
)
def test_account_settings_are_checked(empty_config: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.removeprefix("GIS_").lower()):
        load(empty_config, **{name: value})


def test_empty_variable_is_ignored(empty_config: Path) -> None:
    assert load(empty_config, GIS_WARD="", GIS_BASEMAP="").ward == "an-khanh"


def test_gis_db_overrides_the_geopackage(empty_config: Path) -> None:
    url = "postgresql://gis@db.example/ward"
    assert load(empty_config, GIS_DB=url).db_url == url


# --- The config file -------------------------------------------------------------------------


def test_config_file_is_overlaid_by_env(tmp_path: Path) -> None:
    config = tmp_path / "gis.toml"
    config.write_text(
        'ward = "an-hai"\nbasemap = "carto"\nlang = "en"\nmax_upload_mb = 20\n', encoding="utf-8"
    )
    settings = load_settings(env={"GIS_CONFIG": str(config), "GIS_BASEMAP": "none"})
    assert settings.ward == "an-hai"  # from the file
    assert settings.lang == "en"  # from the file
    assert settings.max_upload_mb == 20  # from the file
    assert settings.basemap == "none"  # the variable wins over the file


def test_config_file_argument_wins_over_gis_config(tmp_path: Path, empty_config: Path) -> None:
    config = tmp_path / "gis.toml"
    config.write_text('ward = "binh-trung"\n', encoding="utf-8")
    settings = load_settings(env={"GIS_CONFIG": str(empty_config)}, config_file=config)
    assert settings.ward == "binh-trung"


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings(env={"GIS_CONFIG": str(missing)})


def test_broken_config_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "gis.toml"
    config.write_text('ward = "an-hai\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="config file"):
        load_settings(env={"GIS_CONFIG": str(config)})


def test_unknown_key_in_config_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "gis.toml"
    config.write_text('wrad = "an-hai"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="wrad"):
        load_settings(env={"GIS_CONFIG": str(config)})


# --- Ward profiles -------------------------------------------------------------------------


def test_every_profile_has_its_data_files() -> None:
    profiles = load_profiles(PROFILES_FILE)
    assert profiles
    for ward_id, profile in profiles.items():
        assert profile.id == ward_id
        for path in (profile.new_wards, profile.old_wards):
            assert path.is_absolute()
            assert path.is_file(), f"{ward_id}: missing {path}"
            assert path.stat().st_size > 0, f"{ward_id}: empty {path}"


@pytest.mark.parametrize(
    "measure_crs",
    [
        "EPSG:4326",  # WGS 84, geographic (degrees)
        "EPSG:4756",  # VN-2000, geographic (degrees)
        "EPSG:2227",  # projected, but in US survey feet
    ],
)
def test_measure_crs_must_be_projected_in_metres(measure_crs: str) -> None:
    with pytest.raises(ValidationError, match="projected CRS in metres"):
        WardProfile(
            id="x",
            name="X",
            province="Y",
            measure_crs=measure_crs,
            new_wards=Path("a.geojson"),
            old_wards=Path("b.geojson"),
        )


def test_measure_crs_must_be_a_crs() -> None:
    with pytest.raises(ValidationError, match="EPSG code"):
        WardProfile(
            id="x",
            name="X",
            province="Y",
            measure_crs="EPSG:99999999",
            new_wards=Path("a.geojson"),
            old_wards=Path("b.geojson"),
        )


def test_geographic_measure_crs_in_profiles_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "wards.toml"
    path.write_text(profile_toml("EPSG:4326"), encoding="utf-8")
    with pytest.raises(ConfigError, match="test-ward"):
        load_profiles(path)


def test_profiles_file_paths_are_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / "wards.toml"
    path.write_text(profile_toml("EPSG:9210"), encoding="utf-8")
    profile = load_profiles(path)["test-ward"]
    assert profile.new_wards == tmp_path / "wards" / "hcmc_wards_2025_new.geojson"
    assert profile.kind == "Phường"


def test_missing_profiles_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ward profiles"):
        load_profiles(tmp_path / "wards.toml")
