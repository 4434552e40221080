"""Turn what a stressed person types into an intent and its slots.

Deliberately small and explainable rather than statistical (docs/decisions.md
D4): a fixed vocabulary of concepts ("down", "can't get in", "results", ...)
plus the shared names in `bot/vocabulary.py`, typo-tolerant word matching (OSA
edit distance via rapidfuzz), and an ordered list of rules. The phrasing
corpus in `tests/corpus/` is the specification; a phrasing that goes wrong is
fixed by a word or a rule that generalises, never by matching the line.

How a message is read:

1. `normalise`: lower case, apostrophes folded ("can't" -> "cant"), dictation
   words ("full stop", "question mark") dropped, multi-word names and phrases
   joined into one token ("denmark hill", "log in", "not working"), and "I see"
   heard for "ICE" by voice typing folded back when a verb follows it.
2. `_Reading`: each token is a known concept word, a name (trust, site,
   modality, borough), a neutral word ("the", "patient", "where"), or *foreign*
   (a word the bot does not know: "printer", "lunch", "survey").
3. `_decide`: the rules, in order. An ICE situation outranks everything
   ("help, ICE is down" is an outage). Weak cues (a bare "results", "down",
   "order", a borough) count only when the message has no foreign words, so
   "results of the staff survey" and "the printer is down" trigger nothing,
   while "where do urgent results come from" does. Anything that mentions ICE
   and cannot be placed is a possible outage: the triage question.

Everything is compiled once (`_lexicon`, cached) and `parse` caches its answers,
so a turn costs a few dictionary look-ups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from types import MappingProxyType

from rapidfuzz.distance import OSA

from bot.vocabulary import (
    COVERED_BOROUGHS,
    MODALITIES,
    OTHER_AREAS,
    SITES,
    TRUSTS,
)


class Intent(StrEnum):
    """Everything a message can mean. Handlers register against these, never strings."""

    ICE_DOWN = "ice_down"
    ICE_TRIAGE = "ice_triage"
    ICE_ACCESS = "ice_access"
    ICE_PCN = "ice_pcn"
    ICE_BACK = "ice_back"
    #: "Is ICE down?", "is it just us?", /status: has an outage been declared?
    ICE_STATUS = "ice_status"
    #: An admin's /outage (or "declare an outage"), and /restored.
    INCIDENT_DECLARE = "incident_declare"
    INCIDENT_RESTORE = "incident_restore"
    MY_REQUESTS = "my_requests"
    PRACTICE_LOG = "practice_log"
    MAILBOX = "mailbox"
    ORDER = "order"
    HELPDESK = "helpdesk"
    RESULTS = "results"
    REJECTIONS = "rejections"
    NEXT = "next"
    WALK_IN = "walk_in"
    HELP = "help"
    THANKS = "thanks"
    WELCOME = "welcome"
    #: Chosen by the router, not the parser: patient details seen in a shared chat.
    PATIENT_DATA = "patient_data"
    #: Chosen by the router, not the parser: the message carries a file (a completed form).
    FILE = "file"
    UNKNOWN = "unknown"


class Slot(StrEnum):
    """What a message can name. A handler parameter with one of these names receives it."""

    TRUST = "trust"
    MODALITY = "modality"
    BOROUGH = "borough"
    OTHER_BOROUGH = "other_borough"
    SITE = "site"
    #: "urgent" or "routine", named with an attached form ("urgent, guys").
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of parsing one message: an intent and the names it mentioned."""

    intent: Intent
    slots: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _spaced(listing: str) -> frozenset[str]:
    """Words separated by white space."""
    return frozenset(listing.split())


# --- Concepts ---------------------------------------------------------------------------
# Concept -> the words and phrases (comma-separated) that carry it. A phrase is joined
# into one token before matching, and also carries the concepts of its own words.

