"""Turn what a stressed person types into an intent and its slots.

Deliberately small and explainable rather than statistical: a fixed vocabulary
of concepts (ICE, "down", "can't get in", PCN, mailbox, ...), typo-tolerant
token matching (OSA edit distance via rapidfuzz), and an ordered list of rules.
The phrasing corpus in tests/test_nlu.py is the specification; a new phrasing
that fails is fixed by adding a word here, and the test keeps it fixed.

Situational intents (PCN, access, down) outrank commands and information
requests, because "help, ICE is down" is a downtime, not a request for help.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import OSA

# Canonical concept -> words (single tokens) that mean it. Multi-word phrases are
# joined into one token by _PHRASES before matching.
_VOCABULARY: dict[str, tuple[str, ...]] = {
    "ice": ("ice", "ices", "clinisys", "ordercomms"),
    "down": (
        "down",
        "outage",
        "offline",
        "crashed",
        "crashing",
        "crash",
        "crashes",
        "broken",
        "broke",
        "dead",
        "unavailable",
        "failing",
        "failed",
        "frozen",
        "freezing",
        "hanging",
        "notworking",
        "notloading",
        "wontload",
        "wontopen",
        "notopening",
        "error",
        "errors",
        "downtime",
        "glitching",
        "unresponsive",
        "timing",
        "timeout",
        "spinning",
        "blank",
        "issue",
        "issues",
        "problem",
        "problems",
        "playing",
        "fault",
        "gone",
        "slow",
        "stuck",
        "loading",
    ),
    "access": (
        "login",
        "logon",
        "signin",
        "logging",
        "access",
        "accessing",
        "locked",
        "lockedout",
        "password",
        "account",
        "credentials",
        "smartcard",
        "permission",
        "permissions",
        "getinto",
        "getin",
        "letme",
        "letsme",
        "authenticate",
        "authentication",
        "rights",
    ),
    "cannot": ("cant", "cannot", "unable", "wont", "doesnt", "isnt", "couldnt", "not", "no"),
    "pcn": ("pcn", "pcns", "federation", "federations", "fed", "gpfed"),
    "everyone": ("everyone", "everybody", "all", "whole", "entire", "anyone", "nobody"),
    "order": (
        "order",
        "request",
        "referral",
        "refer",
        "requesting",
        "book",
        "form",
        "downtimeform",
    ),
    "send": ("send", "sending", "submit", "email", "emailing", "raise", "make", "place", "do"),
    "mailbox": ("mailbox", "mailboxes", "address", "addresses", "inbox"),
    "where": ("where", "which", "what"),
    "helpdesk": (
        "helpdesk",
        "servicedesk",
        "itdesk",
        "support",
        "ticket",
        "itsupport",
        "halo",
        "ithelpdesk",
        "ithelp",
    ),
    "results": ("results", "result", "report", "reports", "reported", "alerted"),
    "rejections": (
        "reject",
        "rejected",
        "rejection",
        "rejections",
        "vetting",
        "vetted",
        "changes",
        "change",
        "amend",
    ),
    "next": (
        "next",
        "happens",
        "after",
        "afterwards",
        "walkin",
        "epic",
        "72",
        "hours",
        "scheduled",
        "schedule",
    ),
    "help": ("help", "menu", "commands", "hello", "hi", "hey", "start", "options", "howto"),
}

# Phrases folded into single tokens before matching (order matters: longest first).
_PHRASES: tuple[tuple[str, str], ...] = (
    ("locked out", "lockedout"),
    ("log in", "login"),
    ("log on", "logon"),
    ("sign in", "signin"),
    ("signed in", "signin"),
    ("not working", "notworking"),
    ("not work", "notworking"),
    ("stopped working", "notworking"),
    ("not loading", "notloading"),
    ("wont load", "wontload"),
    ("won t load", "wontload"),
    ("wont open", "wontopen"),
    ("not opening", "notopening"),
    ("get into", "getinto"),
    ("get in", "getin"),
    ("let me", "letme"),
    ("lets me", "letsme"),
    ("help desk", "helpdesk"),
    ("service desk", "servicedesk"),
    ("it desk", "itdesk"),
    ("it support", "itsupport"),
    ("it help", "ithelp"),
    ("walk in", "walkin"),
    ("walks in", "walkin"),
    ("walked in", "walkin"),
    ("order comms", "ordercomms"),
    ("downtime form", "downtimeform"),
    ("x ray", "xray"),
    ("plain film", "xray"),
    ("kings college", "kch"),
    ("king s college", "kch"),
    ("king s", "kch"),
    ("st thomas", "gstt"),
    ("st thomas s", "gstt"),
    ("saint thomas", "gstt"),
    ("guy s", "gstt"),
    ("guys and st thomas", "gstt"),
    ("nuclear medicine", "nm"),
    ("cat scan", "ct"),
    ("ct scan", "ct"),
    ("mri scan", "mri"),
    ("how to", "howto"),
    ("playing up", "playing"),
)

_TRUSTS: dict[str, tuple[str, ...]] = {
    "kch": ("kch", "kings", "king", "kingscollege", "kcl"),
    "gstt": ("gstt", "gst", "guys", "guy", "thomas", "thomass", "tommys", "gsst"),
}

_MODALITIES: dict[str, tuple[str, ...]] = {
    "xray": ("xray", "xr", "xrays", "radiograph", "radiography"),
    "ultrasound": ("ultrasound", "us", "usound", "sonography", "sonogram", "uss", "sono"),
    "fluoroscopy": ("fluoroscopy", "fluoro", "fl", "barium", "swallow"),
    # Modalities with no KCH downtime mailbox: recognised so the bot can say so.
    "ct": ("ct", "cat", "computed", "tomography"),
    "mri": ("mri", "mr", "magnetic"),
    "nm": ("nm", "nuclear", "isotope", "pet"),
    "dexa": ("dexa", "dxa", "densitometry"),
    "mammography": ("mammography", "mammogram", "mammo", "breast"),
    "interventional": ("interventional", "ir", "biopsy"),
}

MODALITY_NAMES: dict[str, str] = {
    "xray": "X-ray",
    "ultrasound": "Ultrasound",
    "fluoroscopy": "Fluoroscopy",
    "ct": "CT",
    "mri": "MRI",
    "nm": "Nuclear medicine",
    "dexa": "DEXA",
    "mammography": "Mammography",
    "interventional": "Interventional radiology",
}

_BOROUGHS = ("bexley", "bromley", "greenwich", "lambeth", "lewisham", "southwark")

# Concepts made of short common words, where a one-letter typo is usually another
# word ("there" is not "where"): matched exactly.
_EXACT_ONLY = frozenset({"where", "cannot", "send", "everyone", "help", "next"})

# Words after "ice" that mean frozen water, not the ordering system.
_NOT_THE_SYSTEM = frozenset(
    {
        "cream",
        "creams",
        "cube",
        "cubes",
        "machine",
        "pack",
        "packs",
        "lolly",
        "lollies",
        "rink",
        "skating",
        "bucket",
        "tea",
        "coffee",
        "storm",
        "age",
        "road",
        "roads",
        "bath",
        "maker",
        "box",
        "on",
        "outside",
        "car",
    }
)

_QUESTION_STARTS = frozenset({"is", "does", "has", "anyone", "anybody", "are", "any", "whats"})

# Command words: a message starting with one of these (optionally with "/") is a command.
COMMAND_WORDS: dict[str, str] = {
    "help": "help",
    "helpdesk": "helpdesk",
    "servicedesk": "helpdesk",
    "desk": "helpdesk",
    "mailbox": "mailbox",
    "mailboxes": "mailbox",
    "results": "results",
    "result": "results",
    "rejections": "rejections",
    "reject": "rejections",
    "next": "next",
    "order": "order",
    "request": "order",
    "down": "ice_triage",
    "downtime": "ice_triage",
    "access": "ice_access",
    "pcn": "ice_pcn",
}

_TOKEN = re.compile(r"[a-z0-9?]+")


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of parsing one message: an intent name and any slots it named."""

    intent: str
    slots: dict[str, str] = field(default_factory=dict)


