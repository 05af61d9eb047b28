"""Legacy Vietnamese 8-bit encodings (TCVN3/ABC, VNI) in old shapefiles: detect, convert."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar, overload

from geo.errors import GISInputError

LegacyEncoding = Literal["tcvn3", "vni"]
TextEncoding = Literal["utf-8", "cp1258", "tcvn3", "vni"]
ENCODINGS: tuple[str, ...] = ("utf-8", "cp1258", "tcvn3", "vni")
LEGACY: tuple[str, ...] = ("tcvn3", "vni")
LABELS: dict[str, str] = {
    "utf-8": "UTF-8 (Unicode)",
    "cp1258": "Windows-1258",
    "tcvn3": "TCVN3 (ABC, .VnTime)",
    "vni": "VNI (VNI-Windows)",
}

_T = TypeVar("_T")

# Spellings accepted for the encoding names besides the canonical ones (compared lower-cased).
_ALIASES = {"utf8": "utf-8", "windows-1258": "cp1258"}

# The five tone marks, in the order the table rows below list the toned forms:
# huyền (grave), hỏi (hook above), ngã (tilde), sắc (acute), nặng (dot below).
_TONES = ("\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
_GRAVE, _HOOK, _TILDE, _ACUTE, _DOT = _TONES

# ---------------------------------------------------------------------------------------------
# TCVN3 (ABC): TCVN 5712:1993, character set VN3, as used with the ".VnTime" fonts.
# Each row: the code of the vowel without tone, then its codes with grave, hook, tilde, acute
# and dot below. Uppercase toned letters have no code of their own in VN3 (they were typed
# with the lowercase codes in the uppercase ".VnTimeH" fonts), so they encode to these codes
# and decode to lowercase.
# Checked against GNU libiconv lib/tcvn.h, glibc iconv TCVN5712-1, the TCVN3 table of
# khiemdoan/VBKey (Modules/mdlCodeTable.bas) and lamdao/xvnkb (tcvn.h): all agree.
# ---------------------------------------------------------------------------------------------
_TCVN3_ROWS: dict[str, tuple[int, int, int, int, int, int]] = {
    "a": (0x61, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9),
    "ă": (0xA8, 0xBB, 0xBC, 0xBD, 0xBE, 0xC6),
    "â": (0xA9, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB),
    "e": (0x65, 0xCC, 0xCE, 0xCF, 0xD0, 0xD1),
    "ê": (0xAA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6),
    "i": (0x69, 0xD7, 0xD8, 0xDC, 0xDD, 0xDE),
    "o": (0x6F, 0xDF, 0xE1, 0xE2, 0xE3, 0xE4),
    "ô": (0xAB, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9),
    "ơ": (0xAC, 0xEA, 0xEB, 0xEC, 0xED, 0xEE),
    "u": (0x75, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4),
    "ư": (0xAD, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9),
    "y": (0x79, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE),
}
_TCVN3_OTHER = {
    "đ": 0xAE,
    "Ă": 0xA1,
    "Â": 0xA2,
    "Ê": 0xA3,
    "Ô": 0xA4,
    "Ơ": 0xA5,
    "Ư": 0xA6,
    "Đ": 0xA7,
}
# Bytes VN3 leaves free decode to what the fuller VN1 set of the same standard assigns them
# (uppercase toned letters, no-break space, combining tone marks), as libiconv and glibc do.
# VN1's uppercase letters in the C0 control range (0x01-0x17) are not decoded: ASCII stays ASCII.
_TCVN3_VN1_80_9F = "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"
_TCVN3_VN1_OTHER = {
    0xA0: "\u00a0",
    0xAF: "Ằ",
    0xB0: _GRAVE,
    0xB1: _HOOK,
    0xB2: _TILDE,
    0xB3: _ACUTE,
    0xB4: _DOT,
    0xBA: "Ẳ",
    0xBF: "Ẵ",
    0xC0: "Ắ",
    0xC1: "Ầ",
    0xC2: "Ẩ",
    0xC3: "Ẫ",
    0xC4: "Ấ",
    0xC5: "Ề",
    0xCD: "Ể",
    0xD9: "Ễ",
    0xDA: "Ế",
    0xDB: "Ồ",
    0xE0: "Ổ",
    0xF0: "Ỗ",
    0xFF: "Ố",
}

# ---------------------------------------------------------------------------------------------
# VNI (VNI-Windows): a base letter followed by a mark byte, written here as the bytes look in
# Windows-1252 ("Việt" is "Vieät"). Same row layout as the TCVN3 rows. The letters i and ỵ,
# and đ, ơ, ư, have single-byte codes. Uppercase forms are the Windows-1252 uppercase of the
# lowercase ones ("ấ" is "aá", "Ấ" is "AÁ").
# Checked against khiemdoan/VBKey (Modules/mdlCodeTable.bas, VNI_WINDOWS_TABLE) and
# lamdao/xvnkb (vni.h), which agree on all 134 letters.
# ---------------------------------------------------------------------------------------------
_VNI_ROWS: dict[str, tuple[str, str, str, str, str, str]] = {
    "a": ("a", "aø", "aû", "aõ", "aù", "aï"),
    "ă": ("aê", "aè", "aú", "aü", "aé", "aë"),
    "â": ("aâ", "aà", "aå", "aã", "aá", "aä"),
    "e": ("e", "eø", "eû", "eõ", "eù", "eï"),
    "ê": ("eâ", "eà", "eå", "eã", "eá", "eä"),
    "i": ("i", "ì", "æ", "ó", "í", "ò"),
    "o": ("o", "oø", "oû", "oõ", "où", "oï"),
    "ô": ("oâ", "oà", "oå", "oã", "oá", "oä"),
    "ơ": ("ô", "ôø", "ôû", "ôõ", "ôù", "ôï"),
    "u": ("u", "uø", "uû", "uõ", "uù", "uï"),
    "ư": ("ö", "öø", "öû", "öõ", "öù", "öï"),
    "y": ("y", "yø", "yû", "yõ", "yù", "î"),
}
_VNI_OTHER = {"đ": "ñ"}


def _toned(vowel: str, tone: int) -> str:
    """The NFC letter for ``vowel`` (no tone) carrying tone ``tone`` (0 = none, 1-5 as rows)."""
    return vowel if tone == 0 else unicodedata.normalize("NFC", vowel + _TONES[tone - 1])


def _build_letters() -> dict[str, tuple[str, int]]:
    """Every lowercase Vietnamese letter (ASCII included) → (letter without tone, tone 0-5)."""
    letters = {ch: (ch, 0) for ch in "abcdefghijklmnopqrstuvwxyz"}
    letters["đ"] = ("đ", 0)
    for vowel in _TCVN3_ROWS:
        for tone in range(6):
            letters[_toned(vowel, tone)] = (vowel, tone)
    return letters


# Lowercase letter → (toneless letter, tone index); keys are the Vietnamese alphabet.
_LETTERS = _build_letters()


def _build_tcvn3() -> tuple[dict[str, int], dict[int, str]]:
    encode: dict[str, int] = {"\u00a0": 0xA0}
    for vowel, codes in _TCVN3_ROWS.items():
        for tone, code in enumerate(codes):
            letter = _toned(vowel, tone)
            if tone or not letter.isascii():
                encode[letter] = code
                if tone:  # uppercase toned letters share the lowercase code (".VnTimeH" fonts)
                    encode[letter.upper()] = code
    encode.update(_TCVN3_OTHER)
    decode = {0x80 + i: ch for i, ch in enumerate(_TCVN3_VN1_80_9F)}
    decode.update(_TCVN3_VN1_OTHER)
    for letter, code in encode.items():
        if not (letter.isupper() and _LETTERS[letter.lower()][1]):  # keep lowercase for toned
            decode[code] = letter
    return encode, decode


# _TCVN3_DECODE doubles as the str.translate table for the bytes read as latin-1 text.
_TCVN3_ENCODE, _TCVN3_DECODE = _build_tcvn3()
# For detection only: bytes that ABC/TCVN3 keyboards never type (VN1-only codes) become U+FFFD,
# so text in another encoding cannot pass for TCVN3 through them.
_VN3_CODES = frozenset(_TCVN3_ENCODE.values())
_TCVN3_DETECT = {b: ch if b in _VN3_CODES else "\ufffd" for b, ch in _TCVN3_DECODE.items()}


def _cp1252_char(byte: int) -> str:
    """The Windows-1252 character of ``byte``; its five unassigned bytes map to C1 controls."""
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


def _build_vni() -> tuple[dict[str, bytes], dict[str, str], re.Pattern[str]]:
    letters: dict[str, bytes] = {}
    for vowel, views in _VNI_ROWS.items():
        for tone, view in enumerate(views):
            letter = _toned(vowel, tone)
            if not letter.isascii():
                letters[letter] = view.encode("cp1252")
                letters[letter.upper()] = view.upper().encode("cp1252")
    for letter, view in _VNI_OTHER.items():
        letters[letter] = view.encode("cp1252")
        letters[letter.upper()] = view.upper().encode("cp1252")
    # Every byte ≥ 0x80 that VNI uses (letters, and marks that follow a base letter).
    used = {b for seq in letters.values() for b in seq if b >= 0x80}
    # Keys are the byte sequences as latin-1 text, so decoding is one regex substitution.
    decode = {seq.decode("latin-1"): letter for letter, seq in letters.items()}
    encode = dict(letters)
    for byte in range(0x80, 0x100):
        key = chr(byte)
        if key not in decode:  # not a letter on its own: the font's Windows-1252 glyph
            decode[key] = _cp1252_char(byte)
            if byte not in used:  # never shadow a letter: 0xFD is "ý" in Windows-1252
                encode.setdefault(decode[key], bytes([byte]))
    pairs = [k for k in decode if len(k) == 2]
    pattern = re.compile("|".join(re.escape(k) for k in pairs) + r"|[\x80-\xff]")
    return encode, decode, pattern


_VNI_ENCODE, _VNI_DECODE, _VNI_PATTERN = _build_vni()
# For detection only: a byte from 0xC0 up that is not part of a letter (a mark without its base
# letter, or a byte VNI does not use) never occurs in VNI text, so it becomes U+FFFD.
_VNI_LETTER_KEYS = frozenset(
    seq.decode("latin-1") for char, seq in _VNI_ENCODE.items() if char.lower() in _LETTERS
)
_VNI_DETECT = {
    key: "\ufffd" if len(key) == 1 and key >= "\xc0" and key not in _VNI_LETTER_KEYS else ch
    for key, ch in _VNI_DECODE.items()
}


def _canonical(encoding: object) -> TextEncoding:
    """The canonical name of ``encoding``; raise ``GISInputError`` for an unknown one."""
    if isinstance(encoding, str):
        name = encoding.strip().lower().replace("_", "-")
        name = _ALIASES.get(name, name)
        if name == "utf-8":
            return "utf-8"
        if name == "cp1258":
            return "cp1258"
        if name == "tcvn3":
            return "tcvn3"
        if name == "vni":
            return "vni"
    message = f"encoding: expected one of {', '.join(ENCODINGS)}, got {encoding!r}"
    raise GISInputError(message)


def _as_bytes(data: object, argument: str) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    message = f"{argument}: expected bytes, got {type(data).__name__}"
    raise GISInputError(message)


def _decode_tcvn3(data: bytes, table: dict[int, str] = _TCVN3_DECODE) -> str:
    text = data.decode("latin-1").translate(table)
    return unicodedata.normalize("NFC", text)


def _decode_vni(data: bytes, table: dict[str, str] = _VNI_DECODE) -> str:
    text = _VNI_PATTERN.sub(lambda m: table[m.group()], data.decode("latin-1"))
    return unicodedata.normalize("NFC", text)


def decode(data: bytes, encoding: str) -> str:
    """Convert raw bytes, as stored in a DBF file, to Unicode text.

    ``"utf-8"`` is decoded as is. ``"cp1258"`` (Windows-1258) is decoded and normalised to NFC,
    since it stores most toned letters as a base letter plus a combining tone mark. ``"tcvn3"``
    and ``"vni"`` are converted by table; ASCII bytes pass through unchanged and the result is
    NFC. TCVN3 gives lowercase for uppercase toned letters (``b"VI\\xd6T"`` → ``"VIệT"``): the
    encoding has no codes for them. Every byte has a meaning in TCVN3 and VNI, so those two
    never fail; a VNI byte that is not part of a Vietnamese letter decodes as its Windows-1252
    character.

    Parameters
    ----------
    data
        The raw bytes of one text value.
    encoding
        One of ``ENCODINGS``: ``"utf-8"``, ``"cp1258"``, ``"tcvn3"`` or ``"vni"``.

    Raises
    ------
    GISInputError
        If ``encoding`` is unknown, ``data`` is not bytes, or ``data`` is not valid UTF-8 or
        Windows-1258 when that encoding was asked for.
    """
    name = _canonical(encoding)
    raw = _as_bytes(data, "data")
    if name == "tcvn3":
        return _decode_tcvn3(raw)
    if name == "vni":
        return _decode_vni(raw)
    try:
        text = raw.decode(name)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        message = (
            f"data: expected bytes in {name}, got byte 0x{bad:02x} at position {exc.start}, "
            f"which {name} cannot decode"
        )
        raise GISInputError(message) from exc
    return text if name == "utf-8" else unicodedata.normalize("NFC", text)


def _unrepresentable(char: str, position: int, name: str) -> GISInputError:
    message = (
        f"text: expected characters that {name} can represent, got {char!r} "
        f"(U+{ord(char):04X}) at position {position}"
    )
    return GISInputError(message)


def _encode_cp1258_char(char: str, position: int) -> bytes:
    try:
        return char.encode("cp1258")
    except UnicodeEncodeError:
        pass
    # No precomposed form: the letter with its vowel mark (â, ơ, ...) plus a combining tone.
    decomposed = unicodedata.normalize("NFD", char)
    tones = "".join(ch for ch in decomposed if ch in _TONES)
    base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    try:
        return base.encode("cp1258") + tones.encode("cp1258")
    except UnicodeEncodeError:
        raise _unrepresentable(char, position, "cp1258") from None


def encode(text: str, encoding: str) -> bytes:
    """Convert Unicode text to the bytes ``encoding`` stores; the inverse of ``decode``.

    The text is normalised to NFC first. Windows-1258 output uses a precomposed character where
    the code page has one and otherwise the letter followed by a combining tone mark
    (``"ấ"`` → ``b"\\xe2\\xec"``). TCVN3 writes uppercase toned letters with the lowercase codes.

    Parameters
    ----------
    text
        The text to write.
    encoding
        One of ``ENCODINGS``.

    Raises
    ------
    GISInputError
        If ``encoding`` is unknown, ``text`` is not a string, or it holds a character the
        encoding cannot represent (the message names it).
    """
    name = _canonical(encoding)
    if not isinstance(text, str):
        message = f"text: expected str, got {type(text).__name__}"
        raise GISInputError(message)
    if name == "utf-8":
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _unrepresentable(text[exc.start], exc.start, name) from exc
    text = unicodedata.normalize("NFC", text)
    out = bytearray()
    for position, char in enumerate(text):
        if char.isascii():
            out += char.encode("ascii")
        elif name == "cp1258":
            out += _encode_cp1258_char(char, position)
        elif name == "tcvn3" and char in _TCVN3_ENCODE:
            out.append(_TCVN3_ENCODE[char])
        elif name == "vni" and char in _VNI_ENCODE:
            out += _VNI_ENCODE[char]
        else:
            raise _unrepresentable(char, position, name)
    return bytes(out)


@overload
def from_latin1(text: str, encoding: str) -> str: ...


@overload
def from_latin1(text: _T, encoding: str) -> _T: ...


def from_latin1(text: object, encoding: str) -> object:
    """Repair text that was read byte-for-byte as latin-1 (GDAL/pyogrio ``encoding="latin1"``).

    Equivalent to ``decode(text.encode("latin-1"), encoding)``. Values that are not strings
    (``None``, ``NaN``, numbers: empty pandas cells) are returned unchanged, so the function
    can be mapped over a column.

    Parameters
    ----------
    text
        A string whose code points are the raw bytes, or any non-string value.
    encoding
        One of ``ENCODINGS``: the encoding the bytes are really in.

    Raises
    ------
    GISInputError
        If ``encoding`` is unknown, ``text`` holds a character above U+00FF (so it was not
        read as latin-1), or the bytes are invalid in ``encoding``.
    """
    name = _canonical(encoding)
    if not isinstance(text, str):
        return text
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        message = (
            f"text: expected a string read as latin-1 (code points up to U+00FF), got {char!r} "
            f"(U+{ord(char):04X}) at position {exc.start}"
        )
        raise GISInputError(message) from exc
    return decode(raw, name)


# ---------------------------------------------------------------------------------------------
# Plausibility of Vietnamese words, for detection.
# ---------------------------------------------------------------------------------------------
_INITIALS = (
    "ngh", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "nh",
    "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x", "",
)  # fmt: skip
# Consonant finals; "k" only occurs in place names from minority languages ("Đắk Lắk").
_FINALS = ("c", "ch", "k", "m", "n", "ng", "nh", "p", "t")
_STOP_FINALS = frozenset({"c", "ch", "k", "p", "t"})
# Vowel groups (without tone), by whether a final consonant may, must or must not follow.
_NUCLEI_EITHER = frozenset(
    {"a", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "oa", "oe", "uê", "uy"}
)
_NUCLEI_OPEN = frozenset(
    {
        "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iu", "oi", "ôi", "ơi", "ua", "ui",
        "uơ", "ưa", "ưi", "ưu", "iêu", "yêu", "oai", "oao", "oay", "oeo", "uây", "uôi", "uya",
        "uyu", "ươi", "ươu",
    }
)  # fmt: skip
_NUCLEI_CLOSED = frozenset({"ă", "â", "iê", "yê", "uô", "ươ", "oă", "uâ", "oo", "uyê"})
# "-ch" and "-nh" follow only these vowel groups.
_NUCLEI_PALATAL = frozenset({"a", "ê", "i", "y", "oa", "uê", "uy"})
_VOWELS = frozenset("aăâeêioôơuưy")
_MODIFIED_VOWELS = frozenset("ăâêôơư")
# Rising diphthongs, whose tone mark sits on either vowel when nothing follows.
_NUCLEI_RISING = frozenset({"oa", "oe", "uy", "oo"})
_NON_VIETNAMESE = frozenset("fjwz")
# Word separators: whitespace (no-break space included), ASCII punctuation and digits, and
# typographic dashes, quotes, ellipsis, bullet and degree sign. Bytes that TCVN3 or VNI use
# for letters never decode to these in another encoding, so splitting on them cannot hide
# mis-decoded letters.
_SEPARATORS = re.compile(r"[\s!-@\[-`{-~\u2013\u2014\u2018-\u201d\u2022\u2026\u00b0]+")


def _tone_positions(nucleus: str, final: str) -> frozenset[int]:
    """Where in ``nucleus`` a tone mark may sit.

    On the vowel with a modifier (the last one in "ươ"); otherwise on the first vowel of a
    falling diphthong ("mái", "múa"), the middle of a triphthong ("ngoài"), and the second of
    "oa", "oe", "uy", "oo" before a final ("hoàn") or either one without ("hoà", "hòa").
    """
    modified = [i for i, ch in enumerate(nucleus) if ch in _MODIFIED_VOWELS]
    if modified:
        return frozenset({modified[-1]})
    if len(nucleus) == 3:
        return frozenset({1})
    if nucleus in _NUCLEI_RISING:
        return frozenset({1}) if final else frozenset({0, 1})
    return frozenset({0})


def _is_syllable(toneless: str, tone: int, tone_at: int) -> bool:
    """Whether ``toneless`` (lowercase, tone removed) parses as initial + vowels + final.

    ``tone`` is the tone (0 for none, 1-5 in ``_TONES`` order) and ``tone_at`` the index of the
    letter that carried it.
    """
    for initial in _INITIALS:
        if not toneless.startswith(initial):
            continue
        rest = toneless[len(initial) :]
        for final in ("", *_FINALS):
            if not rest.endswith(final) or len(rest) <= len(final):
                continue
            nucleus = rest[: len(rest) - len(final)]
            if final:
                if nucleus not in _NUCLEI_EITHER and nucleus not in _NUCLEI_CLOSED:
                    continue
                if final in ("ch", "nh") and nucleus not in _NUCLEI_PALATAL:
                    continue
                if final in ("c", "ng") and nucleus == "ơ":
                    continue
                if final in _STOP_FINALS and tone in (1, 2, 3):  # grave, hook, tilde
                    continue
            elif nucleus not in _NUCLEI_EITHER and nucleus not in _NUCLEI_OPEN:
                continue
            if tone and tone_at - len(initial) not in _tone_positions(nucleus, final):
                continue
            return True
    return False


@functools.lru_cache(maxsize=65536)  # column values repeat the same words
def _is_plausible(word: str) -> bool:
    """Whether ``word`` is a plain ASCII word, an uppercase abbreviation or a syllable."""
    if word.isascii() and word.isalpha():
        return True
    toneless = []
    tones = []
    for index, char in enumerate(word.lower()):
        if char not in _LETTERS:
            return False
        letter, tone = _LETTERS[char]
        toneless.append(letter)
        if tone:
            tones.append((tone, index))
    if len(tones) > 1 or _NON_VIETNAMESE.intersection(toneless):
        return False
    if not tones and word.isupper() and not _VOWELS.intersection(toneless):
        return True  # an abbreviation such as "TĐC" (tái định cư)
    tone, tone_at = tones[0] if tones else (0, 0)
    return _is_syllable("".join(toneless), tone, tone_at)


def score(text: str) -> float:
    """The fraction (0 to 1) of the words in ``text`` that are plausible Vietnamese.

    Words are split on whitespace, ASCII punctuation, digits and typographic punctuation. A word
    is plausible if it is plain ASCII letters (names written without diacritics, codes such as
    ``"UBND"`` or ``"ODT"``), an uppercase abbreviation of consonants (``"TĐC"``), or a
    Vietnamese syllable: an optional initial consonant cluster, a vowel group from the
    Vietnamese set carrying at most one tone mark, and an optional final consonant. The usual
    rules apply: ``ă`` and ``â`` need a final; ``-ch`` and ``-nh`` follow only ``a ê i y``;
    stop finals take only the acute or dot tone; the tone mark sits where Vietnamese puts it
    (``"mới"``, not ``"mơí"``; both ``"hoà"`` and ``"hòa"``). Case is ignored. A word holding
    any character outside the Vietnamese alphabet (``"¸"``, ``"Ö"``, ``"¹"``, ``"Ñ"``, U+FFFD,
    control characters) is implausible. Text without words scores 1.0.

    Parameters
    ----------
    text
        Decoded text.
    """
    words = [w for w in _SEPARATORS.split(unicodedata.normalize("NFC", text)) if w]
    if not words:
        return 1.0
    return sum(_is_plausible(w) for w in words) / len(words)


@dataclass(frozen=True)
class Detection:
    """The encoding ``detect`` chose for a set of raw byte strings.

    Attributes
    ----------
    encoding
        The chosen encoding.
    confidence
        From 0 to 1: 1.0 for UTF-8 (valid UTF-8 or plain ASCII), otherwise the margin of the
        best average score over the second best.
    scores
        The average ``score`` of each candidate encoding that was compared.
    """

    encoding: TextEncoding
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


# Candidates for non-UTF-8 bytes, in the order that wins ties (most common in cadastral data).
_LEGACY_ORDER: tuple[TextEncoding, ...] = ("tcvn3", "vni", "cp1258")


def _decode_for_detection(data: bytes, encoding: TextEncoding) -> str:
    """Decode like ``decode``, but with U+FFFD for bytes real text in ``encoding`` lacks."""
    if encoding == "tcvn3":
        return _decode_tcvn3(data, _TCVN3_DETECT)
    if encoding == "vni":
        return _decode_vni(data, _VNI_DETECT)
    return unicodedata.normalize("NFC", data.decode(encoding, errors="replace"))


def detect(samples: Iterable[bytes]) -> Detection:
    """Decide the encoding of the raw byte strings of a column (or of several columns).

    If every sample is ASCII, or every sample is valid UTF-8, the answer is ``"utf-8"`` with
    confidence 1.0. Otherwise the non-ASCII samples are decoded as Windows-1258, TCVN3 and VNI,
    and the encoding with the highest average ``score`` wins; ties go to TCVN3, then VNI, then
    Windows-1258. ``None`` samples (empty cells) are skipped.

    Parameters
    ----------
    samples
        Raw byte strings as stored in the file.

    Raises
    ------
    GISInputError
        If a sample is neither bytes nor ``None``.
    """
    raw: list[bytes] = []
    for index, sample in enumerate(samples):
        if sample is None:
            continue
        if not isinstance(sample, bytes | bytearray | memoryview):
            message = f"samples: expected bytes, got {type(sample).__name__} at index {index}"
            raise GISInputError(message)
        raw.append(bytes(sample))
    # Each distinct value once, with how often it occurs: columns repeat their values.
    non_ascii = Counter(s for s in raw if not s.isascii())
    try:
        for sample in non_ascii:
            sample.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return Detection("utf-8", 1.0, {"utf-8": 1.0})
    scores: dict[str, float] = {
        name: math.fsum(score(_decode_for_detection(s, name)) * n for s, n in non_ascii.items())
        / non_ascii.total()
        for name in _LEGACY_ORDER
    }
    ranked = sorted(_LEGACY_ORDER, key=lambda name: -scores[name])  # stable: keeps tie order
    best, second = ranked[0], ranked[1]
    confidence = min(1.0, max(0.0, scores[best] - scores[second]))
    return Detection(best, confidence, scores)
