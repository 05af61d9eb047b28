"""Legacy Vietnamese encodings (TCVN3, VNI, Windows-1258): tables, conversion and detection."""

from __future__ import annotations

import math
import shutil
import subprocess
import unicodedata
from typing import Any

import pytest

from geo.errors import GISInputError
from geo.vnenc import ENCODINGS, decode, detect, encode, from_latin1, score

# The 67 lowercase Vietnamese letters outside ASCII, each vowel followed by its toned forms in
# the order grave, acute, hook, tilde, dot below; then their 67 uppercase forms. Written out
# here rather than taken from geo.vnenc so the tests do not check the module against itself.
LOWER = (
    "àáảãạ" "ăằắẳẵặ" "âầấẩẫậ" "đ" "èéẻẽẹ" "êềếểễệ" "ìíỉĩị" "òóỏõọ" "ôồốổỗộ" "ơờớởỡợ"
    "ùúủũụ" "ưừứửữự" "ỳýỷỹỵ"
)  # fmt: skip
UPPER = (
    "ÀÁẢÃẠ" "ĂẰẮẲẴẶ" "ÂẦẤẨẪẬ" "Đ" "ÈÉẺẼẸ" "ÊỀẾỂỄỆ" "ÌÍỈĨỊ" "ÒÓỎÕỌ" "ÔỒỐỔỖỘ" "ƠỜỚỞỠỢ"
    "ÙÚỦŨỤ" "ƯỪỨỬỮỰ" "ỲÝỶỸỴ"
)  # fmt: skip
# Uppercase letters TCVN3 (VN3) has codes of its own for: the ones without a tone mark.
TCVN3_OWN_UPPER = "ĂÂĐÊÔƠƯ"

# TCVN3 code of each LOWER letter, from GNU libiconv lib/tcvn.h (TCVN 5712:1993), matching
# khiemdoan/VBKey Modules/mdlCodeTable.bas (TCVN3_TABLE) and lamdao/xvnkb tcvn.h.
TCVN3_LOWER = bytes.fromhex(
    "b5 b8 b6 b7 b9" "a8 bb be bc bd c6" "a9 c7 ca c8 c9 cb" "ae" "cc d0 ce cf d1"
    "aa d2 d5 d3 d4 d6" "d7 dd d8 dc de" "df e3 e1 e2 e4" "ab e5 e8 e6 e7 e9"
    "ac ea ed eb ec ee" "ef f3 f1 f2 f4" "ad f5 f8 f6 f7 f9" "fa fd fb fc fe"
)  # fmt: skip
TCVN3_UPPER = bytes.fromhex(
    "b5 b8 b6 b7 b9" "a1 bb be bc bd c6" "a2 c7 ca c8 c9 cb" "a7" "cc d0 ce cf d1"
    "a3 d2 d5 d3 d4 d6" "d7 dd d8 dc de" "df e3 e1 e2 e4" "a4 e5 e8 e6 e7 e9"
    "a5 ea ed eb ec ee" "ef f3 f1 f2 f4" "a6 f5 f8 f6 f7 f9" "fa fd fb fc fe"
)  # fmt: skip

# VNI-Windows bytes of each LOWER / UPPER letter, shown as Windows-1252 text, from
# lamdao/xvnkb vni.h and khiemdoan/VBKey Modules/mdlCodeTable.bas (VNI_WINDOWS_TABLE).
VNI_LOWER = [
    "aø", "aù", "aû", "aõ", "aï",
    "aê", "aè", "aé", "aú", "aü", "aë",
    "aâ", "aà", "aá", "aå", "aã", "aä",
    "ñ",
    "eø", "eù", "eû", "eõ", "eï",
    "eâ", "eà", "eá", "eå", "eã", "eä",
    "ì", "í", "æ", "ó", "ò",
    "oø", "où", "oû", "oõ", "oï",
    "oâ", "oà", "oá", "oå", "oã", "oä",
    "ô", "ôø", "ôù", "ôû", "ôõ", "ôï",
    "uø", "uù", "uû", "uõ", "uï",
    "ö", "öø", "öù", "öû", "öõ", "öï",
    "yø", "yù", "yû", "yõ", "î",
]  # fmt: skip
VNI_UPPER = [
    "AØ", "AÙ", "AÛ", "AÕ", "AÏ",
    "AÊ", "AÈ", "AÉ", "AÚ", "AÜ", "AË",
    "AÂ", "AÀ", "AÁ", "AÅ", "AÃ", "AÄ",
    "Ñ",
    "EØ", "EÙ", "EÛ", "EÕ", "EÏ",
    "EÂ", "EÀ", "EÁ", "EÅ", "EÃ", "EÄ",
    "Ì", "Í", "Æ", "Ó", "Ò",
    "OØ", "OÙ", "OÛ", "OÕ", "OÏ",
    "OÂ", "OÀ", "OÁ", "OÅ", "OÃ", "OÄ",
    "Ô", "ÔØ", "ÔÙ", "ÔÛ", "ÔÕ", "ÔÏ",
    "UØ", "UÙ", "UÛ", "UÕ", "UÏ",
    "Ö", "ÖØ", "ÖÙ", "ÖÛ", "ÖÕ", "ÖÏ",
    "YØ", "YÙ", "YÛ", "YÕ", "Î",
]  # fmt: skip

