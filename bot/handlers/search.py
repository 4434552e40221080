"""The message extension's search: mailboxes, service desks and results mailboxes to insert.

Staff copy a mailbox into a colleague's chat or an email draft many times a
day; typing "kings us", "bromley helpdesk" or "results" in the compose box
lists the matching cards. The catalogue is the directory's own entries and
nothing else: no patient data is ever searched, shown or logged (the query is
not logged at all, since staff may type anything into a search box).

An empty query (the extension just opened) lists every entry in the BCP's
order: the referral mailboxes first, then the service desks, then the results
mailboxes. That static order stands in for "most used": the referral mailboxes
are what staff copy most during an outage, and counting real use would mean
recording what each user searched for, which this bot does not do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.directory import Directory
from bot.nlu import query_tags
from bot.orders.routing import no_route_message
from bot.router import Router, SearchCommand
from bot.turns import SearchAnswer, SearchResult
from bot.vocabulary import BOROUGHS, MODALITIES, MODALITY_BY_ID, SITES, TRUSTS
from cards import CardRenderer

LOOKUP = SearchCommand(
    id="lookup",
    title="Mailboxes and service desks",
    description="Find a downtime radiology mailbox, a service desk or a results mailbox to share",
    parameter="query",
    parameter_title="Mailbox or desk",
    parameter_description="For example: kings us, bromley helpdesk, results",
)
NOTHING_FOUND = (
    "Nothing matches. Try a trust and modality (kings us), a borough and helpdesk "
    "(bromley helpdesk), or results."
)
_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One thing the search can offer, with what it matches."""

    title: str
    text: str
    #: What the entry is: `trust:kch`, `modality:xray`, `borough:Bromley`, `concept:results`.
    tags: frozenset[str]
    #: Words a partly typed query may start ("brom" for Bromley).
    keywords: frozenset[str]
    card: dict[str, object]


def register(router: Router) -> None:
    @router.search(LOOKUP)
    async def lookup(cards: CardRenderer, directory: Directory, query: str) -> SearchAnswer:
        return search(cards, directory, query)


def search(cards: CardRenderer, directory: Directory, query: str) -> SearchAnswer:
    """The entries every word of the query matches, in the BCP's order."""
    entries = catalogue(directory)
    words = query_tags(query[:200])
    if refusal := _not_in_the_bcp(directory, words):
        return SearchAnswer(message=refusal)
    found = entries
    for word, tags in words:
        # A word some entries carry as typed ("alerted", "lambeth") picks those;
        # otherwise its meaning ("ct": any GSTT request) or a typed prefix ("brom").
        literal = [e for e in found if word in e.keywords]
        found = literal or [e for e in found if _matches(e, word, tags)]
    if not found:
        return SearchAnswer(message=NOTHING_FOUND)
    return SearchAnswer(
        results=tuple(
            SearchResult(title=e.title, text=e.text, card=cards.render("lookup", e.card))
            for e in found
        )
    )


def _matches(entry: _Entry, word: str, tags: frozenset[str]) -> bool:
    if tags & entry.tags:
        return True
    return any(keyword.startswith(word) for keyword in entry.keywords)


def _not_in_the_bcp(directory: Directory, words: list[tuple[str, frozenset[str]]]) -> str | None:
    """A KCH modality or a borough the BCP does not list gets that said, not an empty list."""
    tags = {tag for _, word_tags in words for tag in word_tags}
    if "trust:kch" in tags:
        kch = directory.trust("kch")
        for tag in tags:
            name = tag.removeprefix("modality:")
            if kch and tag.startswith("modality:") and kch.department(name) is None:
                return no_route_message(kch, MODALITY_BY_ID[name].name)
    outside = sorted(t.removeprefix("other_borough:") for t in tags if "other_borough:" in t)
    if outside and not any(t.startswith("borough:") for t in tags):
        covered = ", ".join(BOROUGHS[:-1]) + f" and {BOROUGHS[-1]}"
        return f"The BCP covers {covered} only: it gives no service desk for {outside[0]}."
    return None