def normalise(text: str) -> list[str]:
    """Lower-case word tokens with apostrophes folded ("can't" -> "cant") and phrases joined."""
    lowered = text.lower().replace("\u2019", "'")
    lowered = re.sub(r"(\w)'(t|s|re|ve|m|ll|d)\b", r"\1\2", lowered)  # can't -> cant
    lowered = lowered.replace("?", " ? ")
    joined = " ".join(_TOKEN.findall(lowered))
    joined = f" {joined} "
    for phrase, token in _PHRASES:
        joined = joined.replace(f" {phrase} ", f" {token} ")
    return joined.split()


def _max_typos(word: str) -> int:
    if len(word) >= 8:
        return 2
    if len(word) >= 4:
        return 1
    return 0


@lru_cache(maxsize=4096)
def _match(token: str, candidates: tuple[str, ...]) -> bool:
    """Exact match, or within a small edit distance for longer words (typos)."""
    if token in candidates:
        return True
    limit = _max_typos(token)
    if limit == 0 or token.isdigit():
        return False
    return any(
        len(c) >= 4 and OSA.distance(token, c, score_cutoff=limit) <= limit for c in candidates
    )


def _concepts(tokens: list[str]) -> set[str]:
    found: set[str] = set()
    for index, token in enumerate(tokens):
        for concept, words in _VOCABULARY.items():
            if concept == "ice":
                nxt = tokens[index + 1] if index + 1 < len(tokens) else ""
                if token in words and nxt not in _NOT_THE_SYSTEM:
                    found.add("ice")
                continue
            if token in words or (concept not in _EXACT_ONLY and _match(token, words)):
                found.add(concept)
    return found