# Owner names and addresses as they appear in a cadastral attribute table.
REALISTIC = [
    "Nguyễn Văn Hưởng",
    "Trần Thị Bích Ngọc",
    "Phường Thủ Thiêm",
    "Quận 2",
    "Đất ở đô thị",
    "Lê Thị Hồng Nhung",
]
MORE_NAMES = [
    "Võ Văn Kiệt",
    "Thạnh Mỹ Lợi",
    "Bình Trưng Đông",
    "Đất trồng cây lâu năm",
    "Huỳnh Ngọc Ánh",
    "Đỗ Hữu Phước",
    "Khuất Duy Tiến",
    "Lương Định Của",
    "Tổ 3, Khu phố 2",
]


def test_letter_lists_hold_the_134_letters() -> None:
    assert len(LOWER) == len(UPPER) == 67
    assert len(set(LOWER + UPPER)) == 134
    assert LOWER.upper() == UPPER
    assert unicodedata.normalize("NFC", LOWER + UPPER) == LOWER + UPPER
    assert len(TCVN3_LOWER) == len(TCVN3_UPPER) == len(VNI_LOWER) == len(VNI_UPPER) == 67


def test_encodings_constant() -> None:
    assert ENCODINGS == ("utf-8", "cp1258", "tcvn3", "vni")


# --- TCVN3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("letter", "code"), list(zip(LOWER, TCVN3_LOWER, strict=True)))
def test_tcvn3_lowercase_letters_both_ways(letter: str, code: int) -> None:
    assert encode(letter, "tcvn3") == bytes([code])
    assert decode(bytes([code]), "tcvn3") == letter


def test_tcvn3_lowercase_round_trip_of_all_letters() -> None:
    assert encode(LOWER, "tcvn3") == TCVN3_LOWER
    assert decode(TCVN3_LOWER, "tcvn3") == LOWER


def test_tcvn3_uppercase_toned_letters_decode_to_lowercase() -> None:
    # Documented behaviour: VN3 has no codes for uppercase toned letters; the ".VnTimeH" fonts
    # drew them from the lowercase codes, so they encode there and come back lowercase.
    assert encode(UPPER, "tcvn3") == TCVN3_UPPER
    expected = "".join(
        up if up in TCVN3_OWN_UPPER else low for up, low in zip(UPPER, LOWER, strict=True)
    )
    assert decode(TCVN3_UPPER, "tcvn3") == expected
    assert decode(encode("VIỆT NAM", "tcvn3"), "tcvn3") == "VIệT NAM"
    assert decode(encode("ĐẤT Ở", "tcvn3"), "tcvn3") == "ĐấT ở"


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("Việt Nam", b"Vi\xd6t Nam"),
        # duydev/vietnamese-conversion tests/helpers/test-data.ts: "Xin chµo c¸c b¹n",
        # "T«i ®i häc" (Windows-1252 view of the TCVN3 bytes).
        ("Xin chào các bạn", b"Xin ch\xb5o c\xb8c b\xb9n"),
        ("Tôi đi học", b"T\xabi \xaei h\xe4c"),
        # glibc iconv -f UTF-8 -t TCVN5712-1 gives the same bytes for these.
        ("Hồ Chí Minh", b"H\xe5 Ch\xdd Minh"),
        ("Mường Khương", b"M\xad\xeang Kh\xad\xacng"),
        ("Bảo Thắng", b"B\xb6o Th\xbeng"),
        ("Đồng Nai", b"\xa7\xe5ng Nai"),
        ("Bình Dương", b"B\xd7nh D\xad\xacng"),
    ],
)
def test_tcvn3_known_words(text: str, raw: bytes) -> None:
    assert encode(text, "tcvn3") == raw
    assert decode(raw, "tcvn3") == text


