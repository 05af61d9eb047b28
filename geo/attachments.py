"""Documents attached to records (PDF, images): type sniffed, size limited, names made safe."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from dataclasses import dataclass

from geo.errors import GISInputError, UploadError

# kind -> (MIME type, allowed extensions, the first one is appended to names without one).
ALLOWED: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "png": ("image/png", (".png",)),
    "webp": ("image/webp", (".webp",)),
}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# A stored name is at most this many characters (extension included) and, so that it fits
# every common file system (ext4, NTFS, APFS), at most this many bytes in UTF-8.
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 255
FALLBACK_STEM = "tep-dinh-kem"

# PDF names that make a viewer run code, start programs or carry other files.
ACTIVE_PDF_NAMES = (b"/JavaScript", b"/Launch", b"/EmbeddedFile")

# Every label reads after "a": "a PDF", "a JPEG image".
_LABELS = {"pdf": "PDF", "jpeg": "JPEG image", "png": "PNG image", "webp": "WebP image"}
_WINDOWS_ILLEGAL = frozenset('<>:"/\\|?*')
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
_DRIVE = re.compile(r"^[A-Za-z]:")
# An extension: 1-10 ASCII letters or digits, at least one letter (".2024" is not one).
_EXTENSION = re.compile(r"(?=[0-9]*[A-Za-z])[A-Za-z0-9]{1,10}")


def _pdf_name_pattern(name: bytes) -> re.Pattern[bytes]:
    """Match a PDF name also when any of its characters is a ``#xx`` escape (PDF 1.7, 7.3.5).

    ``/J#61vaScript`` is ``/JavaScript``; a single regular expression keeps the search linear
    in the size of the file, however many escapes a hostile file holds.
    """
    parts = [b"/"]
    for byte in name[1:]:
        hex_digits = "".join(f"[{d.upper()}{d}]" if d.isalpha() else d for d in f"{byte:02x}")
        parts.append(b"(?:" + re.escape(bytes([byte])) + b"|#" + hex_digits.encode() + b")")
    return re.compile(b"".join(parts))


_ACTIVE_PDF_PATTERNS = tuple((name, _pdf_name_pattern(name)) for name in ACTIVE_PDF_NAMES)


@dataclass(frozen=True)
class CheckedFile:
    """An uploaded document that passed :func:`check_file`.

    Attributes
    ----------
    filename
        The safe name to store it under (see :func:`safe_filename`), with the extension of
        its content.
    mime
        The MIME type of its content, from :data:`ALLOWED`.
    size
        Its size in bytes.
    sha256
        The SHA-256 digest of its content as lowercase hexadecimal.
    """

    filename: str
    mime: str
    size: int
    sha256: str


def sniff(data: bytes) -> str | None:
    """The kind of a document from its first bytes (its "magic number"), ignoring its name.

    Parameters
    ----------
    data
        The file's content (``bytes``, ``bytearray`` or ``memoryview``).

    Returns
    -------
    str or None
        A key of :data:`ALLOWED` (``"pdf"``, ``"jpeg"``, ``"png"``, ``"webp"``), or ``None``
        when the content is none of them.

    Raises
    ------
    UploadError
        If ``data`` is not bytes.
    """
    head = _as_bytes(data)[:16]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def safe_filename(name: str) -> str:
    """A file name that is safe to store on any file system and to offer for download.

    Keeps only the last part of a path (``/`` and ``\\`` both separate parts, drive letters
    are dropped), normalises to NFC, turns line breaks and other white space into single
    spaces, drops control and invisible formatting characters (e.g. right-to-left overrides)
    and the characters Windows forbids (``<>:"/\\|?*``), strips leading and trailing dots and
    spaces (no hidden files, no ``..``), makes Windows device names (``CON``, ``NUL``, ...)
    harmless, and lowercases the extension. Vietnamese letters are kept. The result has at
    most 120 characters and 255 UTF-8 bytes, the extension kept, and is never empty
    (``"tep-dinh-kem"`` stands in for a name with nothing left).

    Parameters
    ----------
    name
        The name as the browser sent it, possibly a full path from the uploader's computer.

    Returns
    -------
    str
        The safe name, e.g. ``"../../Quyết định.PDF"`` → ``"Quyết định.pdf"``.

    Raises
    ------
    GISInputError
        If ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise GISInputError(f"name: expected a file name as str, got {type(name).__name__}")
    text = unicodedata.normalize("NFC", name)
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _DRIVE.sub("", text)
    text = "".join(ch for ch in text if ch not in _WINDOWS_ILLEGAL)
    text = " ".join(text.split())
    stem, ext = _split_extension(text.rstrip(" ."))
    stem = stem.strip(" .")
    if stem.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    stem = _truncate(stem, MAX_NAME_CHARS - len(ext), MAX_NAME_BYTES - len(ext))
    return (stem or FALLBACK_STEM) + ext


def check_file(data: bytes, filename: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CheckedFile:
    """Check an uploaded document before it is attached to a record.

    The content decides the type, never the name: the file must be a PDF, JPEG, PNG or WebP
    by its first bytes, its name's extension must agree with that (a name without one gets
    it appended), and a PDF must not carry scripts, launch actions or embedded files.

    Parameters
    ----------
    data
        The file's content (``bytes``; ``bytearray`` and ``memoryview`` are copied).
    filename
        The name the browser sent; it is made safe with :func:`safe_filename`.
    max_bytes
        The largest size accepted, in bytes.

    Returns
    -------
    CheckedFile
        The safe name, MIME type, size and SHA-256 digest to store.

    Raises
    ------
    GISInputError
        If ``max_bytes`` is not a positive integer.
    UploadError
        If ``data`` is not bytes, is empty or too large, is not one of the kinds in
        :data:`ALLOWED`, disagrees with the extension of ``filename``, or is a PDF with
        active content.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise GISInputError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
    content = _as_bytes(data)
    if not isinstance(filename, str):
        msg = f"filename: expected the file's name as str, got {type(filename).__name__}"
        raise UploadError(msg)
    shown = _shown(filename)
    size = len(content)
    if size == 0:
        raise UploadError(f"data: expected the content of {shown}, got 0 bytes (an empty file)")
    if size > max_bytes:
        limit, got = human_size(max_bytes), human_size(size)
        if limit == got:
            limit, got = f"{limit} ({max_bytes:,} bytes)", f"{got} ({size:,} bytes)"
        raise UploadError(f"data: {shown} is too large: expected at most {limit}, got {got}")

    safe = safe_filename(filename)
    ext = _split_extension(safe)[1]
    kind = sniff(content)
    claimed = _kind_of_extension(ext)
    if kind is None:
        looks = _describe(content)
        if claimed is not None:
            label = _LABELS[claimed]
            msg = (
                f"filename: {shown} is not a {label}: its content looks like "
                f"{looks}; expected {_allowed_text()}"
            )
            raise UploadError(msg)
        msg = f"data: {shown} has an unsupported type: expected {_allowed_text()}, got {looks}"
        raise UploadError(msg)

    mime, extensions = ALLOWED[kind]
    label = _LABELS[kind]
    if not ext:
        new_ext = extensions[0]
        short = _truncate(safe, MAX_NAME_CHARS - len(new_ext), MAX_NAME_BYTES - len(new_ext))
        safe = (short or FALLBACK_STEM) + new_ext
    elif ext not in extensions:
        wanted = " or ".join(extensions)
        if claimed is not None:
            claimed_label = _LABELS[claimed]
            msg = (
                f"filename: {shown} is not a {claimed_label}: its content "
                f"looks like a {label}; expected a name ending in {wanted}"
            )
        else:
            msg = (
                f"filename: {shown} has the extension {ext} but its content is "
                f"a {label}: expected a name ending in {wanted}"
            )
        raise UploadError(msg)

    if kind == "pdf":
        found = _active_pdf_names(content)
        if found:
            msg = (
                f"data: {shown} contains active content ({', '.join(found)}): expected a PDF "
                "without scripts, launch actions or embedded files; print or scan it to a new "
                "PDF and upload that"
            )
            raise UploadError(msg)

    return CheckedFile(
        filename=safe, mime=mime, size=size, sha256=hashlib.sha256(content).hexdigest()
    )


def human_size(n: int) -> str:
    """A size in bytes for people: ``512`` → ``"512 B"``, ``20480`` → ``"20.0 KB"``.

    Units are powers of 1024 (KB, MB, GB, TB), with one decimal.

    Parameters
    ----------
    n
        A number of bytes, zero or more.

    Raises
    ------
    GISInputError
        If ``n`` is not a non-negative integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise GISInputError(f"n: expected a non-negative integer number of bytes, got {n!r}")
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    units = ("KB", "MB", "GB", "TB")
    for unit in units[:-1]:
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} {units[-1]}"


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    msg = f"data: expected the file's content as bytes, got {type(data).__name__}"
    if isinstance(data, str):
        msg += " (text, not the file's raw content)"
    raise UploadError(msg)


def _split_extension(name: str) -> tuple[str, str]:
    """Split ``name`` into stem and lowercased extension with its dot, or ``""`` if none."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not _EXTENSION.fullmatch(ext):
        return name, ""
    return stem, "." + ext.lower()


def _truncate(stem: str, max_chars: int, max_bytes: int) -> str:
    """Shorten ``stem`` to the limits without splitting a letter from its combining marks.

    A cut never leaves what looks like a new extension: ``"a.Bcccc..."`` becomes ``"a"``, not
    ``"a.B"``.
    """
    cut = min(len(stem), max_chars)
    while cut > 0 and (
        len(stem[:cut].encode("utf-8")) > max_bytes
        or (cut < len(stem) and unicodedata.combining(stem[cut]))
    ):
        cut -= 1
    if cut == len(stem):
        return stem
    short = stem[:cut].rstrip(" .")
    if not _split_extension(stem)[1] and _split_extension(short)[1]:
        short = short.rpartition(".")[0].rstrip(" .")
    return short


def _kind_of_extension(ext: str) -> str | None:
    for kind, (_mime, extensions) in ALLOWED.items():
        if ext in extensions:
            return kind
    return None


def _allowed_text() -> str:
    parts = [f"{_LABELS[kind]} ({', '.join(exts)})" for kind, (_mime, exts) in ALLOWED.items()]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _shown(filename: str) -> str:
    """The uploaded name for a message: quoted, escaped, and not overly long."""
    return repr(filename if len(filename) <= 80 else filename[:77] + "...")


def _describe(data: bytes) -> str:
    """What content that is none of the allowed kinds looks like, for an error message."""
    text_start = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    text_start = text_start.lstrip(b" \t\r\n\f\v")
    if text_start.startswith(b"<"):
        return "HTML (a web page, which can run scripts)"
    if text_start.startswith(b"#!"):
        return "a script (#!)"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a ZIP archive or an Office document (.docx, .xlsx)"
    if data.startswith(b"MZ"):
        return "a Windows executable (.exe, .dll)"
    if data.startswith(b"\x7fELF"):
        return "a Linux executable (ELF)"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:4096], final=False)
    except UnicodeDecodeError:
        return "unrecognised binary data"
    if text and all(ch.isprintable() or ch.isspace() for ch in text):
        return "plain text"
    return "unrecognised binary data"


def _active_pdf_names(data: bytes) -> list[str]:
    """The active-content names (``/JavaScript``, ...) found in a PDF's raw bytes.

    Names written with ``#xx`` escapes (``/J#61vaScript``) are found too. Names inside
    compressed object streams are not seen: this is a guard against the common attacks, not
    a PDF parser.
    """
    return [name.decode("ascii") for name, pattern in _ACTIVE_PDF_PATTERNS if pattern.search(data)]
