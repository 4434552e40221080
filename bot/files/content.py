"""What a received file is, decided by its bytes and never by its name.

Radiology can open four kinds of completed form: PDF, Word (.docx), and a
photo or scan as PNG or JPEG. The signature check is `filetype` (magic
numbers at the start of the file); a .docx is a zip, so it is then opened
with the standard `zipfile` and must hold the Word parts
(`[Content_Types].xml`, `word/document.xml`) with the plain document's
content type: a macro-enabled .docm (or a template) is refused, as is a zip
carrying a VBA project. Nothing is extracted or executed, and only
`[Content_Types].xml` is read (capped, with no DTD allowed), so a zip bomb
or an XML entity bomb cannot cost more than that.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree

import filetype

#: The extension each accepted kind is named with (one per kind below).
Extension = Literal["pdf", "docx", "png", "jpg"]


@dataclass(frozen=True, slots=True)
class FileKind:
    """An accepted kind of form: its media type, the extension we name it with, and a label."""

    media_type: str
    extension: Extension
    label: str


PDF = FileKind("application/pdf", "pdf", "PDF")
DOCX = FileKind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "Word"
)
PNG = FileKind("image/png", "png", "PNG image")
JPEG = FileKind("image/jpeg", "jpg", "JPEG image")
ACCEPTED: tuple[FileKind, ...] = (PDF, DOCX, PNG, JPEG)
#: Looked up by any text (a held file's, a stored payload's): unknown ones are not there.
BY_EXTENSION: Mapping[str, FileKind] = {kind.extension: kind for kind in ACCEPTED}

#: What users are told is accepted, in their words.
ACCEPTED_TEXT = "a PDF, a Word document (.docx), or a photo or scan as PNG or JPEG"

_BY_MIME = {PDF.media_type: PDF, PNG.media_type: PNG, JPEG.media_type: JPEG}
_ZIP_FAMILY = frozenset(
    {
        "application/zip",
        DOCX.media_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
_WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_CONTENT_TYPES = "[Content_Types].xml"
_DOCUMENT = "word/document.xml"
_CONTENT_TYPES_MAX = 256 * 1024
_OPC = "{http://schemas.openxmlformats.org/package/2006/content-types}"


def megabytes(size: int) -> str:
    """A size as users read it: "2.4 MB", "310 KB"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def identify(data: bytes) -> FileKind | None:
    """The kind of form these bytes are, or None when they are none of the accepted kinds."""
    guessed = filetype.guess_mime(data[:8192])
    if guessed in _BY_MIME:
        return _BY_MIME[guessed]
    if guessed in _ZIP_FAMILY and is_word_document(data):
        return DOCX
    return None


def is_word_document(data: bytes) -> bool:
    """A zip whose main part is a plain Word document: not .docm, not a template, no macros."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = {info.filename for info in archive.infolist()}
            if _CONTENT_TYPES not in names or _DOCUMENT not in names:
                return False
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                return False
            info = archive.getinfo(_CONTENT_TYPES)
            if info.file_size > _CONTENT_TYPES_MAX:
                return False
            with archive.open(info) as part:
                content_types = part.read(_CONTENT_TYPES_MAX + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError):
        # RuntimeError: an encrypted member; ValueError/OSError: a damaged archive.
        return False
    return _main_part_type(content_types) == _WORD_MAIN


def _main_part_type(content_types: bytes) -> str | None:
    """The content type `[Content_Types].xml` gives `/word/document.xml`.

    A real package never has a DTD; refusing one means the parser never
    expands an entity (no "billion laughs"), whatever the XML library does.
    """
    if len(content_types) > _CONTENT_TYPES_MAX or b"<!" in content_types.replace(b"<!--", b""):
        return None
    try:
        root = ElementTree.fromstring(content_types)
    except ElementTree.ParseError:
        return None
    for override in root.iter(f"{_OPC}Override"):
        if override.get("PartName", "").lower() == "/word/document.xml":
            return override.get("ContentType")
    return None