def _iconv_tcvn(raw: bytes) -> str | None:
    """Decode ``raw`` with the system's iconv (glibc TCVN5712-1), or None if it cannot."""
    iconv = shutil.which("iconv")
    if iconv is None:
        return None
    done = subprocess.run(
        [iconv, "-f", "TCVN5712-1", "-t", "UTF-8"], input=raw, capture_output=True, check=False
    )
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


def test_tcvn3_table_agrees_with_system_iconv() -> None:
    # An independent implementation of TCVN 5712:1993; one byte at a time so nothing combines.
    separated = b"|".join(bytes([code]) for code in TCVN3_LOWER)
    reference = _iconv_tcvn(separated)
    if reference is None:
        pytest.skip("no iconv with TCVN5712-1 on this system")
    assert decode(separated, "tcvn3") == reference
    assert reference.replace("|", "") == LOWER


def test_tcvn3_decodes_vn1_extras_and_passes_ascii() -> None:
    ascii_bytes = bytes(range(0x80))
    assert decode(ascii_bytes, "tcvn3") == ascii_bytes.decode("ascii")
    # Codes VN3 leaves free: VN1 uppercase toned letters, no-break space, combining marks.
    assert decode(b"\x80\xc0\xff\xa0", "tcvn3") == "ÀẮỐ\u00a0"
    assert decode(b"a\xb3", "tcvn3") == "á"  # a + combining acute, composed to NFC


# --- VNI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letter", "view"),
    list(zip(LOWER, VNI_LOWER, strict=True)) + list(zip(UPPER, VNI_UPPER, strict=True)),
)
def test_vni_letters_both_ways(letter: str, view: str) -> None:
    raw = view.encode("cp1252")
    assert encode(letter, "vni") == raw
    assert decode(raw, "vni") == letter


def test_vni_round_trip_of_all_letters() -> None:
    for letters in (LOWER, UPPER):
        assert decode(encode(letters, "vni"), "vni") == letters
    assert encode(LOWER + UPPER, "vni") == "".join(VNI_LOWER + VNI_UPPER).encode("cp1252")


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("Việt", b"Vie\xe4t"),
        ("Nguyễn", b"Nguye\xe3n"),
        ("Đ", b"\xd1"),
        ("đ", b"\xf1"),
        ("Á", b"A\xd9"),
        # duydev/vietnamese-conversion tests/helpers/test-data.ts: "Xin chaøo caùc baïn",
        # "Toâi ñi hoïc" (Windows-1252 view of the VNI bytes).
        ("Xin chào các bạn", b"Xin cha\xf8o ca\xf9c ba\xefn"),
        ("Tôi đi học", b"To\xe2i \xf1i ho\xefc"),
        # lamdao/xvnkb vni.h: ư "ö", ờ "ôø", ị "ò", Ễ "EÃ", Ư "Ö", Ơ "Ô", Ờ "ÔØ".
        ("Người", b"Ng\xf6\xf4\xf8i"),
        ("Thị", b"Th\xf2"),
        ("NGUYỄN", b"NGUYE\xc3N"),
        ("TRƯỜNG", b"TR\xd6\xd4\xd8NG"),
    ],
)
def test_vni_known_words(text: str, raw: bytes) -> None:
    assert encode(text, "vni") == raw
    assert decode(raw, "vni") == text


def test_vni_other_bytes_decode_as_windows_1252() -> None:
    assert decode(bytes(range(0x80)), "vni") == bytes(range(0x80)).decode("ascii")
    assert decode(b"\xa9 2024 \x96 Nam", "vni") == "© 2024 – Nam"
    # A mark byte without its base letter, or in the other case, stays as it looks.
    assert decode(b"b\xf8 a\xd8", "vni") == "bø aØ"
    # "ý" in Windows-1252 is 0xFD, but VNI writes the letter as y + mark.
    assert encode("ý ©", "vni") == b"y\xf9 \xa9"


