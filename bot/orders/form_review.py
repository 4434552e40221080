"""The request form, field by field, as a document a clinical safety officer can review.

The form's wording is clinical: a question asked the wrong way, a choice
missing, a field no longer required or an answer printed under another
heading changes what radiology is told. The wording lives in Python
declarations (`bot/orders/fields.py`), which a reviewer should not have to
read, so this module writes them out as `docs/request-form.md`. A test keeps
the committed document identical to the declarations, so any change to what
the form asks, accepts or prints shows up in review as a change to that
document (`make docs` rewrites it).

Nothing here decides anything: every word comes from the declarations, the
shape rules (`bot/orders/validation.py`) or the conditions below, which say in
words what `bot/orders/rules.py` decides.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bot.orders.fields import (
    FIELD_BY_ID,
    FIELDS,
    FORM_CHECK,
    ROUTE_FIELDS,
    SECTIONS,
    STEPS,
    TOO_LONG_FOR_A_CARD,
    FieldSpec,
    When,
    fields_of_step,
)
from bot.orders.rules import NO_LMP_STATUSES, PREGNANCY_AGES
from bot.orders.validation import DATE_MESSAGE
from bot.vocabulary import MODALITIES, PAIRED_BODY_PARTS, SIDE_WORDS

#: Where the document is committed, from the project root.
DOCUMENT = Path("docs/request-form.md")

_KINDS: Mapping[str, str] = {
    "route": "chosen from the directory",
    "text": "one line of text",
    "multiline": "text, several lines",
    "choice": "one choice",
    "date": "a date",
    "toggle": "a tick box",
}


def _modalities(flag: str) -> str:
    return ", ".join(m.name for m in MODALITIES if getattr(m, flag))


def conditions() -> Mapping[When, str]:
    """When each kind of field is asked, in words (the decisions are `rules.applies`)."""
    return {
        "always": "every request",
        "paired_part": (
            "when the examination names a paired body part or a side "
            "(not asked again when it names the side)"
        ),
        "ionising": f"ionising imaging: {_modalities('ionising')}",
        "pelvic_ionising": (
            "ionising imaging that includes the area between the diaphragm and the knees"
        ),
        "contrast": f"imaging that may use contrast: {_modalities('contrast')}",
        "mri": "MRI",
    }


def _titles(field_id: str, keys: Iterable[str]) -> str:
    """The wording of some of a choice's options, quoted, as the user sees them."""
    spec = FIELD_BY_ID[field_id]
    return " or ".join(f'"{spec.title_of(key)}"' for key in sorted(keys))


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _answer(spec: FieldSpec) -> str:
    """What the field accepts, in words."""
    parts = [_KINDS[spec.kind]]
    if spec.choices:
        parts.append(" / ".join(title for _, title in spec.choices))
    if spec.kind in ("text", "multiline"):
        span = f"{spec.min_length} to " if spec.min_length else "up to "
        parts.append(f"{span}{spec.max_length} characters")
    if spec.rule is not None:
        parts.append(f'shape checked: "{spec.rule.error_message}"')
    return "; ".join(parts)


def _hint(spec: FieldSpec) -> str:
    shown = [f"placeholder: {spec.placeholder}" if spec.placeholder else "", spec.help]
    return "; ".join(part for part in shown if part) or "-"


def _printed(spec: FieldSpec) -> str:
    printed = f"{spec.section}: {spec.printed_as}"
    if spec.empty is not None:
        always = ", even when not asked" if spec.always_printed else ""
        printed += f' ("{spec.empty}" when empty{always})'
    return printed


