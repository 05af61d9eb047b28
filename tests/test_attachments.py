"""Documents attached to records: content sniffing, safe names, size limits, hostile uploads."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import unicodedata
import zlib
from collections.abc import Callable

import pytest
from PIL import Image  # Pillow is a dependency of streamlit, pinned in requirements.txt

from geo.attachments import (
    ALLOWED,
    DEFAULT_MAX_BYTES,
    CheckedFile,
    check_file,
    human_size,
    safe_filename,
    sniff,
)
from geo.errors import GISInputError, UploadError

MB = 1024 * 1024


# --- tiny real files -------------------------------------------------------------------------


def make_pdf(catalog_extra: bytes = b"", *extra_objects: bytes) -> bytes:
    """A minimal valid one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        *extra_objects,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A real RGB PNG built with zlib and struct."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _pillow(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def make_jpeg() -> bytes:
    return _pillow("JPEG")


def make_webp() -> bytes:
    return _pillow("WEBP")


PDF = make_pdf()
PNG = make_png()
JPEG = make_jpeg()
WEBP = make_webp()
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
WEBP_HEADER = b"RIFF\x24\x00\x00\x00WEBPVP8 "
HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 20
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 40
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 40
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,"


def pad_pdf(size: int) -> bytes:
    """A valid PDF followed by a comment line, exactly ``size`` bytes long."""
    if size == len(PDF):
        return PDF
    filler = size - len(PDF) - 1
    assert filler >= 0
    return PDF + b"%" + b"x" * filler


# --- the table and the fixtures --------------------------------------------------------------


def test_allowed_kinds_mimes_and_extensions() -> None:
    assert ALLOWED == {
        "pdf": ("application/pdf", (".pdf",)),
        "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
        "png": ("image/png", (".png",)),
        "webp": ("image/webp", (".webp",)),
    }
    assert DEFAULT_MAX_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize(("data", "fmt"), [(PNG, "PNG"), (JPEG, "JPEG"), (WEBP, "WEBP")])
def test_fixture_images_are_real(data: bytes, fmt: str) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt
        image.load()
        assert image.size in {(2, 2), (4, 4)}


def test_fixture_pdf_has_a_consistent_xref() -> None:
    startxref = int(PDF.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert PDF[startxref:].startswith(b"xref\n0 4\n")
    second_entry = PDF[startxref:].split(b"\n")[3]
    offset = int(second_entry[:10])
    assert PDF[offset:].startswith(b"1 0 obj\n<< /Type /Catalog")


# --- sniff -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, "pdf"),
        (b"%PDF-1.4\n", "pdf"),
        (JPEG, "jpeg"),
        (JPEG_HEADER, "jpeg"),
        (PNG, "png"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (WEBP, "webp"),
        (WEBP_HEADER, "webp"),
    ],
)
def test_sniff_recognises_magic_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF",
        b" %PDF-1.7\n",  # strict: no leading whitespace
        b"\xef\xbb\xbf%PDF-1.7\n",  # strict: no byte-order mark
        b"junk%PDF-1.7\n",
        b"\xff\xd8",
        b"\x89PNG\r\n\x1a",  # truncated signature
        b"\x89PNG\n\r\x1a\n",  # line endings mangled by a text-mode transfer
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"RIFF\x24\x00\x00\x00WEB",
        b"WEBP",
        HTML,
        ZIP,
        EXE,
        ELF,
        GIF,
    ],
)
def test_sniff_returns_none_for_other_content(data: bytes) -> None:
    assert sniff(data) is None


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_sniff_accepts_bytes_like(wrap: Callable[[bytes], object]) -> None:
    assert sniff(wrap(PNG)) == "png"  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "type_name"), [("%PDF-1.7", "str"), (None, "NoneType")])
def test_sniff_refuses_non_bytes(value: object, type_name: str) -> None:
    with pytest.raises(UploadError, match=rf"^data: expected .*bytes, got {type_name}"):
        sniff(value)  # type: ignore[arg-type]