# --- Windows-1258 and UTF-8 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("á", b"\xe1"),  # precomposed where the code page has it
        ("Đ", b"\xd0"),
        ("ấ", b"\xe2\xec"),  # â + combining acute
        ("ặ", b"\xe3\xf2"),  # ă + combining dot below
        ("ở", b"\xf5\xd2"),  # ơ + combining hook above
        ("Việt", b"Vi\xea\xf2t"),
        ("Nguyễn", b"Nguy\xea\xden"),
        ("Hưởng", b"H\xfd\xf5\xd2ng"),
    ],
)
def test_cp1258_known_bytes(text: str, raw: bytes) -> None:
    assert encode(text, "cp1258") == raw
    assert decode(raw, "cp1258") == text


@pytest.mark.parametrize("encoding", ["cp1258", "utf-8"])
def test_round_trip_of_all_letters(encoding: str) -> None:
    for letters in (LOWER, UPPER):
        raw = encode(letters, encoding)
        assert decode(raw, encoding) == letters
    assert encode(LOWER, "utf-8") == LOWER.encode("utf-8")


def test_cp1258_decoding_composes_to_nfc() -> None:
    text = decode(b"Nguy\xea\xden", "cp1258")
    assert text == "Nguy\u1ec5n"
    assert len(text) == 6


def test_encode_normalises_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Việt Nam")
    assert encode(decomposed, "tcvn3") == b"Vi\xd6t Nam"
    assert encode(decomposed, "vni") == b"Vie\xe4t Nam"


@pytest.mark.parametrize("name", ["UTF8", "utf_8", "Windows-1258", " TCVN3 ", "VNI"])
def test_encoding_names_are_case_insensitive(name: str) -> None:
    assert decode(b"Nam", name) == "Nam"


# --- errors -----------------------------------------------------------------------------------


def test_unknown_encoding_is_named_in_the_error() -> None:
    expected = "encoding: expected one of utf-8, cp1258, tcvn3, vni, got 'xyz'"
    with pytest.raises(GISInputError) as info:
        decode(b"abc", "xyz")
    assert str(info.value) == expected
    with pytest.raises(GISInputError, match="got 'xyz'"):
        encode("abc", "xyz")
    with pytest.raises(GISInputError, match="got 'xyz'"):
        from_latin1(None, "xyz")  # checked even when the value passes through


@pytest.mark.parametrize(
    ("text", "encoding", "char"),
    [
        ("Việt ß", "tcvn3", "'ß' (U+00DF) at position 5"),
        ("Giá 5€", "tcvn3", "'€' (U+20AC)"),
        ("søn", "vni", "'ø' (U+00F8) at position 1"),
        ("Nam 漢", "cp1258", "'漢' (U+6F22) at position 4"),
        ("a\ud800", "utf-8", "'\\ud800' (U+D800) at position 1"),
    ],
)
def test_unrepresentable_character_is_named(text: str, encoding: str, char: str) -> None:
    with pytest.raises(GISInputError) as info:
        encode(text, encoding)
    message = str(info.value)
    assert message.startswith(f"text: expected characters that {encoding} can represent, got ")
    assert char in message


@pytest.mark.parametrize(
    ("raw", "encoding", "fragment"),
    [
        (b"Vi\xd6t", "utf-8", "expected bytes in utf-8, got byte 0xd6 at position 2"),
        (b"ab\x81", "cp1258", "expected bytes in cp1258, got byte 0x81 at position 2"),
    ],
)
def test_undecodable_bytes_raise(raw: bytes, encoding: str, fragment: str) -> None:
    with pytest.raises(GISInputError, match=fragment):
        decode(raw, encoding)


def test_wrong_argument_types_raise() -> None:
    text: Any = "Việt"
    raw: Any = b"Viet"
    with pytest.raises(GISInputError, match="data: expected bytes, got str"):
        decode(text, "tcvn3")
    with pytest.raises(GISInputError, match="text: expected str, got bytes"):
        encode(raw, "tcvn3")
    with pytest.raises(GISInputError, match="samples: expected bytes, got str at index 1"):
        detect([b"a", text])


# --- from_latin1 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding", "text"),
    [
        (b"Vi\xd6t Nam", "tcvn3", "Việt Nam"),
        (b"Nguye\xe3n", "vni", "Nguyễn"),
        (b"Nguy\xea\xden", "cp1258", "Nguyễn"),
        ("Thủ Thiêm".encode(), "utf-8", "Thủ Thiêm"),
    ],
)
def test_from_latin1_repairs_text_read_as_latin1(raw: bytes, encoding: str, text: str) -> None:
    assert from_latin1(raw.decode("latin-1"), encoding) == text