_CONCEPTS: dict[str, str] = {
    "ice": """ice, clinisys, ordercomms, order comms, order communications, ordering system,
        requesting system""",
    "system": "system, systems",
    # An outage, said plainly.
    "down": """down, outage, outages, outtage, offline, crashed, crashing, crash, crashes,
        broken, broke, dead, died, unavailable, downtime, unresponsive, failed, failing,
        not working, isnt working, doesnt work, not work, stopped working, not loading,
        isnt loading, wont load, not opening, isnt opening, wont open, not responding,
        gone down, went down, fallen over, fell over, not available, is out, out again,
        out of action, out of service, no ice, without ice, have no ice, got no ice""",
    # Trouble that may or may not be an outage: ask which situation applies.
    "trouble": """error, errors, issue, issues, problem, problems, trouble, playing up,
        acting up, slow, stuck, loading, spinning, blank, blank screen, glitch, glitching,
        glitchy, timing out, timeout, times out, hanging, frozen, freezing, weird, funny,
        wrong, misbehaving, laggy, lagging""",
    "access": """login, logon, log in, log on, log into, log onto, logging in, logging on,
        sign in, sign into, sign on, signin, signing in, access, accessing, locked,
        locked out, password, passwords, account, username, credentials, smartcard,
        smart card, permission, permissions, get in, get into, get on, get onto, get on to,
        let me in, let me log, let me on, let me, lets me, letting me in, letting me log,
        letting me on, letting me, authenticate, authentication, rights,
        2fa, mfa""",
    # Words that make an access word an access problem.
    "access_fault": """expired, expire, expiring, forgot, forgotten, reset, disabled, denied,
        invalid, incorrect, blocked, lost, not recognised, isnt recognised, not recognized,
        locked, locked out, reject, rejects, rejected, rejecting""",
    "negation": """cant, cannot, unable, wont, doesnt, isnt, couldnt, not, no, never, arent,
        wasnt, didnt, hasnt, havent, dont""",
    # Nobody at all can: an outage, not one person's access.
    "nobody": "nobody, no one, noone, none of us, none, all of us cant",
    "everyone": "everyone, everybody, all of us, whole, entire, every one, across, all",
    # Only this person: an access problem, not an outage.
    "only_me": """except me, but not me, not me, only me, just me, colleagues can,
        others can, everyone else can, everyone else, for others but""",
    "for_me": "for me, on my computer, on my pc",
    # Asking whether it is more than this practice: a status question.
    "others": """anyone else, anybody else, just us, only us, is it us, other practices,
        other surgeries, elsewhere, everywhere""",
    "status": "status, news, any news, any update, any updates, latest",
    # "Is ICE ok?": only in a question, where it asks about ICE for everyone.
    "fine": "ok, okay, fine, alright, all right, up, working, running",
    # An admin's verbs (only at the start of a message: "ICE was declared down" is news).
    "declare": "declare, declaring, announce, announcing, broadcast",
    # The user's own requests, or the practice's log of them.
    "mine": """my requests, my request, my orders, my order, my referrals, my referral,
        have i sent, did i send, ive sent, i have sent, have we sent, weve sent,
        what i sent, requests sent, requests ive sent""",
    "back": """back, back up, working again, works again, working now, up again,
        up and running, fixed, resolved, restored""",
    "pcn": "pcn, pcns, federation, federations, gp fed, gpfed, primary care network",
    "order": """order, orders, request, requests, requesting, referral, referrals, refer,
        form, forms, downtime form, request form""",
    "send": """send, sends, sending, submit, email, emailing, raise, place, placing, fill,
        fill in, fill out, complete, make, start, new, do, book, create""",
    # Wanting something done: "I need to request an x-ray".
    "intend": "want, wants, need, needs, like, would like, wanna, can you",
    "destination": "go, goes, going",
    "where": "where, which, wheres",
    "mailbox": """mailbox, mailboxes, inbox, address, addresses, email address,
        email addresses, mail box""",
    "helpdesk": """helpdesk, help desk, servicedesk, service desk, it desk, itdesk,
        it helpdesk, it help desk, it service desk, it support, it help, halo, halo portal,
        log a ticket, log a call, raise a ticket, log ticket""",
    "helpdesk_weak": "ticket, tickets, support, it department, borough, boroughs, portal",
    "results": "results, result, reports, alerted, alerted reports, alerted report, findings",
    "rejections": """reject, rejects, rejected, rejection, rejections, rejecting, vetting,
        vetted, bounced, bounced back, sent back, sent it back, send it back, declined,
        amend, amended, amending, amendment, changes to, change something, make a change,
        make changes""",
    "next": """what next, whats next, next steps, now what, then what, what happens,
        happens next, happens now, happens after, happens once, afterwards, epic, 72,
        72 hours, 72hrs, 72 hrs, how long, how quickly, how soon, appointment,
        appointments, booked, book it, book them, scheduled, schedule, confirm,
        confirmed, hear back""",
    "after": "after, once",
    # Changing a request that was sent: with a request word, a rejection or change asked for.
    "change": "change, changes, changing, changed",
    "sent": "sent, emailed, submitted, sending, email, send",
    "walk": """walk in, walks in, walked in, walkin, turned up, turn up, turns up,
        turning up, arrived, arrives, attended, attends, came in, at reception, went for,
        is at""",
    "not_found": """cant find, cannot find, couldnt find, cant see, not found, no record,
        no request, no referral, not on the system, not there, isnt there, havent got,
        hasnt got, dont have, do not have, have no, had no, missing, not received,
        havent received, nothing""",
    "help": """help, menu, commands, options, what can you do, how does this work,
        what do you do, how do you work""",
    "greeting": "hi, hello, hey, hiya, morning, good morning, afternoon",
    "thanks": """thanks, thank you, thank u, thankyou, thx, ty, ta, cheers, great, perfect,
        brilliant, lovely, ok, okay, got it, nice one, cool, i see, understood, will do,
        much appreciated""",
    # Phrases that mean none of their words' concepts: "down to two receptionists".
    "literal": "down to, down the, go down, going down, come down",
    "question": "is, does, has, are, anyone, anybody, any, can, will, should",
    # Words that make a message clearly about this bot's subject.
    "radiology": """radiology, radiologist, imaging, scan, scans, downtime, referrals,
        procedure, bcp""",
}

