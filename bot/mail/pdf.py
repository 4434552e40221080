"""The printable copy of a request, attached to the email as `<reference>.pdf`.

Radiology admin print and file downtime requests, and some re-key from paper, so
the PDF carries exactly the labelled sections of the email. Patient names are
often not ASCII ("Zoë O'Brien", "Łukasz"), so a Unicode TrueType font is used
when one can be found; fpdf2 itself ships no TTF fonts, only the Latin-1 core
fonts, so the last resort is a transliteration that keeps the letters readable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import cast

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from bot.orders.document import RequestDocument

FONT_FAMILY = "DejaVuSans"

# Where DejaVu Sans lives: Debian/Ubuntu (fonts-dejavu-core, on the project's
# machine image), Fedora/RHEL, Alpine/Arch. Checked in order.
FONT_DIRECTORIES: tuple[Path, ...] = (
    # Shipped with the bot (Bitstream Vera / DejaVu licence), so a fresh machine
    # without fonts-dejavu-core still writes names like "Łukasz" correctly.
    Path(__file__).parent / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)

# Letters that NFKD does not decompose into an ASCII base letter.
_TRANSLITERATIONS = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "•": "*",
    "€": "EUR",
}


@dataclass(frozen=True, slots=True)
class UnicodeFont:
    regular: Path
    bold: Path


def find_unicode_font(directories: Iterable[Path] = FONT_DIRECTORIES) -> UnicodeFont | None:
    """The first directory holding both DejaVu Sans faces, or None."""
    for directory in directories:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return UnicodeFont(regular=regular, bold=bold)
    return None


def transliterate_latin1(text: str) -> str:
    """Make text printable with a Latin-1 core font without losing it.

    Latin-1 letters (ë, é, ß) are kept; others fall back to their base letter
    (Ł -> L, ś -> s) so a name stays recognisable; anything else becomes '?'.
    """
    out: list[str] = []
    for char in text:
        if char in "\n\t" or (ord(char) < 256 and char.isprintable()):
            out.append(char)
        elif char in _TRANSLITERATIONS:
            out.append(_TRANSLITERATIONS[char])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


class _RequestPdf(FPDF):
    """Page footer with the reference, so a loose printed page can be matched up."""

    def __init__(self, reference: str, family: str) -> None:
        super().__init__(format="A4")
        self._reference = reference
        self._family = family

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self._family, size=8)
        self.cell(0, 6, f"{self._reference}  |  page {self.page_no()}/{{nb}}", align="C")


def render_pdf(doc: RequestDocument, *, font: UnicodeFont | None = None) -> bytes:
    """Build the printable request; `font` overrides the font search (tests, packaging).

    Text that Latin-1 can hold (most requests) is set in the PDF core font
    Helvetica, which needs no font file: loading and subsetting DejaVu is
    about 0.2 s of CPU a request. DejaVu is used only when some text needs it
    ("Łukasz"), so every name is still printed exactly.
    """
    if font is None and _latin1_only(doc):
        return _render(doc, None, str)
    font = font or find_unicode_font()
    return _render(doc, font, str if font else transliterate_latin1)


def _latin1_only(doc: RequestDocument) -> bool:
    texts = [
        doc.reference,
        doc.trust_name,
        doc.trust_short,
        doc.department,
        doc.priority,
        doc.mailbox,
        doc.practice_name,
        doc.practice_ods,
        doc.practice_email,
    ]
    texts += [s.title for s in doc.sections]
    texts += [t for s in doc.sections for f in s.fields for t in (f.label, f.value)]
    try:
        for value in texts:
            value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _render(doc: RequestDocument, font: UnicodeFont | None, text: Callable[[str], str]) -> bytes:
    family = FONT_FAMILY if font else "helvetica"
    pdf = _RequestPdf(doc.reference, family)
    if font:
        pdf.add_font(FONT_FAMILY, "", str(font.regular))
        pdf.add_font(FONT_FAMILY, "B", str(font.bold))
    _set_metadata(pdf, doc)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    _heading(pdf, doc, family, text)
    for section in doc.sections:
        rows = [(text(f.label), text(f.value)) for f in section.fields]
        _section(pdf, family, text(section.title), rows)
    return bytes(pdf.output())


def _set_metadata(pdf: FPDF, doc: RequestDocument) -> None:
    # Metadata is visible in file properties and indexes: no patient data in it.
    pdf.set_title(f"ICE downtime radiology request {doc.reference}")
    pdf.set_author(doc.practice_ods)
    pdf.set_creator("ICE Downtime Assistant")
    created = doc.created_at if doc.created_at.tzinfo else doc.created_at.replace(tzinfo=UTC)
    pdf.set_creation_date(created)


def _heading(pdf: FPDF, doc: RequestDocument, family: str, text: Callable[[str], str]) -> None:
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, "ICE downtime radiology request", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    rows = [
        ("Reference", doc.reference),
        ("Trust", f"{doc.trust_name} ({doc.trust_short})"),
        ("Department", doc.department),
        ("Priority", doc.priority),
        ("Sent to", doc.mailbox),
        ("Practice", f"{doc.practice_name} ({doc.practice_ods})"),
        ("Reply to", doc.practice_email),
    ]
    _section(pdf, family, "Request", [(label, text(value)) for label, value in rows])


def _section(pdf: FPDF, family: str, title: str, rows: list[tuple[str, str]]) -> None:
    pdf.ln(3)
    pdf.set_font(family, "B", 11)
    pdf.multi_cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, size=10)
    with pdf.table(
        col_widths=(55, _VALUE_WIDTH), first_row_as_headings=False, line_height=_LINE_HEIGHT
    ) as table:
        for label, value in rows:
            for piece_label, piece in _pieces(pdf, label, value or "-"):
                row = table.row()
                row.cell(piece_label)
                row.cell(piece)


_VALUE_WIDTH = 125
_LINE_HEIGHT = 5.5
#: Printed lines of one value per table row. fpdf2 refuses a row taller than a page, so
#: a long value (a clinical history of many short lines) continues in the rows below.
_ROW_LINES = 30


def _pieces(pdf: FPDF, label: str, value: str) -> list[tuple[str, str]]:
    """`(label, value)` as rows that each fit on a page; the label on the first only.

    Lines are measured a little narrower than the cell, so the cell itself
    never wraps them into more lines than counted.
    """
    # multi_cell's declared return is the union of every output flag's; LINES alone gives
    # the list of printed lines.
    lines = cast(
        "list[str]",
        pdf.multi_cell(
            _VALUE_WIDTH - 6, _LINE_HEIGHT, value, dry_run=True, output=MethodReturnValue.LINES
        ),
    )
    if len(lines) <= _ROW_LINES:
        return [(label, value)]
    return [
        (label if start == 0 else "", "\n".join(lines[start : start + _ROW_LINES]))
        for start in range(0, len(lines), _ROW_LINES)
    ]
