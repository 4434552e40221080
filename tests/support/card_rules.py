"""The design rules every card is held to, computed without a browser.

Contrast comes from the Teams host configs the gallery renders with
(`tools/cards/hostconfigs/`): each text's colour (its `color`, `isSubtle`, a
FactSet's title/value settings, a heading's text style, the link colour of the
Teams CSS for a markdown link or a TextRun with a `selectAction`) composited over
the background of the container style it sits in, in light and in dark.

Widths are measured with the DejaVu Sans fonts the repo already ships for the
PDF (`bot/mail/fonts/`), with Pillow. How much room there is was read from the
renderer (`tools/cards/render.mjs`, Chromium, Teams host config and CSS, card
360 px wide), by rendering rows of 1 to 4 buttons with over-long labels and
reading each button's width from the page:

- the card's content is 324 px wide at 360 px (2 px border and 16 px padding
  each side); a Container with a style and no `bleed` takes 16 px more each side;
- a button is its label plus 24 px (10 px padding and 2 px border each side),
  and buttons in a row are 8 px apart (host config `buttonSpacing`);
- a row keeps every button at its natural width while the row fits, and shrinks
  them all (cutting labels with "…") once it does not. So a row is safe when
  sum(label + 24) + 8 × (buttons − 1) ≤ 324: one button may use 300 px of
  label, two 134 px each, three 79 px each if equal.

Chromium draws buttons in Liberation Sans (Arial's metrics) and text in DejaVu
Sans; Teams draws both in Segoe UI, which is narrower than DejaVu Sans. Measuring
everything in DejaVu Sans is therefore the conservative choice: a label that
passes here fits in the gallery and in Teams.

Button colours are drawn by Teams, not by the card, and are not checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import ImageFont

ROOT = Path(__file__).resolve().parents[2]
HOSTCONFIGS = ROOT / "tools" / "cards" / "hostconfigs"
FONTS = ROOT / "bot" / "mail" / "fonts"
THEMES = ("light", "dark")

PHONE_WIDTH = 360
CARD_CHROME = 2 * 2 + 2 * 16  # border + padding, each side
CONTAINER_PADDING = 2 * 16
BUTTON_CHROME = 2 * 10 + 2 * 2  # padding + border, each side
BUTTON_GAP = 8
BUTTON_FONT_SIZE = 14
MAX_PER_ROW = 3
MIN_CONTRAST = 4.5
MIN_CONTRAST_LARGE = 3.0
FACT_TITLE_MAX = 150  # the renderer's default cap on a FactSet's title column
FACT_SPACING = 16  # host config factSet.spacing

# Strings a reader copies, types or dials: each must stay on one line.
_UNIT = re.compile(
    r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d[\d ]{7,}\d|\S{12,}",
)
_MD_LINK = re.compile(r"(?<!\\)\[((?:[^\]\\]|\\.)*)\]\(([^)]*)\)")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]()~>#|.+-])")
_BOLD = re.compile(r"\*\*(.+?)\*\*")

Rgb = tuple[float, float, float]
_FOR_WHAT = frozenset({"verb", "trust", "department", "modality", "reference", "form_id", "owner"})


@cache
def host_config(theme: str) -> dict[str, Any]:
    return json.loads((HOSTCONFIGS / f"microsoft-teams-{theme}.json").read_text("utf-8"))


@cache
def link_colour(theme: str) -> str:
    """The colour the Teams CSS gives a link (`a.ac-anchor:link`)."""
    css = (HOSTCONFIGS / f"teams-container-{theme}.css").read_text("utf-8")
    found = re.search(r"a\.ac-anchor:link\s*\{[^}]*?color:\s*(#[0-9A-Fa-f]{6})", css)
    assert found, "no link colour in the Teams CSS"
    return found.group(1)


def _rgba(colour: str) -> tuple[Rgb, float]:
    """'#RRGGBB' or the renderer's '#AARRGGBB'."""
    digits = colour.lstrip("#")
    alpha = 1.0
    if len(digits) == 8:
        alpha, digits = int(digits[:2], 16) / 255, digits[2:]
    rgb = tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (rgb[0], rgb[1], rgb[2]), alpha


def _over(colour: str, background: Rgb) -> Rgb:
    rgb, alpha = _rgba(colour)
    return (
        rgb[0] * alpha + background[0] * (1 - alpha),
        rgb[1] * alpha + background[1] * (1 - alpha),
        rgb[2] * alpha + background[2] * (1 - alpha),
    )