# Other systems: a message about them is not about ICE access or an ICE outage.
_OTHER_SYSTEMS = """emis, emis web, systmone, system one, s1, vision, teams, outlook, nhsmail,
    nhs mail, windows, computer, computers, pc, laptop, printer, printers, wifi, wi fi,
    internet, network, phone lines, lines, phones, fax, docman, accurx, website, server,
    spine, ers"""

# Near these words "ice" is frozen water, not the ordering system.
_ICE_THE_SUBSTANCE = """cream, creams, cube, cubes, machine, maker, pack, packs, lolly,
    lollies, rink, skating, skate, bucket, drinks, drink, fridge, freezer, cold, road,
    roads, pavement, car, park, snow, frost, icy, slippery, breaker, storm, age, bath, tea,
    coffee, water, dry, black, thin, van"""

# Words with no meaning of their own here. A message made only of these and known
# words may be read from its weak cues; any other word is "foreign".
_NEUTRAL = _spaced("""
a an the and or but so then to of for from in on at by with about into onto as up is are
was were be been being am it its this that these those there here i im ive id me my mine
we weve were our ours us you your u they theyre them their he she his her do does did
doing done have has had having can could would should will shall may might must need needs
needed want wants wanted please pls plz just now again today still also too very really
all any some get got getting go going went come comes coming came know tell let see seems
seem seemed look looks looking think use using used try trying tried keep keeps kept what
whats when where which who whos why how if else other than such same own more most only
even ever yet already soon since ago mins minutes min hour hours hrs day days week tonight
thing things something anything nothing everything stuff way number numbers phone ring
call contact say says said told give given find put take apply applies applied procedure
process change changes changed receive receives received much many lot lots patient
patients practice practices surgery gp gps doctor doctors dr nurse admin reception
receptionist team staff hospital hospitals department departments trust trusts radiology
site sites request form system email emails message messages reply replies someone
somebody person people colleague colleagues work works working worked while during until
till meanwhile urgent routine non normal usual usually quick quickly long time times held
hold holding delayed delay late through via whole part right left yesterday sorry bit one
two three four five first second next last new old chest knee hip abdomen abdo pelvis
spine lumbar cervical shoulder hand foot ankle wrist elbow neck head arm leg thyroid liver
kidney kidneys renal breast testes scrotal
within without before between under over against towards near per
""")

