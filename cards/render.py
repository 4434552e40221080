"""Render Jinja2 card templates into Adaptive Card dictionaries.

Every `{{ expression }}` in a template is JSON-encoded by the environment's
`finalize`, so a value can only ever become one JSON string, number, list or
object: quotes, braces or newlines in user text cannot break the card. Text
that goes into a TextBlock is additionally passed through the `md` filter,
which escapes the markdown subset Teams renders, so user text displays as typed.

Mailboxes, phone numbers and portals never go through markdown at all: the
`value` helper puts each in a RichTextBlock's TextRun, which Teams draws as
plain text, so `kch-tr.xr_reception_dh@nhs.net` reaches every client exactly as
the BCP gives it (a markdown escape such as `xr\\_reception` has been shown
literally by Teams mobile clients). Their one-tap actions (`email_action`,
`call_action`, `portal_action`) carry one title each, so every card names an
action the same way (docs/decisions.md says why the email link is Outlook's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

CARD_VERSION = "1.5"
MAX_CARD_BYTES = 28 * 1024
TEMPLATE_DIR = Path(__file__).parent / "templates"

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]()~>#|])")
_LIST_MARKER = re.compile(r"(?m)^(\s*)([-+]|\d+\.)(?=\s)")


class CardTooLarge(ValueError):
    """A rendered card would exceed the Teams size limit we hold ourselves to."""


def escape_markdown(value: object) -> str:
    """Show user text literally in a TextBlock (Teams renders a markdown subset)."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", str(value))
    return _LIST_MARKER.sub(_escape_list_marker, escaped)


def _escape_list_marker(match: re.Match[str]) -> str:
    indent, marker = match.groups()
    if marker.endswith("."):
        return f"{indent}{marker[:-1]}\\."
    return f"{indent}\\{marker}"


def _json_literal(value: object) -> str:
    if isinstance(value, _Raw):
        return value.text
    return json.dumps(value, ensure_ascii=False)


class _Raw(str):
    """Already-JSON output of a macro or `tojson`, inserted as is."""

    text: str

    def __new__(cls, text: str) -> _Raw:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


def execute_action(
    title: str,
    verb: str,
    data: Mapping[str, Any] | None = None,
    *,
    style: str | None = None,
    associated_inputs: str | None = None,
) -> _Raw:
    """An Action.Execute that falls back to Action.Submit on clients without Universal Actions.

    Both carry the verb inside `data`, so a Submit (which has no verb of its own)
    still reaches the same handler. `associated_inputs="none"` sends no inputs
    and so skips the card's own input checks (a Back button).
    """
    payload = {**(data or {}), "verb": verb}
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": payload,
        "fallback": {"type": "Action.Submit", "title": title, "data": payload},
    }
    for key, value in (("style", style), ("associatedInputs", associated_inputs)):
        if value:
            action[key] = value
            action["fallback"][key] = value
    return _Raw(json.dumps(action, ensure_ascii=False))


#: What Teams reads in an Action.Submit's data to open a dialog instead of sending a message.
TASK_FETCH = {"type": "task/fetch"}


def dialog_action(
    title: str, verb: str, data: Mapping[str, Any] | None = None, *, style: str | None = None
) -> _Raw:
    """A button that opens a Teams dialog: an Action.Submit whose data asks for `task/fetch`.

    Teams sends the bot a `task/fetch` invoke and shows the card the bot answers
    with in a dialog. A client that cannot open dialogs sends the same data as
    an ordinary Action.Submit message instead, so the same verb's handler runs
    either way (and answers in the chat).
    """
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": title,
        "data": {**(data or {}), "verb": verb, "msteams": TASK_FETCH},
    }
    if style:
        action["style"] = style
    return _Raw(json.dumps(action, ensure_ascii=False))


def open_url_action(title: str, url: str, *, style: str | None = None) -> _Raw:
    action = {"type": "Action.OpenUrl", "title": title, "url": url}
    if style:
        action["style"] = style
    return _Raw(json.dumps(action, ensure_ascii=False))


#: One title per action, on every card.
EMAIL_TITLE = "Email"
CALL_TITLE = "Call"
PORTAL_TITLE = "Open the portal"
#: Outlook on the web's compose page: an https link every Teams client opens (docs/decisions.md).
COMPOSE_URL = "https://outlook.office.com/mail/deeplink/compose"