# --- safe_filename ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Windows\\x.pdf", "x.pdf"),
        ("..\\..\\a.png", "a.png"),
        ("/var/www/uploads/../scan.jpg", "scan.jpg"),
        ("C:x.pdf", "x.pdf"),
        ("\\\\server\\share\\bien-ban.pdf", "bien-ban.pdf"),
        ("a\x00b.pdf", "ab.pdf"),
        ("evil.php\x00.pdf", "evil.php.pdf"),
        ("Biên bản\nsố 3.pdf", "Biên bản số 3.pdf"),
        ("a\r\n\tb.pdf", "a b.pdf"),
        ("a\x1b[31mb.pdf", "a[31mb.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override dropped
        ("zero\u200bwidth.png", "zerowidth.png"),
        ('a<b>c:d"e|f?g*h.pdf', "abcdefgh.pdf"),
        ("  many   spaces  .pdf", "many spaces.pdf"),
        ("x.pdf.", "x.pdf"),
        ("x.pdf . . ", "x.pdf"),
        (".htaccess", "tep-dinh-kem.htaccess"),
        ("...x.pdf", "x.pdf"),
        (".pdf", "tep-dinh-kem.pdf"),
        ("..", "tep-dinh-kem"),
        ("", "tep-dinh-kem"),
        ("../", "tep-dinh-kem"),
        ("???", "tep-dinh-kem"),
        ("\x00\n", "tep-dinh-kem"),
        ("SCAN.PDF", "SCAN.pdf"),
        ("Ảnh hiện trạng.JPEG", "Ảnh hiện trạng.jpeg"),
        ("CON.pdf", "_CON.pdf"),
        ("nul", "_nul"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("Quyết định số 12.2024", "Quyết định số 12.2024"),
        ("Báo cáo.Phường", "Báo cáo.Phường"),
        ("Quyết định thu hồi.pdf", "Quyết định thu hồi.pdf"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


def test_safe_filename_normalises_vietnamese_to_nfc() -> None:
    nfc = "Quyết định thu hồi.pdf"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    result = safe_filename(nfd)
    assert result == nfc
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    ("raw", "prefix", "ext"),
    [
        ("x" * 300 + ".pdf", "x" * 116, ".pdf"),
        ("y" * 300 + ".JPEG", "y" * 115, ".jpeg"),
        ("z" * 300, "z" * 120, ""),
        ("Quyết định " * 30 + ".pdf", "Quyết định Quyết", ".pdf"),
        ("x" * 300 + ".tar.gz", "x" * 117, ".gz"),
        ("A" * 118 + ".B" + "C" * 100, "A" * 118, ""),  # the cut makes no ".B" extension
    ],
)
def test_safe_filename_limits_long_names_keeping_the_extension(
    raw: str, prefix: str, ext: str
) -> None:
    result = safe_filename(raw)
    assert len(result) <= 120
    assert result.startswith(prefix)
    assert result.endswith(ext)
    assert result[: len(result) - len(ext)] == result[: len(result) - len(ext)].rstrip(" .")


def test_safe_filename_limits_utf8_bytes_for_file_systems() -> None:
    result = safe_filename("ế" * 300 + ".pdf")  # 3 bytes each in UTF-8
    assert result.endswith(".pdf")
    assert len(result.encode("utf-8")) <= 255
    assert result == "ế" * 83 + ".pdf"


def test_safe_filename_does_not_split_combining_marks() -> None:
    # "q" with an acute accent has no precomposed form, so NFC keeps two code points.
    # The leading "a" makes the 116-character cut fall between a "q" and its accent.
    result = safe_filename("a" + "q\u0301" * 100 + ".pdf")
    stem = result.removesuffix(".pdf")
    assert len(result) <= 120
    assert stem.endswith("q\u0301")
    assert stem == "a" + "q\u0301" * (len(stem) // 2)


@pytest.mark.parametrize(
    "raw",
    [
        "  . hidden .pdf . ",
        "A" * 118 + ".B" + "C" * 100,
        "A" * 117 + " .B" + "C" * 100,
        "ế" * 300 + ".PDF",
        "../..\\C:CON.Pdf",
        "x" * 300,
        "",
    ],
)
def test_safe_filename_is_idempotent(raw: str) -> None:
    once = safe_filename(raw)
    assert safe_filename(once) == once


@pytest.mark.parametrize("value", [None, b"x.pdf", 12])
def test_safe_filename_refuses_non_str(value: object) -> None:
    with pytest.raises(GISInputError, match=r"^name: expected a file name as str, got "):
        safe_filename(value)  # type: ignore[arg-type]


# --- check_file: accepted files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "stored", "mime"),
    [
        (PDF, "Quyết định thu hồi.pdf", "Quyết định thu hồi.pdf", "application/pdf"),
        (PDF, "SCAN.PDF", "SCAN.pdf", "application/pdf"),
        (PNG, "ban-do.PNG", "ban-do.png", "image/png"),
        (JPEG, "anh.jpg", "anh.jpg", "image/jpeg"),
        (JPEG, "anh.jpeg", "anh.jpeg", "image/jpeg"),
        (WEBP, "anh.webp", "anh.webp", "image/webp"),
        (PDF, "../../etc/passwd.pdf", "passwd.pdf", "application/pdf"),
        (PDF, "C:\\Windows\\x.pdf", "x.pdf", "application/pdf"),
        (PNG, "..\\..\\a.png", "a.png", "image/png"),
    ],
)
def test_check_file_accepts(data: bytes, filename: str, stored: str, mime: str) -> None:
    checked = check_file(data, filename)
    assert checked == CheckedFile(
        filename=stored, mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def test_check_file_sha256_is_the_hex_digest_of_the_content() -> None:
    checked = check_file(PDF, "a.pdf")
    assert checked.sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(checked.sha256) == 64
    assert checked.sha256 != check_file(PNG, "a.png").sha256


def test_check_file_copies_bytes_like_content() -> None:
    checked = check_file(bytearray(PNG), "a.png")  # type: ignore[arg-type]
    assert checked.size == len(PNG)
    assert checked.sha256 == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize(
    ("data", "filename", "stored"),
    [
        (PDF, "scan", "scan.pdf"),
        (JPEG, "anh", "anh.jpg"),
        (WEBP, "anh hiện trạng", "anh hiện trạng.webp"),
        (PNG, "", "tep-dinh-kem.png"),
        (PDF, "../", "tep-dinh-kem.pdf"),
        (PDF, "Quyết định số 12.2024", "Quyết định số 12.2024.pdf"),
        (PDF, "x" * 300, "x" * 116 + ".pdf"),
        (PDF, "x" * 115 + " " + "y" * 100, "x" * 115 + ".pdf"),  # no "x .pdf"
        (PDF, "x" * 115 + "." + "y" * 100, "x" * 115 + ".pdf"),  # no "x..pdf"
    ],
)
def test_check_file_appends_the_extension_of_the_content(
    data: bytes, filename: str, stored: str
) -> None:
    checked = check_file(data, filename)
    assert checked.filename == stored
    assert len(checked.filename) <= 120


def test_check_file_result_is_frozen() -> None:
    checked = check_file(PDF, "a.pdf")
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.filename = "../../etc/passwd"  # type: ignore[misc]


def test_check_file_accepts_a_pdf_that_only_mentions_lowercase_names() -> None:
    # PDF names are case-sensitive: "/javascript" is not the JavaScript action.
    data = make_pdf(b"", b"<< /Title (see /javascript and /launch docs) >>")
    assert check_file(data, "a.pdf").mime == "application/pdf"


# --- check_file: size ------------------------------------------------------------------------


@pytest.mark.parametrize("max_bytes", [len(PDF), len(PDF) + 1, 1024])
def test_check_file_size_boundary_passes_at_max_bytes(max_bytes: int) -> None:
    data = pad_pdf(max_bytes)
    assert len(data) == max_bytes
    assert check_file(data, "a.pdf", max_bytes=max_bytes).size == max_bytes
    with pytest.raises(UploadError, match="too large"):
        check_file(pad_pdf(max_bytes + 1), "a.pdf", max_bytes=max_bytes)


@pytest.mark.parametrize(
    ("size", "max_bytes", "expected"),
    [
        (25 * 1024, 20 * 1024, "expected at most 20.0 KB, got 25.0 KB"),
        (3 * MB, 2 * MB, "expected at most 2.0 MB, got 3.0 MB"),
        (513, 512, "expected at most 512 B, got 513 B"),
        (
            20 * MB + 1,
            DEFAULT_MAX_BYTES,
            "expected at most 20.0 MB (20,971,520 bytes), got 20.0 MB (20,971,521 bytes)",
        ),
    ],
)
def test_check_file_refuses_too_large(size: int, max_bytes: int, expected: str) -> None:
    data = pad_pdf(size)
    with pytest.raises(UploadError) as info:
        if max_bytes == DEFAULT_MAX_BYTES:
            check_file(data, "scan.pdf")
        else:
            check_file(data, "scan.pdf", max_bytes=max_bytes)
    assert str(info.value) == f"data: 'scan.pdf' is too large: {expected}"


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, "20", True, None])
def test_check_file_refuses_bad_max_bytes(max_bytes: object) -> None:
    with pytest.raises(GISInputError) as info:
        check_file(PDF, "a.pdf", max_bytes=max_bytes)  # type: ignore[arg-type]
    assert type(info.value) is GISInputError
    assert str(info.value) == f"max_bytes: expected a positive integer, got {max_bytes!r}"


# --- check_file: refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "fragments"),
    [
        ("%PDF-1.7", "a.pdf", ["data: expected the file's content as bytes, got str", "text"]),
        (None, "a.pdf", ["data: expected the file's content as bytes, got NoneType"]),
        (PDF, None, ["filename: expected the file's name as str, got NoneType"]),
        (PDF, b"a.pdf", ["filename: expected the file's name as str, got bytes"]),
        (b"", "a.pdf", ["data: expected the content of 'a.pdf', got 0 bytes (an empty file)"]),
        (
            GIF,
            "scan",
            [
                "data: 'scan' has an unsupported type: expected PDF (.pdf), JPEG image "
                "(.jpg, .jpeg), PNG image (.png) or WebP image (.webp), got a GIF image"
            ],
        ),
        (GIF, "anh.gif", ["data: 'anh.gif' has an unsupported type", "got a GIF image"]),
        (EXE, "setup.exe", ["data: 'setup.exe' has an unsupported type", "Windows executable"]),
        (
            HTML,
            "x.pdf",
            ["filename: 'x.pdf' is not a PDF: its content looks like HTML", "expected PDF (.pdf)"],
        ),
        (b"  \r\n<script>alert(1)</script>", "x.pdf", ["is not a PDF", "looks like HTML"]),
        (b"\xef\xbb\xbf<svg onload=alert(1)>", "x.png", ["is not a PNG image", "HTML"]),
        (ZIP, "x.pdf", ["filename: 'x.pdf' is not a PDF", "ZIP archive", "Office document"]),
        (EXE, "x.pdf", ["filename: 'x.pdf' is not a PDF", "a Windows executable"]),
        (ELF, "x.png", ["filename: 'x.png' is not a PNG image", "Linux executable (ELF)"]),
        (b"#!/bin/sh\nrm -rf /\n", "x.jpg", ["is not a JPEG image", "a script (#!)"]),
        (
            "Quyết định số 12\nNgày 1/1/2025\n".encode(),
            "x.pdf",
            ["filename: 'x.pdf' is not a PDF: its content looks like plain text"],
        ),
        (b"\x00\x01\x02\x03\xfe\xfd", "x.webp", ["is not a WebP image", "unrecognised binary"]),
        (
            PDF,
            "x.jpg",
            [
                "filename: 'x.jpg' is not a JPEG image: its content looks like a PDF; "
                "expected a name ending in .pdf"
            ],
        ),
        (PNG, "x.pdf", ["'x.pdf' is not a PDF: its content looks like a PNG image", ".png"]),
        (JPEG, "x.webp", ["is not a WebP image", "looks like a JPEG image", ".jpg or .jpeg"]),
        (WEBP, "x.png", ["is not a PNG image", "looks like a WebP image", ".webp"]),
        (
            PDF,
            "x.exe",
            [
                "filename: 'x.exe' has the extension .exe but its content is a PDF: "
                "expected a name ending in .pdf"
            ],
        ),
        (JPEG, "x.html", ["has the extension .html", "a JPEG image", ".jpg or .jpeg"]),
        (PDF, "Báo cáo.docx", ["has the extension .docx", "a PDF"]),
    ],
)
def test_check_file_refuses(data: object, filename: object, fragments: list[str]) -> None:
    with pytest.raises(UploadError) as info:
        check_file(data, filename)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("pdf", "names"),
    [
        (
            make_pdf(b" /OpenAction 4 0 R", b"<< /S /JavaScript /JS (app.alert(1)) >>"),
            "/JavaScript",
        ),
        (make_pdf(b" /OpenAction 4 0 R", b"<< /S /Launch /F (cmd.exe) >>"), "/Launch"),
        (
            make_pdf(b" /Names << /EmbeddedFiles 4 0 R >>", b"<< /Type /EmbeddedFile >>"),
            "/EmbeddedFile",
        ),
        (  # the same name written with #xx escapes
            make_pdf(b" /OpenAction 4 0 R", b"<< /S /J#61vaScr#69pt /JS (x) >>"),
            "/JavaScript",
        ),
        (make_pdf(b" /OpenAction 4 0 R", b"<< /S /#4Cau#6Ech >>"), "/Launch"),
        (
            make_pdf(b" /OpenAction 4 0 R", b"<< /S /Launch /Next << /S /JavaScript >> >>"),
            "/JavaScript, /Launch",
        ),
    ],
)
def test_check_file_refuses_pdf_with_active_content(pdf: bytes, names: str) -> None:
    assert sniff(pdf) == "pdf"
    with pytest.raises(UploadError) as info:
        check_file(pdf, "quyet-dinh.pdf")
    message = str(info.value)
    assert message.startswith(f"data: 'quyet-dinh.pdf' contains active content ({names}):")
    assert "expected a PDF without scripts, launch actions or embedded files" in message