# Commands: a message starting with one of these words (optionally "/") is that command,
# unless the rest of the message asks something else ("request bounced back").
_COMMANDS: dict[str, tuple[Intent, frozenset[str]]] = {
    "help": (Intent.HELP, frozenset({"help"})),
    "helpdesk": (Intent.HELPDESK, frozenset({"helpdesk", "helpdesk_weak"})),
    "servicedesk": (Intent.HELPDESK, frozenset({"helpdesk", "helpdesk_weak"})),
    "mailbox": (Intent.MAILBOX, frozenset({"mailbox"})),
    "mailboxes": (Intent.MAILBOX, frozenset({"mailbox"})),
    "results": (Intent.RESULTS, frozenset({"results"})),
    "rejections": (Intent.REJECTIONS, frozenset({"rejections"})),
    "next": (Intent.NEXT, frozenset({"next"})),
    "order": (Intent.ORDER, frozenset({"order", "send"})),
    "request": (Intent.ORDER, frozenset({"order", "send"})),
    "down": (Intent.ICE_TRIAGE, frozenset({"down"})),
    "access": (Intent.ICE_ACCESS, frozenset({"access"})),
    "pcn": (Intent.ICE_PCN, frozenset({"pcn"})),
    "status": (Intent.ICE_STATUS, frozenset({"status"})),
}
# Commands that do something to everyone: only as a slash command picked on purpose
# ("/outage ..."), never from a word in a sentence ("outage" alone is someone's outage).
_SLASH_ONLY: dict[str, Intent] = {
    "outage": Intent.INCIDENT_DECLARE,
    "restored": Intent.INCIDENT_RESTORE,
    "restore": Intent.INCIDENT_RESTORE,
}
# "log" as a word of its own ("log in", "log a ticket" are phrases of their own), and
# the words that say which log: the practice's downtime log.
_LOG_WORDS = frozenset({"log", "logs", "logbook"})
_LOG_OF = frozenset({"practice", "downtime", "outage", "incident", "our", "surgery", "ice"})
# Concepts that mean the message asks something of its own.
_ASKING = frozenset(
    {"ice", "down", "trouble", "access", "pcn", "results", "rejections", "next", "walk"}
    | {"not_found", "helpdesk", "mailbox", "order", "status", "others", "back"}
)

_DICTATION = re.compile(r"\b(full stop|period|comma|new line|new paragraph|exclamation mark)\b")
_QUESTION_MARK_WORDS = re.compile(r"\bquestion mark\b")
_APOSTROPHE = re.compile(r"(\w)['\u2019](t|s|re|ve|m|ll|d)\b")
_TOKEN = re.compile(r"[a-z0-9?]+")
# Voice typing hears "ICE" as "I see": fold it back when what follows is about a system.
_VOICE_ICE = re.compile(
    r"\bi see (?=(is|isnt|has|hasnt|keeps|wont|not|down|crashed|crashing|system|says|login|"
    r"password|account|just|still|broken)\b)"
)
_UPPER_IT = re.compile(r"\bIT\b")
# "IT" in capitals is the IT department, "it" is a pronoun: the first becomes this token
# (an underscore never survives tokenising, so typed text cannot produce it).
_IT_DEPARTMENT = "it_department"
# Words after which "email" is a noun, the address: "the email for guys", "kings email".
_EMAIL_NOUN_BEFORE = frozenset({"the", "radiology", "referrals", "referral", "department"})
_EMAIL_NOUN_AFTER = frozenset({"for", "address", "addresses", "please", "pls"})


def _words(listing: str) -> list[str]:
    return [" ".join(w.split()) for w in listing.split(",") if w.strip()]


def _join(phrase: str) -> str:
    """A phrase as one token: spaces become underscores, which typed text never contains."""
    return "_".join(phrase.split())


def _fold(text: str) -> str:
    """Lower case, apostrophes and dictation folded, before tokenising."""
    department = _UPPER_IT.search(text) is not None and not text.isupper()
    lowered = text.lower().replace("\u2019", "'").replace("u/s", "us")
    lowered = _QUESTION_MARK_WORDS.sub(" ? ", lowered)
    lowered = _DICTATION.sub(" ", lowered)
    lowered = _APOSTROPHE.sub(r"\1\2", lowered)  # can't -> cant, king's -> kings
    lowered = lowered.replace("?", " ? ")
    lowered = _VOICE_ICE.sub("ice ", lowered)
    return f"{lowered} {_IT_DEPARTMENT}" if department else lowered


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """Every word the parser knows, compiled once from the tables above and the vocabulary."""

    phrases: re.Pattern[str]
    meaning: Mapping[str, frozenset[str]]
    trust_of: Mapping[str, str]
    site_of: Mapping[str, str]
    modality_of: Mapping[str, str]
    needs_context: frozenset[str]
    borough_of: Mapping[str, str]
    other_area_of: Mapping[str, str]
    other_system: frozenset[str]
    ice_substance: frozenset[str]
    #: Every single word the parser knows: typos are corrected towards these.
    known: frozenset[str]
    #: Known words long enough to be matched with a typo.
    correctable: tuple[str, ...]

    def is_name(self, token: str) -> bool:
        return any(
            token in table
            for table in (
                self.trust_of,
                self.site_of,
                self.modality_of,
                self.borough_of,
                self.other_area_of,
            )
        )

    def is_place(self, token: str) -> bool:
        return token in self.trust_of or token in self.site_of