def compose_url(to: str, subject: str = "") -> str:
    """A new message to `to` in Outlook on the web. Never pass patient data: the
    link is handed to the browser and may be logged by it."""
    url = f"{COMPOSE_URL}?to={quote(str(to), safe='@')}"
    return url + (f"&subject={quote(subject, safe='')}" if subject else "")


def email_action(
    to: object, subject: str = "", *, title: str = EMAIL_TITLE, style: str | None = None
) -> _Raw:
    return open_url_action(title, compose_url(str(to), subject), style=style)


def call_action(phone: str, *, style: str | None = None) -> _Raw:
    """`tel:` with the BCP's number, its spaces removed (the digits are the BCP's own)."""
    return open_url_action(CALL_TITLE, "tel:" + re.sub(r"[^\d+]", "", phone), style=style)


def portal_action(url: object, *, style: str | None = None) -> _Raw:
    return open_url_action(PORTAL_TITLE, str(url), style=style)


def value_block(
    text: object, *, size: str = "Large", spacing: str = "None", weight: str | None = None
) -> _Raw:
    """A mailbox, number or portal as the card's hero: plain text, never markdown.

    Large (18 px) regular: the longest referral mailbox the BCP gives must fit
    on one line on a 360 px phone card (tests/test_card_rules.py measures it).
    """
    run = {"type": "TextRun", "text": str(text), "size": size}
    if weight:
        run["weight"] = weight
    return _Raw(
        json.dumps(
            {"type": "RichTextBlock", "spacing": spacing, "inlines": [run]}, ensure_ascii=False
        )
    )


def _cache_key(name: str, context: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A hashable key for these inputs, or None when any input cannot be one."""
    try:
        key = (name, tuple(sorted(context.items())))
        hash(key)
    except TypeError:
        return None
    return key


class CardRenderer:
    """Loads the templates once and renders a card per call."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR, *, max_cached: int = 512) -> None:
        self._rendered: dict[tuple[Any, ...], str] = {}
        self._max_cached = max_cached
        self._env = Environment(
            loader=FileSystemLoader(template_dir),
            finalize=_json_literal,
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["md"] = escape_markdown
        self._env.filters["raw"] = _Raw
        self._env.globals["CARD_VERSION"] = CARD_VERSION
        self._env.globals["execute"] = execute_action
        self._env.globals["open_dialog"] = dialog_action
        self._env.globals["open_url"] = open_url_action
        self._env.globals["email"] = email_action
        self._env.globals["call"] = call_action
        self._env.globals["portal"] = portal_action
        self._env.globals["value"] = value_block

    def names(self) -> list[str]:
        return sorted(
            name.removesuffix(".json.j2")
            for name in self._env.list_templates(extensions=["j2"])
            if not name.startswith("_")
        )

    def render(
        self, name: str, context: Mapping[str, Any] | None = None, /, **values: Any
    ) -> dict[str, Any]:
        """Render `templates/<name>.json.j2` into an Adaptive Card dictionary.

        Most cards depend only on the directory and a borough or mailbox, so
        the checked JSON text is kept per (template, inputs) when every input
        is hashable (the directory's models are frozen); each call still
        returns a fresh dictionary. Cards holding user input are never cached:
        their contexts contain dicts and lists, which are not hashable.
        """
        merged = {**(context or {}), **values}
        key = _cache_key(name, merged)
        text = self._rendered.get(key) if key is not None else None
        if text is None:
            text = self._render_checked(name, merged)
            if key is not None and len(self._rendered) < self._max_cached:
                self._rendered[key] = text
        card: dict[str, Any] = json.loads(text)  # an object: _render_checked made sure
        return card

    def _render_checked(self, name: str, context: Mapping[str, Any]) -> str:
        template = self._env.get_template(f"{name}.json.j2")
        card = json.loads(template.render(context))
        if not isinstance(card, dict):
            raise TypeError(f"card {name!r} is not a JSON object")
        # Measured as it goes on the wire: escaped JSON ("漢" is six bytes, "\\" two).
        text = json.dumps(card, separators=(",", ":"))
        size = len(text)
        if size > MAX_CARD_BYTES:
            raise CardTooLarge(f"card {name!r} is {size} bytes, over {MAX_CARD_BYTES}")
        return text