def test_check_file_messages_escape_hostile_names() -> None:
    with pytest.raises(UploadError) as info:
        check_file(HTML, "a\nb\x00.pdf")
    message = str(info.value)
    assert "'a\\nb\\x00.pdf'" in message
    assert "\n" not in message
    assert "\x00" not in message


def test_check_file_messages_shorten_long_names() -> None:
    with pytest.raises(UploadError) as info:
        check_file(HTML, "x" * 300 + ".pdf")
    message = str(info.value)
    assert "'" + "x" * 77 + "...'" in message
    assert "x" * 78 not in message


def test_upload_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="empty file"):
        check_file(b"", "a.pdf")


# --- human_size ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (20 * 1024, "20.0 KB"),
        (1536, "1.5 KB"),
        (MB - 1, "1.0 MB"),  # not "1024.0 KB"
        (int(3.4 * MB), "3.4 MB"),
        (20 * MB, "20.0 MB"),
        (5 * 1024**3, "5.0 GB"),
        (2 * 1024**4, "2.0 TB"),
        (5 * 1024**5, "5,120.0 TB"),
    ],
)
def test_human_size(n: int, expected: str) -> None:
    assert human_size(n) == expected


@pytest.mark.parametrize("n", [-1, 1.5, "1", True, None])
def test_human_size_refuses_non_sizes(n: object) -> None:
    with pytest.raises(GISInputError, match=r"^n: expected a non-negative integer"):
        human_size(n)  # type: ignore[arg-type]