@cache
def _lexicon() -> _Lexicon:
    concepts = {name: _words(listing) for name, listing in _CONCEPTS.items()}
    meaning: dict[str, set[str]] = {}
    for name, words in concepts.items():
        for word in words:
            meaning.setdefault(_join(word), set()).add(name)
    # A phrase also means what its words mean: "dont have" is a negation too.
    for token in [t for t in meaning if "_" in t and "literal" not in meaning[t]]:
        for part in token.split("_"):
            meaning[token] |= meaning.get(part, set())
    names = {
        "trust": {_join(w): t.id for t in TRUSTS for w in t.words},
        "site": {_join(w): s.id for s in SITES for w in s.words},
        "modality": {_join(w): m.id for m in MODALITIES for w in m.words},
        "borough": {_join(w): b.name for b in COVERED_BOROUGHS for w in b.words},
        "other": {_join(w): b.name for b in OTHER_AREAS for w in b.words},
    }
    systems = _words(_OTHER_SYSTEMS)
    substance = _words(_ICE_THE_SUBSTANCE)
    every_phrase = [w for words in concepts.values() for w in words] + systems
    every_phrase += [p.replace("_", " ") for table in names.values() for p in table]
    multi = sorted({p for p in every_phrase if " " in p}, key=lambda p: (-p.count(" "), -len(p)))
    known = {part for phrase in every_phrase for part in phrase.split()}
    known |= _NEUTRAL | set(substance)
    # Place names outside the six are matched only as typed: "survey" is not "Surrey".
    exact_only = {part for phrase in names["other"] for part in phrase.split("_")}
    return _Lexicon(
        phrases=re.compile(r"\b(" + "|".join(re.escape(p) for p in multi) + r")\b"),
        meaning={w: frozenset(c) for w, c in meaning.items()},
        trust_of=names["trust"],
        site_of=names["site"],
        modality_of=names["modality"],
        needs_context=frozenset(_join(w) for m in MODALITIES for w in m.needs_context),
        borough_of=names["borough"],
        other_area_of=names["other"],
        other_system=frozenset(_join(w) for w in systems),
        ice_substance=frozenset(substance),
        known=frozenset(known),
        correctable=tuple(sorted(w for w in known - exact_only if len(w) >= 4 and not w.isdigit())),
    )


def prepare() -> None:
    """Compile the lexicon now (about 20 ms), at start-up rather than in the first turn."""
    _lexicon()


def normalise(text: str) -> list[str]:
    """Word tokens: lower case, typos of known words corrected, known phrases joined by "_"."""
    lexicon = _lexicon()
    tokens = [_correct(t) or t for t in _TOKEN.findall(_fold(text))]
    return lexicon.phrases.sub(lambda m: _join(m.group(1)), " ".join(tokens)).split()


@lru_cache(maxsize=8192)
def _correct(token: str) -> str | None:
    """The known word this token is a typo of ("ultrasund" -> "ultrasound"), if any.

    One edit for words of 5 to 9 letters, two from 10; a four-letter word only
    by swapping two letters ("dwon"), since one changed letter makes too many
    other words ("town", "dawn").
    """
    lexicon = _lexicon()
    if token in lexicon.known or token.isdigit() or len(token) < 4:
        return None
    if len(token) == 4:
        swaps = (w for w in lexicon.correctable if len(w) == 4 and sorted(w) == sorted(token))
        return next((w for w in swaps if OSA.distance(token, w) == 1), None)
    limit = 2 if len(token) >= 10 else 1
    best: tuple[int, str] | None = None
    for word in lexicon.correctable:
        if len(word) < 5 or abs(len(word) - len(token)) > limit:
            continue
        distance = OSA.distance(token, word, score_cutoff=limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, word)
    return best[1] if best else None


@dataclass(slots=True)
class _Reading:
    """What the tokens of one message mean."""

    tokens: list[str]
    concepts: set[str] = field(default_factory=set)
    slots: dict[str, str] = field(default_factory=dict)
    #: Words the bot does not know ("printer", "lunch"): weak cues do not count with them.
    foreign: int = 0
    other_system: bool = False
    question: bool = False
    #: The message started with "/": a quick command picked from Teams' suggestions.
    slashed: bool = False

    def has(self, *concepts: str) -> bool:
        return any(c in self.concepts for c in concepts)

    @property
    def named(self) -> bool:
        """A trust, a site or a modality was named."""
        return any(s in self.slots for s in (Slot.TRUST, Slot.MODALITY, Slot.SITE))


