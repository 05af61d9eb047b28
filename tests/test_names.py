"""Vietnamese ward names written any way people write them."""

from __future__ import annotations

import pytest

from geo.names import display_name, name_key, split_official_list, strip_diacritics


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ThảoĐiền", "Thảo Điền"),
        ("AnLợiĐông", "An Lợi Đông"),
        ("BìnhTrưngĐông", "Bình Trưng Đông"),
        ("Quận2", "Quận 2"),
        ("Phường 12", "Phường 12"),
        ("Thủ Thiêm", "Thủ Thiêm"),
        ("", ""),
    ],
)
def test_display_name_restores_gadm_spaces(raw: str, expected: str) -> None:
    assert display_name(raw) == expected


@pytest.mark.parametrize(
    "written",
    ["ThảoĐiền", "thao dien", "Phường Thảo Điền", "P. Thảo Điền", "THAO DIEN", "  thảo   điền "],
)
def test_name_key_matches_every_spelling(written: str) -> None:
    assert name_key(written) == "thaodien"


def test_name_key_drops_qualifiers_and_keeps_numbers_distinct() -> None:
    assert name_key("Phường An Phú (thành phố Thủ Đức)") == name_key("An Phú")
    assert name_key("Phường 12") != name_key("Phường 2")
    assert name_key("An Phú") != name_key("An Phú Tây")


def test_strip_diacritics_handles_d_stroke() -> None:
    assert strip_diacritics("Đà Nẵng, Thủ Đức") == "Da Nang, Thu Duc"


def test_split_official_list_on_real_before_merger_text() -> None:
    text = (
        "Phường Thủ Thiêm, Phường An Lợi Đông, Phường Thảo Điền, Phường An Khánh, "
        "Phường An Phú (thành phố Thủ Đức)"
    )
    assert split_official_list(text) == [
        "Thủ Thiêm", "An Lợi Đông", "Thảo Điền", "An Khánh", "An Phú",
    ]  # fmt: skip
    assert split_official_list("") == []