def _luminance(rgb: Rgb) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: Rgb, background: Rgb) -> float:
    """WCAG 2 contrast ratio."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@cache
def font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(FONTS / name), size)


def text_width(text: str, *, bold: bool = False, size: int = BUTTON_FONT_SIZE) -> float:
    return font(bold, size).getlength(text)


def font_size(theme: str, size: str | None) -> int:
    sizes = host_config(theme)["fontTypes"]["default"]["fontSizes"]
    return int(sizes[(size or "default").lower()])


@dataclass(frozen=True, slots=True)
class Text:
    """One run of text as the reader sees it, and where it sits."""

    text: str
    where: str
    styles: tuple[str, ...]  # container styles, outermost first ("default" at the root)
    color: str
    subtle: bool
    size: str
    bold: bool
    link: bool
    width: float  # room for one line at PHONE_WIDTH


@dataclass(frozen=True, slots=True)
class Row:
    """The buttons that share one line: an ActionSet or the card's own actions."""

    where: str
    actions: tuple[dict[str, Any], ...]
    width: float


def _visible(text: str) -> str:
    return _MD_ESCAPE.sub(r"\1", _MD_LINK.sub(r"\1", text))


def _walk(node: Any, where: str, styles: tuple[str, ...], width: float) -> Iterator[Text | Row]:
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{where}/{index}", styles, width)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("Container", "Column", "ColumnSet") and node.get("style"):
        if node["style"] != styles[-1] and not node.get("bleed"):
            width -= CONTAINER_PADDING
        styles = (*styles, node["style"])
    if kind == "TextBlock":
        heading = node.get("style") == "heading"
        text = node.get("text", "")
        links = _MD_LINK.findall(text)
        plain = _MD_LINK.sub("", text)
        bold_parts = _BOLD.findall(plain)
        base = dict(
            where=where,
            styles=styles,
            color=node.get("color", "default"),
            subtle=node.get("isSubtle", False),
            size=node.get("size", "large" if heading else "default"),
            width=width,
        )
        bold = str(node.get("weight", "bolder" if heading else "default")).lower() == "bolder"
        yield Text(_visible(_BOLD.sub("", plain)), bold=bold, link=False, **base)
        for part in bold_parts:
            yield Text(_visible(part), bold=True, link=False, **base)
        for label, _ in links:
            yield Text(_visible(label), bold=bold, link=True, **base)
        return
    if kind == "RichTextBlock":
        for index, run in enumerate(node.get("inlines", [])):
            run = {"type": "TextRun", "text": run} if isinstance(run, str) else run
            yield Text(
                run.get("text", ""),
                where=f"{where}/inlines/{index}",
                styles=styles,
                color=run.get("color", "default"),
                subtle=run.get("isSubtle", False),
                size=run.get("size", "default"),
                bold=str(run.get("weight", "default")).lower() == "bolder",
                link="selectAction" in run,
                width=width,
            )
        return
    if kind == "FactSet":
        yield from _facts(node, where, styles, width)
        return
    if kind == "ActionSet":
        yield Row(where, tuple(node.get("actions", [])), width)
        return
    for key, value in node.items():
        if key in ("fallback", "selectAction", "data"):
            continue
        yield from _walk(value, f"{where}/{key}", styles, width)


def _facts(
    node: dict[str, Any], where: str, styles: tuple[str, ...], width: float
) -> Iterator[Text]:
    config = host_config("light")["factSet"]
    title_bold = str(config["title"].get("weight", "default")).lower() == "bolder"
    facts = node.get("facts", [])
    titles = [_visible(str(f.get("title", ""))) for f in facts]
    widest = max((text_width(t, bold=title_bold) for t in titles), default=0)
    value_width = width - min(widest, FACT_TITLE_MAX) - FACT_SPACING
    for index, fact in enumerate(facts):
        for part, settings, room in (
            ("title", config["title"], min(widest, FACT_TITLE_MAX)),
            ("value", config["value"], value_width),
        ):
            raw = str(fact.get(part, ""))
            base = dict(
                where=f"{where}/facts/{index}/{part}",
                styles=styles,
                color=str(settings.get("color", "default")),
                subtle=bool(settings.get("isSubtle", False)),
                size=str(settings.get("size", "default")),
                bold=str(settings.get("weight", "default")).lower() == "bolder",
                width=room,
            )
            yield Text(_visible(_MD_LINK.sub("", raw)), link=False, **base)
            for label, _ in _MD_LINK.findall(raw):
                yield Text(_visible(label), link=True, **base)