def _read(tokens: list[str]) -> _Reading:
    lexicon = _lexicon()
    reading = _Reading(tokens)
    substance = any(t in lexicon.ice_substance for t in tokens)
    for index, token in enumerate(tokens):
        meaning = lexicon.meaning.get(token, frozenset())
        if token in lexicon.ice_substance or not (
            meaning or token in lexicon.known or lexicon.is_name(token) or token.isdigit()
        ):
            reading.foreign += token != "?"
        reading.other_system |= token in lexicon.other_system
        reading.concepts |= meaning - {"ice"} if substance else meaning
        before = tokens[index - 1] if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "email" and _email_is_the_address(before, after, lexicon):
            reading.concepts.add("mailbox")
        if token in lexicon.needs_context and not any(
            lexicon.is_place(n) or {"mailbox", "order", "send"} & lexicon.meaning.get(n, set())
            for n in (before, after)
        ):
            continue
        _name(token, lexicon, reading.slots)
    reading.question = "?" in tokens or "question" in lexicon.meaning.get(tokens[0], ())
    return reading


def _email_is_the_address(before: str, after: str, lexicon: _Lexicon) -> bool:
    """ "the email for guys", "kings ultrasound email": the mailbox, not the verb."""
    return (
        before in _EMAIL_NOUN_BEFORE
        or after in _EMAIL_NOUN_AFTER
        or lexicon.is_name(before)
        or (after == "" and before != "")
    )


def _name(token: str, lexicon: _Lexicon, slots: dict[str, str]) -> None:
    """Fill the first trust, site, modality and borough the message names."""
    if (site := lexicon.site_of.get(token)) and Slot.SITE not in slots:
        slots[Slot.SITE] = site
        slots.setdefault(Slot.TRUST, next(s.trust for s in SITES if s.id == site))
    if (trust := lexicon.trust_of.get(token)) and Slot.TRUST not in slots:
        slots[Slot.TRUST] = trust
    if (chosen := lexicon.modality_of.get(token)) and Slot.MODALITY not in slots:
        slots[Slot.MODALITY] = chosen
    if (borough := lexicon.borough_of.get(token)) and Slot.BOROUGH not in slots:
        slots[Slot.BOROUGH] = borough
    if (area := lexicon.other_area_of.get(token)) and Slot.OTHER_BOROUGH not in slots:
        slots[Slot.OTHER_BOROUGH] = area


def _command(reading: _Reading) -> Intent | None:
    """A quick command: its word first, with a slash or with nothing else being asked."""
    word = reading.tokens[0]
    found = _COMMANDS.get(word) or _COMMANDS.get(_correct(word) or "")
    if found is None:
        return None
    intent, own = found
    if reading.slashed:
        return intent
    rest = _read(reading.tokens[1:]) if len(reading.tokens) > 1 else None
    if rest is None:
        return intent
    if reading.foreign or (rest.concepts & _ASKING) - own:
        return None
    return intent


def _ice(r: _Reading) -> Intent:
    """The situation when the message is about ICE itself."""
    problem = r.has("down", "trouble", "negation", "access")
    if r.has("pcn"):
        return Intent.ICE_PCN
    if _status_question(r):
        return Intent.ICE_STATUS
    if r.has("back") and not problem:
        return Intent.ICE_BACK
    if r.has("access") and r.has("nobody"):
        return Intent.ICE_DOWN
    if _access_problem(r):
        return Intent.ICE_ACCESS
    if info := _information(r):
        return info
    if r.has("down") and not r.question and not r.has("for_me"):
        return Intent.ICE_DOWN
    if r.has("helpdesk"):
        return Intent.HELPDESK
    if not problem and (r.has("mailbox") or (r.named and r.has("where", "send"))):
        return Intent.MAILBOX
    return Intent.ICE_TRIAGE


def _status_question(r: _Reading, *, about_ice: bool = True) -> bool:
    """ "Is ICE down?", "is it just us?", "is ICE back?": whether an outage is declared.

    Not when the question is about the asker alone ("is it just me?"), asks how
    to do something (a mailbox, an order), or names a trust or modality.
    """
    if r.has("status") and not r.has("negation", "down", "trouble", "access", "back"):
        return not r.has("order", "mailbox", "helpdesk", "send", "where") and not r.named
    cues = ("down", "trouble", "back", "others", "status") + (("fine",) if about_ice else ())
    if not r.question or not r.has(*cues):
        return False
    if r.has("for_me", "only_me", "access", "order", "mailbox", "helpdesk", "send", "where"):
        return False
    return not r.named