def _first(tokens: list[str], table: dict[str, tuple[str, ...]], fuzzy: bool = True) -> str | None:
    for token in tokens:
        for key, words in table.items():
            if token in words or (fuzzy and _match(token, words)):
                return key
    return None


def _slots(tokens: list[str]) -> dict[str, str]:
    slots: dict[str, str] = {}
    if trust := _first(tokens, _TRUSTS):
        slots["trust"] = trust
    if modality := _first(tokens, _MODALITIES, fuzzy=False) or _first(
        [t for t in tokens if len(t) >= 5], _MODALITIES
    ):
        slots["modality"] = modality
    if borough := _first(tokens, {b: (b,) for b in _BOROUGHS}):
        slots["borough"] = borough.title()
    return slots


def _situation(tokens: list[str], concepts: set[str]) -> str | None:
    """ICE-specific situations, which outrank everything else."""
    if "pcn" in concepts:
        return "ice_pcn"
    if "ice" not in concepts:
        return None
    if "access" in concepts and ("cannot" in concepts or "down" in concepts or "locked" in tokens):
        return "ice_access"
    if "access" in concepts and any(
        t in ("getin", "getinto", "letme", "lockedout") for t in tokens
    ):
        return "ice_access"
    if "down" in concepts or ("cannot" in concepts and "order" not in concepts):
        is_question = tokens[0] in _QUESTION_STARTS or "?" in tokens
        if "everyone" in concepts and not is_question:
            return "ice_down"
        return "ice_triage"
    return None


def parse(text: str) -> Parsed:
    """Classify one message. Never raises; unknown text becomes the `unknown` intent."""
    tokens = normalise(text or "")
    if not tokens:
        return Parsed("unknown")
    concepts = _concepts(tokens)
    slots = _slots(tokens)

    situation = _situation(tokens, concepts)
    if situation:
        return Parsed(situation, slots)
    if concepts == {"ice"} and len(set(tokens)) <= 2:  # "ICE?", "ice", "ICE???"
        return Parsed("ice_triage", slots)

    first = tokens[0].lstrip("/")
    command = COMMAND_WORDS.get(first)
    if command is None and len(first) >= 5:
        command = next((v for k, v in COMMAND_WORDS.items() if _match(first, (k,))), None)
    if command:
        return Parsed(command, slots)

    return Parsed(_information_intent(concepts, slots), slots)


def _information_intent(concepts: set[str], slots: dict[str, str]) -> str:
    if "helpdesk" in concepts or ("borough" in slots and "mailbox" not in concepts):
        return "helpdesk"
    if (
        "order" in concepts
        and ("send" in concepts or "modality" in slots)
        and "where" not in concepts
    ):
        return "order"
    if "mailbox" in concepts or ("where" in concepts and "send" in concepts):
        return "mailbox"
    if "order" in concepts and "send" in concepts:
        return "order"
    if "rejections" in concepts:
        return "rejections"
    if "results" in concepts:
        return "results"
    if "next" in concepts:
        return "next"
    if "help" in concepts:
        return "help"
    if "trust" in slots or "modality" in slots:
        return "mailbox"
    return "unknown"
