"""Vietnamese place names: display forms and matching keys for names written any way."""

from __future__ import annotations

import re
import unicodedata

# Unit prefixes people write before a ward's name, longest first.
_PREFIXES = ("thi tran", "phuong", "xa", "tt", "p", "x")
_PAREN = re.compile(r"\([^)]*\)")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def display_name(name: str) -> str:
    """Put back the spaces GADM 4.1 dropped: ``"ThảoĐiền"`` → ``"Thảo Điền"``.

    Parameters
    ----------
    name
        A name, possibly in GADM's space-less CamelCase.
    """
    name = unicodedata.normalize("NFC", str(name)).strip()
    if not name:
        return name
    out: list[str] = []
    for prev, ch in zip(" " + name[:-1], name, strict=True):
        lower_to_upper = prev.islower() and ch.isupper()
        if lower_to_upper or (prev.isalpha() and ch.isdigit()):
            out.append(" ")
        out.append(ch)
    return "".join(out)


_D_LETTERS = {0x0110: "D", 0x0111: "d", 0x00D0: "D", 0x00F0: "d"}


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics: ``"Thủ Thiêm"`` → ``"Thu Thiem"``."""
    # Đ/đ, and Ð/ð (Latin eth), which some sources (OpenStreetMap among them) write for Đ
    text = unicodedata.normalize("NFD", text.translate(_D_LETTERS))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def name_key(name: str) -> str:
    """A key that matches however a ward's name is written.

    ``"ThảoĐiền"``, ``"thao dien"``, ``"Phường Thảo Điền"`` and ``"P. Thảo Điền"`` all give
    ``"thaodien"``. Parenthesised qualifiers (``"(thành phố Thủ Đức)"``) are dropped.

    Parameters
    ----------
    name
        The name as written by a person or a dataset.
    """
    text = _PAREN.sub(" ", display_name(name))
    text = strip_diacritics(text).lower()
    text = _NON_ALNUM.sub(" ", text).strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix + " ") and len(text) > len(prefix) + 1:
            text = text[len(prefix) + 1 :]
            break
    return text.replace(" ", "")


def split_official_list(text: str) -> list[str]:
    """Split an official ``before_merger`` text into ward names without their unit prefix.

    ``"Phường Thủ Thiêm, Phường An Phú (thành phố Thủ Đức)"`` → ``["Thủ Thiêm", "An Phú"]``.
    """
    names = []
    for part in str(text or "").split(","):
        part = _PAREN.sub(" ", part).strip()
        for prefix in ("Thị trấn", "Phường", "Xã"):
            if part.startswith(prefix + " "):
                part = part[len(prefix) + 1 :]
                break
        if part.strip():
            names.append(" ".join(part.split()))
    return names