def _admin_command(r: _Reading) -> Intent | None:
    """/outage, /restored, or "declare an outage" / "announce ICE is back" said first."""
    first = r.tokens[0]
    if r.slashed:
        found = _SLASH_ONLY.get(first) or _SLASH_ONLY.get(_correct(first) or "")
        if found is not None:
            return found
    words = r.tokens[1:] if first in ("please", "pls") and len(r.tokens) > 1 else r.tokens
    if "declare" not in _lexicon().meaning.get(words[0], ()):
        return None
    rest = _read(words[1:]) if len(words) > 1 else None
    if rest is not None and rest.has("back"):
        return Intent.INCIDENT_RESTORE
    if rest is not None and rest.has("down"):
        return Intent.INCIDENT_DECLARE
    return None


def _log_request(r: _Reading) -> Intent | None:
    """ "my requests" (what I sent) and "practice log" (what our practice sent)."""
    if _LOG_WORDS & set(r.tokens) and (len(r.tokens) == 1 or _LOG_OF & set(r.tokens)):
        return Intent.PRACTICE_LOG
    if r.has("mine") and not r.has("send", "intend", "rejections", "results", "walk"):
        return Intent.MY_REQUESTS
    return None


def _access_problem(r: _Reading) -> bool:
    if r.has("only_me"):
        return True
    return r.has("access") and r.has("negation", "access_fault", "down", "trouble", "not_found")


def _information(r: _Reading) -> Intent | None:
    """Questions about what happens around a request, in the order of events."""
    patient_there = r.has("walk") or any(t in ("patient", "hospital") for t in r.tokens)
    if r.has("walk") and r.has("not_found", "order"):
        return Intent.WALK_IN
    if r.has("not_found") and r.has("order") and (patient_there or r.has("radiology")):
        return Intent.WALK_IN
    if r.has("rejections") or (r.has("change") and r.has("order")):
        return Intent.REJECTIONS
    if r.has("results"):
        return Intent.RESULTS
    if r.has("next") or (r.has("after") and r.has("sent")):
        return Intent.NEXT
    return None


def _decide(r: _Reading) -> Intent:
    if (admin := _admin_command(r)) is not None:
        return admin
    if (logged := _log_request(r)) is not None:
        return logged
    command = _command(r)
    if command is not None and not (command is Intent.HELP and r.has("ice")):
        return command
    if r.has("ice") or (r.has("system") and r.has("order", "radiology")):
        return _ice(r)
    if r.has("pcn") and (r.foreign == 0 or r.has("order", "radiology", "down")):
        return Intent.ICE_PCN
    # Weak cues count only when every word is known (one unknown word is allowed
    # when the message names a trust, site or modality, or says "radiology").
    strong = r.has("helpdesk") or (r.has("mailbox") and r.named)
    if r.foreign > (1 if r.has("radiology") else 0) and not strong:
        return Intent.UNKNOWN
    if not r.other_system:
        if r.has("access") and r.has("nobody"):
            return Intent.ICE_TRIAGE
        if _access_problem(r):
            return Intent.ICE_ACCESS
    if info := _information(r):
        return info
    if r.has("helpdesk", "helpdesk_weak") or {Slot.BOROUGH, Slot.OTHER_BOROUGH} & r.slots.keys():
        return Intent.HELPDESK
    if r.has("mailbox") or (r.has("where") and r.has("send", "destination")):
        return Intent.MAILBOX
    if r.has("order") and (r.has("send", "intend") or r.tokens[0] in ("refer", "book")):
        return Intent.ORDER
    if r.named:
        return Intent.ORDER if r.tokens[0] in ("refer", "book", "request") else Intent.MAILBOX
    if _status_question(r, about_ice=r.has("system")) and not r.other_system:
        return Intent.ICE_STATUS
    if r.has("down", "trouble") and not r.other_system:
        return Intent.ICE_TRIAGE
    if r.has("thanks"):
        return Intent.THANKS
    if r.has("help", "greeting"):
        return Intent.HELP
    return Intent.UNKNOWN