def parts(card: dict[str, Any]) -> list[Text | Row]:
    """Every text and every row of buttons on the card."""
    room = PHONE_WIDTH - CARD_CHROME
    found = list(_walk(card.get("body", []), "body", ("default",), room))
    if card.get("actions"):
        found.append(Row("actions", tuple(card["actions"]), room))
    return found


def _is_large(text: Text, theme: str) -> bool:
    """WCAG's large text: 24 px, or 18.66 px (14 pt) bold."""
    px = font_size(theme, text.size)
    return px >= 24 or (px >= 18.66 and text.bold)


def contrast_problems(card: dict[str, Any]) -> list[str]:
    problems = []
    for theme in THEMES:
        config = host_config(theme)["containerStyles"]
        for text in parts(card):
            if not isinstance(text, Text) or not text.text.strip():
                continue
            background: Rgb = (1.0, 1.0, 1.0) if theme == "light" else (0.0, 0.0, 0.0)
            for style in text.styles:
                background = _over(config[style]["backgroundColor"], background)
            style = config[text.styles[-1]]
            if text.link:
                colour = link_colour(theme)
            else:
                shades = style["foregroundColors"][text.color.lower()]
                colour = shades["subtle" if text.subtle else "default"]
            ratio = contrast(_over(colour, background), background)
            need = MIN_CONTRAST_LARGE if _is_large(text, theme) else MIN_CONTRAST
            if ratio < need:
                problems.append(
                    f"{theme}: {text.text[:40]!r} at {text.where} is {ratio:.2f}:1, needs {need}:1"
                )
    return problems


def width_problems(card: dict[str, Any]) -> list[str]:
    """Addresses, numbers and links that would break across lines at 360 px."""
    problems = []
    for text in parts(card):
        if not isinstance(text, Text):
            continue
        px = font_size("light", text.size)
        for unit in _UNIT.findall(text.text):
            unit = unit.rstrip(".,;:")
            needs = text_width(unit, bold=text.bold, size=px)
            if needs > text.width:
                problems.append(
                    f"{unit!r} at {text.where} needs {needs:.0f} px at {px} px"
                    f"{' bold' if text.bold else ''}, has {text.width:.0f}"
                )
    return problems


def row_problems(card: dict[str, Any]) -> list[str]:
    """At most three buttons a line, each label whole at 360 px; the primary one first."""
    problems = []
    positive = 0
    for row in parts(card):
        if not isinstance(row, Row):
            continue
        if len(row.actions) > MAX_PER_ROW:
            problems.append(f"{row.where}: {len(row.actions)} buttons in a row, most {MAX_PER_ROW}")
        titles = [str(a.get("title", "")) for a in row.actions]
        needs = sum(text_width(t) + BUTTON_CHROME for t in titles) + BUTTON_GAP * (len(titles) - 1)
        if titles and needs > row.width:
            problems.append(
                f"{row.where}: buttons {titles} need {needs:.0f} px at 360 px, have {row.width:.0f}"
            )
        styles = [a.get("style") for a in row.actions]
        positive += styles.count("positive")
        if "positive" in styles[1:]:
            problems.append(f"{row.where}: the primary (positive) button is not first: {titles}")
    if positive > 1:
        problems.append(f"{positive} primary (positive) buttons: one at most")
    return problems


def action_kind(action: dict[str, Any]) -> str:
    """What pressing the button does, whatever card it is on."""
    if action["type"] == "Action.OpenUrl":
        url = str(action.get("url", ""))
        if url.startswith("mailto:") or "/mail/deeplink/compose" in url:
            # Writing about one request (its reference in the subject) is another action.
            return "email a request" if "subject=" in url else "email"
        if url.startswith("tel:"):
            return "call"
        return "open a web page"
    # What the button does is its verb and the data that picks the answer (a topic);
    # data that only says for what (a trust, a request) does not make another action.
    data = {k: v for k, v in (action.get("data") or {}).items() if k not in _FOR_WHAT}
    return f"verb {action.get('verb')} {json.dumps(data, sort_keys=True)}"


__all__ = [
    "action_kind",
    "contrast",
    "contrast_problems",
    "parts",
    "row_problems",
    "text_width",
    "width_problems",
]