@pytest.mark.parametrize("value", [None, math.nan, 5, 2.5])
def test_from_latin1_passes_missing_and_non_text_values(value: object) -> None:
    assert from_latin1(value, "tcvn3") is value


def test_from_latin1_rejects_text_that_was_not_read_as_latin1() -> None:
    with pytest.raises(GISInputError, match=r"got 'ệ' \(U\+1EC7\) at position 2"):
        from_latin1("Việt", "tcvn3")


# --- score ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        *REALISTIC,
        *MORE_NAMES,
        "UBND Phường, ODT, CLN",
        "TĐC",
        "Nguyen Van A",
        "hoà hòa thuỷ thủy khoẻ quý già gìn giữ ngoài khuya khuỷu yêu rượu muối khuếch xoong",
        "",
        "12/3",
    ],
)
def test_score_accepts_vietnamese(text: str) -> None:
    assert score(text) == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "B¸t X¸t",  # TCVN3 bytes read as Windows-1252
        "ViÖt Ngäc",  # TCVN3 bytes read as Windows-1258
        "Nguyeãn Vaên",  # VNI bytes read as Windows-1258
        "Ñaát",
        "Th\ufffdi",
        "Th\x01i",
        "mơí",  # tone on the wrong vowel
        "bớch",  # -ch after ơ
        "tiê",  # iê needs a final
        "thầ",  # â needs a final
        "thơng",  # no -ng after ơ
        "thừt",  # stop final with the grave tone
        "trường\u00b9",
    ],
)
def test_score_rejects_mis_decoded_words(text: str) -> None:
    assert score(text) == 0.0


def test_score_is_a_fraction_of_words() -> None:
    assert score("Nguyễn ViÖt") == 0.5
    assert score("Phường 12, Quận ¸") == pytest.approx(2 / 3)


# --- detect -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "cp1258", "utf-8"])
@pytest.mark.parametrize("case", ["as written", "uppercase"])
def test_detect_realistic_samples(encoding: str, case: str) -> None:
    texts = REALISTIC if case == "as written" else [t.upper() for t in REALISTIC]
    found = detect([encode(t, encoding) for t in texts])
    assert found.encoding == encoding
    assert found.confidence >= (1.0 if encoding == "utf-8" else 0.5)
    if encoding != "utf-8":
        assert set(found.scores) == {"tcvn3", "vni", "cp1258"}
        assert found.scores[encoding] == 1.0


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "cp1258"])
def test_detect_larger_column_with_ascii_and_missing_values(encoding: str) -> None:
    samples: list[Any] = [encode(t, encoding) for t in REALISTIC + MORE_NAMES]
    samples += [b"ODT", b"", None, b"UBND"]
    found = detect(samples)
    assert found.encoding == encoding
    assert found.confidence > 0.5


def test_detect_known_legacy_bytes() -> None:
    assert detect([b"Vi\xd6t Nam", b"Th\xd7nh"]).encoding == "tcvn3"
    assert detect([b"Vie\xe4t Nam", b"Nguye\xe3n"]).encoding == "vni"


@pytest.mark.parametrize("samples", [[b"Nguyen Van A", b"ODT", b""], []])
def test_detect_ascii_is_utf8(samples: list[bytes]) -> None:
    found = detect(samples)
    assert found.encoding == "utf-8"
    assert found.confidence == 1.0


def test_detect_ties_prefer_tcvn3_then_vni() -> None:
    # "Lê Văn Tám" in Windows-1258 also reads as plausible TCVN3 ("Lờ Vón Tỏm"): a tie.
    tie = detect([encode("Lê Văn Tám", "cp1258")])
    assert tie.scores["tcvn3"] == tie.scores["cp1258"] == 1.0
    assert (tie.encoding, tie.confidence) == ("tcvn3", 0.0)
    # "25°C" is the same in VNI and Windows-1258; 0xB0 is not a TCVN3 (VN3) character.
    tie = detect([b"25\xb0C"])
    assert tie.scores["vni"] == tie.scores["cp1258"] == 1.0
    assert tie.encoding == "vni"