# The slots each intent acts on: "helpdesk bromley for a kings xray" names a trust
# the helpdesk answer does not use, so it is not part of what the message meant.
_SLOTS_USED: Mapping[Intent, frozenset[str]] = {
    Intent.MAILBOX: frozenset({Slot.TRUST, Slot.MODALITY, Slot.SITE}),
    Intent.ORDER: frozenset({Slot.TRUST, Slot.MODALITY, Slot.SITE}),
    Intent.HELPDESK: frozenset({Slot.BOROUGH, Slot.OTHER_BOROUGH}),
    Intent.ICE_ACCESS: frozenset({Slot.BOROUGH, Slot.OTHER_BOROUGH}),
    # The text sent with a completed form says where it goes and how urgent it is.
    Intent.FILE: frozenset({Slot.TRUST, Slot.MODALITY, Slot.PRIORITY}),
}
#: What an intent not listed above keeps: every name it mentions, but never a priority,
#: which only a file's text gives ("urgent results" asks about results).
_NAMES = frozenset(Slot) - {Slot.PRIORITY}
_NO_SLOTS: Mapping[str, str] = MappingProxyType({})
#: A priority named with an attached form ("urgent, guys"), as typed: read from the words
#: before typo correction, so a misspelling is never turned into a priority.
_PRIORITY_WORDS = {"urgent": "urgent", "urgently": "urgent", "routine": "routine"}
_NOT_URGENT = frozenset({"non", "not", "nonurgent"})


@lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    """Classify one message. Never raises; text it cannot place is `Intent.UNKNOWN`."""
    tokens = normalise(text or "")
    if not tokens or tokens == ["?"]:
        return Parsed(Intent.UNKNOWN, _NO_SLOTS)
    reading = _read(tokens)
    reading.slashed = text.lstrip().startswith("/")
    intent = _decide(reading)
    if intent in (Intent.UNKNOWN, Intent.THANKS, Intent.HELP):
        return Parsed(intent, _NO_SLOTS)
    return _with_slots(intent, reading.slots)


@lru_cache(maxsize=1024)
def parse_for(intent: Intent, text: str) -> Parsed:
    """The slots a message names for an intent chosen without its words.

    The router chooses `Intent.FILE` when a message carries a file: its text
    ("kings ultrasound", "urgent, guys") only says where the form goes and how
    urgent it is, so it is read for those and never for another intent.
    """
    tokens = normalise(text or "")
    slots = dict(_read(tokens).slots) if tokens and tokens != ["?"] else {}
    if Slot.PRIORITY in _SLOTS_USED.get(intent, ()) and (priority := _priority(text or "")):
        slots[Slot.PRIORITY] = priority
    return _with_slots(intent, slots)


def _with_slots(intent: Intent, found: Mapping[str, str]) -> Parsed:
    used = _SLOTS_USED.get(intent, _NAMES)
    slots = {k: v for k, v in found.items() if k in used}
    if Slot.BOROUGH in slots:
        slots.pop(Slot.OTHER_BOROUGH, None)
    return Parsed(intent, MappingProxyType(slots))


def _priority(text: str) -> str | None:
    """ "urgent" or "routine" when the words say so exactly ("non-urgent" is routine)."""
    words = _TOKEN.findall(_fold(text))
    for before, word in zip(["", *words], words, strict=False):
        if word == "nonurgent" or (word in ("urgent", "urgently") and before in _NOT_URGENT):
            return "routine"
        if word == "routine" and before == "not":
            continue  # "not routine" is not a priority the bot should guess
        if word in _PRIORITY_WORDS:
            return _PRIORITY_WORDS[word]
    return None


def query_tags(text: str) -> list[tuple[str, frozenset[str]]]:
    """Each meaningful word of a search query, with what it names or means.

    Tags are `trust:kch`, `modality:ultrasound`, `borough:Bromley`,
    `other_borough:Croydon` and `concept:results` (the concepts above). Words
    that mean nothing here ("for", "the") are left out; a word the bot does
    not know is kept with no tags, for the caller to match as typed.
    """
    lexicon = _lexicon()
    tokens = normalise(text or "")
    tagged: list[tuple[str, frozenset[str]]] = []
    for index, token in enumerate(tokens):
        if token == "?":
            continue
        tags = {f"concept:{c}" for c in lexicon.meaning.get(token, ())}
        slots: dict[str, str] = {}
        in_context = token not in lexicon.needs_context or any(
            lexicon.is_place(n) or {"mailbox", "order", "send"} & lexicon.meaning.get(n, set())
            for n in tokens[max(0, index - 1) : index + 2]
            if n != token
        )
        if in_context:
            _name(token, lexicon, slots)
        tags |= {f"{slot}:{value}" for slot, value in slots.items()}
        if tags or token not in lexicon.known:
            tagged.append((token, frozenset(tags)))
    return tagged


__all__ = ["Intent", "Parsed", "Slot", "normalise", "parse", "parse_for", "prepare", "query_tags"]