def _markdown_table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table, every cell made safe by `_cell`."""
    return [
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
        *("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows),
    ]


def _table(specs: Iterable[FieldSpec]) -> list[str]:
    asked_when = conditions()
    return _markdown_table(
        ("Asked as", "Answer", "Asked", "Required", "Hint", "Printed as"),
        (
            (
                spec.asks,
                _answer(spec),
                asked_when[spec.when],
                "yes" if spec.required else "no",
                _hint(spec),
                _printed(spec),
            )
            for spec in specs
        ),
    )


def _limits() -> list[str]:
    return _markdown_table(
        (
            "Input id",
            "Model path",
            "Named in errors",
            "Kind",
            "Values",
            "Min",
            "Max",
            "Card budget (bytes)",
            "Shape rule",
            "Style",
        ),
        (
            (
                f"`{spec.id}`",
                f"`{spec.path}`",
                spec.label,
                spec.kind,
                ", ".join(f"`{value}`" for value in sorted(spec.values)) or "-",
                str(spec.min_length),
                str(spec.max_length),
                str(spec.budget) if spec.is_text else "-",
                spec.pattern or "-",
                spec.style or "-",
            )
            for spec in FIELDS
        ),
    )


def render() -> str:
    """The whole document, as committed at `DOCUMENT`."""
    low, high = PREGNANCY_AGES
    lines = [
        "# The request form, field by field",
        "",
        "<!-- Written by `make docs` from bot/orders/fields.py; do not edit by hand. -->",
        "",
        "What the bot's downtime radiology request asks, accepts and prints, for clinical",
        "review. The BCP asks for the trust's downtime form to be completed and emailed;",
        "these questions are the bot's own form (see `docs/clinical-safety.md`, which names",
        "the source of each safety question). A change to any question, choice, limit or",
        "heading changes this document, and a test fails until it is rewritten, so the",
        "change is reviewed here.",
        "",
        "## Before step 1: the route",
        "",
        "The trust, department and type of imaging decide the mailbox and which questions",
        "follow.",
        "",
        *_table(ROUTE_FIELDS),
    ]
    for step in STEPS:
        lines += ["", f"## Step {step.number}: {step.title}", "", *_table(fields_of_step(step.id))]
    lines += [
        "",
        "## The rules that depend on other answers",
        "",
        "- The side is required when the examination names a paired body part and no side.",
        "- Pregnancy status and the LMP date are required when the imaging is ionising and",
        "  includes the area between the diaphragm and the knees, and the patient is not",
        f"  recorded as male and is aged {low} to {high} on the day. No LMP date is asked for "
        + _titles("pregnancy_status", NO_LMP_STATUSES)
        + "; an LMP date must be in the past and after the date of birth.",
        "- The interpreter's language is required when an interpreter is needed.",
        "- Details of a device, metal or implant are required for any Yes to the MRI questions.",
        "- Answers to questions a route does not ask are dropped, never sent.",
        f'- The form\'s own notes on the step cards begin "{FORM_CHECK.strip()}".',
        f'- A date the bot cannot read is refused next to the field: "{DATE_MESSAGE}".',
        f'- Text too large for a Teams card is refused next to the field: "{TOO_LONG_FOR_A_CARD}".',
        "",
        "## The examination's hint, by type of imaging",
        "",
        'Shown under the examination as "For example: ...".',
        "",
        *(f"- {m.name}: {m.example}" for m in MODALITIES),
        "",
        "## Paired body parts, for which the side is asked",
        "",
        "The bot's own list (anatomy, not the BCP), matched as whole words in the examination:",
        "",
        ", ".join(PAIRED_BODY_PARTS) + ".",
        "",
        "Words in the examination that give the side: "
        + ", ".join(f"{word} ({side})" for word, side in SIDE_WORDS.items())
        + ". An examination naming two different sides is asked, not guessed.",
        "",
        "## Sections of the review card, the email and its PDF, in order",
        "",
        *(f"{number}. {section}" for number, section in enumerate(SECTIONS, start=1)),
        "",
        "## Limits (for developers)",
        "",
        *_limits(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.orders.form_review [PATH]`: write the document (default `DOCUMENT`)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DOCUMENT
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