def _keywords(*texts: str) -> frozenset[str]:
    return frozenset(w for text in texts for w in _SPLIT.split(text.lower()) if w)


def _trust_words(trust_id: str) -> Iterable[str]:
    for trust in TRUSTS:
        if trust.id == trust_id:
            yield from trust.words
    for site in SITES:
        if site.trust == trust_id:
            yield from site.words


def _value(label: str, text: str, *, size: str = "Large") -> dict[str, str]:
    """A mailbox, number or portal shown on the card, with the label above it."""
    return {"label": label, "text": text, "size": size}


def _link(kind: str, target: str) -> dict[str, str]:
    """A one-tap action on the card: `email`, `call` or `portal` (the lookup template)."""
    return {"kind": kind, "target": target}


def catalogue(directory: Directory) -> list[_Entry]:
    """Every entry, in the BCP's order: request mailboxes, service desks, results."""
    entries: list[_Entry] = []
    mailbox = frozenset({"concept:mailbox", "concept:order", "concept:send", "concept:radiology"})
    for trust in directory.trusts:
        for dept in trust.departments:
            modalities = [m.id for m in MODALITIES] if trust.single_mailbox else [dept.id]
            label = trust.short_name + ("" if trust.single_mailbox else f" {dept.name}")
            entries.append(
                _Entry(
                    title=f"{label} radiology mailbox",
                    text=str(dept.mailbox),
                    tags=mailbox | {f"trust:{trust.id}"} | {f"modality:{m}" for m in modalities},
                    keywords=_keywords(
                        label, trust.name, dept.mailbox, "mailbox", *_trust_words(trust.id)
                    ),
                    card={
                        "heading": f"For {trust.bcp_name}:"
                        + ("" if trust.single_mailbox else f" {dept.name}"),
                        "intro": directory.procedure.email_step,
                        "values": [_value("", str(dept.mailbox))],
                        "lines": [directory.procedure.form_step, trust.form_text],
                        "source": directory.source,
                        "links": [_link("email", str(dept.mailbox))],
                    },
                )
            )
    for desk in directory.service_desks:
        entries.append(
            _Entry(
                title=f"{desk.name} ({', '.join(desk.boroughs)})",
                text=f"{desk.phone} · {desk.email}",
                tags=frozenset({"concept:helpdesk", "concept:helpdesk_weak"})
                | {f"borough:{b}" for b in desk.boroughs},
                keywords=_keywords(desk.name, desk.portal_name, desk.email, *desk.boroughs),
                card={
                    "heading": desk.name,
                    "intro": desk.intro,
                    "values": [
                        _value("Portal", desk.portal_name, size="Default"),
                        _value("Phone", desk.phone),
                        _value("Email", str(desk.email)),
                    ],
                    "lines": [],
                    "source": directory.source,
                    "links": [
                        _link("portal", desk.portal_url),
                        _link("call", desk.phone),
                        _link("email", str(desk.email)),
                    ],
                },
            )
        )
    for box in directory.results:
        entries.append(
            _Entry(
                title=f"{box.name} mailbox (do not reply)",
                text=str(box.mailbox),
                tags=frozenset({"concept:results"}),
                keywords=_keywords(box.name, box.mailbox, "results reports"),
                card={
                    "heading": f"{box.name}: {directory.results_section.title.lower()}",
                    "intro": box.intro,
                    # A results address is recognised, not written to: normal size, no link.
                    "values": [_value("", str(box.mailbox), size="Default")],
                    "lines": [line for line in (box.no_reply, box.note) if line],
                    "source": directory.source,
                    "links": [],
                },
            )
        )
    return entries


__all__ = ["LOOKUP", "NOTHING_FOUND", "catalogue", "register", "search"]
