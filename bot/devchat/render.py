"""Adaptive Cards as readable terminal text, with numbered buttons and listed inputs."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]()~>#|.+\-])")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"(?<!\\)\*\*")


@dataclass
class RenderedCard:
    lines: list[str] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _plain(text: str) -> str:
    """Markdown as a terminal shows it: links with their target, bold markers gone,
    escaped characters as typed (bold is removed first, so "\\*\\*\\*" stays "***")."""
    text = _MD_LINK.sub(r"\1 <\2>", text)
    text = _BOLD.sub("", text)
    return _MD_ESCAPE.sub(r"\1", text)


def render_card(card: dict[str, Any], width: int = 78) -> RenderedCard:
    out = RenderedCard()
    _elements(card.get("body") or [], out, width, indent="")
    _actions(card.get("actions") or [], out)
    return out


def _emit(out: RenderedCard, text: str, width: int, indent: str) -> None:
    for paragraph in _plain(text).splitlines() or [""]:
        wrapped = textwrap.wrap(paragraph, width - len(indent)) or [""]
        out.lines.extend(indent + line for line in wrapped)


def _elements(elements: list[Any], out: RenderedCard, width: int, indent: str) -> None:
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type", "")
        if kind == "TextBlock":
            heading = element.get("weight") == "Bolder" and element.get("size") in (
                "Medium",
                "Large",
            )
            _emit(out, ("# " if heading else "") + str(element.get("text", "")), width, indent)
        elif kind == "RichTextBlock":
            runs = "".join(
                str(r.get("text", "")) for r in element.get("inlines", []) if isinstance(r, dict)
            )
            _emit(out, runs, width, indent)
        elif kind == "FactSet":
            for fact in element.get("facts", []):
                _emit(
                    out, f"{fact.get('title', '')}: {fact.get('value', '')}", width, indent + "  "
                )
        elif kind in ("Container", "Column"):
            # A folded part (shown by a button in Teams) is listed, marked, so its inputs
            # can be filled in from the terminal too.
            folded = element.get("isVisible") is False
            if folded:
                out.lines.append(f"{indent}  (folded until its button is pressed:)")
            _elements(element.get("items", []), out, width, indent + ("  " if folded else ""))
        elif kind == "ColumnSet":
            for column in element.get("columns", []):
                _elements(column.get("items", []), out, width, indent)
        elif kind == "ActionSet":
            _actions(element.get("actions", []), out)
        elif kind.startswith("Input."):
            out.inputs.append(element)
            label = element.get("label") or element.get("placeholder") or element.get("id")
            value = element.get("value")
            shown = f" = {value}" if value not in (None, "") else ""
            required = " *" if element.get("isRequired") else ""
            out.lines.append(f"{indent}  [{element.get('id')}] {label}{required}{shown}")


def _actions(actions: list[Any], out: RenderedCard) -> None:
    for action in actions:
        if not isinstance(action, dict):
            continue
        out.buttons.append(action)
        number = len(out.buttons)
        suffix = f" -> {action['url']}" if action.get("type") == "Action.OpenUrl" else ""
        if ((action.get("data") or {}).get("msteams") or {}).get("type") == "task/fetch":
            suffix = " (opens a dialog)"
        out.lines.append(f"  ({number}) {action.get('title', '?')}{suffix}")
