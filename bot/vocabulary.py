"""The names the bot knows, declared once: modalities, trusts, hospital sites and boroughs.

The parser (`bot/nlu.py`), the request model and its form (`bot/orders/`), the
directory (`bot/directory.py`) and the lookup search all read these tables, so
an id written here is the id everywhere: "nuclear medicine" typed in a chat,
the form's choice and a stored request all say `nuclear_medicine`.

What each name *routes to* is not here: mailboxes, desks and forms are BCP
facts and live in `bot/data/directory.toml`. This module holds only words and
the clinical properties of a modality (ionising, may use contrast), which the
request form's safety questions need and the BCP does not give.

`words` are lower case as staff type them (apostrophes dropped, "x-ray" as
"x ray"); several words may form one phrase. A word in `needs_context` is also
an everyday word ("us", "mr") and counts only next to a trust, site or request
word ("kings us", "mailbox us", but not "can you help us").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Modality:
    """A kind of imaging, with the properties that decide the form's safety questions."""

    id: str
    name: str
    #: Uses ionising radiation: the form asks about pregnancy (IR(ME)R 2017).
    ionising: bool
    #: May use a contrast agent (iodinated, barium, gadolinium): the form asks about allergies.
    contrast: bool
    words: tuple[str, ...]
    #: An examination as a referrer writes one, shown as the request form's hint
    #: (every modality has one: the form never shows an empty "For example").
    example: str
    needs_context: tuple[str, ...] = ()


# Order is the order the request form offers them in.
MODALITIES: tuple[Modality, ...] = (
    Modality(
        "xray",
        "X-ray",
        ionising=True,
        contrast=False,
        words=(
            "xray",
            "x ray",
            "xrays",
            "x rays",
            "xr",
            "ex ray",
            "radiograph",
            "radiographs",
            "radiography",
            "plain film",
            "plain films",
            "cxr",
            "chest xray",
        ),
        example="X-ray left knee, chest X-ray",
    ),
    Modality(
        "ultrasound",
        "Ultrasound",
        ionising=False,
        contrast=False,
        words=(
            "ultrasound",
            "ultra sound",
            "ultrasounds",
            "usound",
            "uss",
            "sonography",
            "sonogram",
            "sono",
            "doppler",
            "us",
        ),
        needs_context=("us",),
        example="ultrasound abdomen, right breast",
    ),
    Modality(
        "fluoroscopy",
        "Fluoroscopy",
        ionising=True,
        contrast=True,
        words=(
            "fluoroscopy",
            "fluoro",
            "barium",
            "barium swallow",
            "barium meal",
            "barium enema",
            "contrast swallow",
            "fl",
        ),
        needs_context=("fl",),
        example="barium swallow",
    ),
    Modality(
        "ct",
        "CT",
        ionising=True,
        contrast=True,
        words=("ct", "cat scan", "ct scan", "ct scans", "computed tomography", "cts"),
        example="CT chest, abdomen and pelvis",
    ),
    Modality(
        "mri",
        "MRI",
        ionising=False,
        contrast=True,
        words=("mri", "mri scan", "mris", "magnetic resonance", "mr"),
        needs_context=("mr",),
        example="MRI lumbar spine, left knee",
    ),
    Modality(
        "nuclear_medicine",
        "Nuclear medicine",
        ionising=True,
        contrast=False,
        words=("nuclear medicine", "nuclear", "nm", "isotope", "isotope scan", "bone scan"),
        example="bone scan",
    ),
    Modality(
        "dexa",
        "DEXA",
        ionising=True,
        contrast=False,
        words=("dexa", "dxa", "dexa scan", "bone density", "densitometry"),
        example="DEXA hip and lumbar spine",
    ),
    Modality(
        "mammography",
        "Mammography",
        ionising=True,
        contrast=False,
        words=("mammography", "mammogram", "mammograms", "mammo"),
        example="bilateral mammogram",
    ),
    Modality(
        "interventional",
        "Interventional radiology",
        ionising=True,
        contrast=True,
        words=("interventional", "interventional radiology", "ir"),
        needs_context=("ir",),
        example="image-guided biopsy",
    ),
)

MODALITY_BY_ID: dict[str, Modality] = {m.id: m for m in MODALITIES}


def modality(modality_id: str | None) -> Modality | None:
    """The modality with this id, or None."""
    return MODALITY_BY_ID.get(modality_id or "")


# Body parts that come in pairs, as staff write them in an examination ("X-ray left
# knee"): when the examination names one, the request form needs the side. The bot's
# own list (anatomy, not the BCP), matched as whole words; a part missing here is
# not asked about, so the examination's hint also asks for the side
# (docs/clinical-safety.md, "Laterality").
PAIRED_BODY_PARTS: tuple[str, ...] = (
    "eye", "eyes", "orbit", "orbits", "ear", "ears",
    "shoulder", "shoulders", "clavicle", "clavicles", "collarbone", "collar bone",
    "acromioclavicular", "scapula", "scapulae", "arm", "arms", "upper arm", "humerus",
    "elbow", "elbows", "forearm", "forearms", "radius", "ulna",
    "wrist", "wrists", "scaphoid", "hand", "hands", "finger", "fingers", "thumb", "thumbs",
    "hip", "hips", "groin", "groins", "inguinal", "femur", "thigh", "thighs",
    "knee", "knees", "patella", "leg", "legs", "lower leg", "shin", "tibia", "fibula",
    "calf", "calves", "achilles", "ankle", "ankles", "foot", "feet", "heel", "heels",
    "calcaneum", "calcaneus", "toe", "toes",
    "breast", "breasts", "axilla", "axillae", "armpit",
    "kidney", "kidneys", "testis", "testes", "testicle", "testicles", "ovary", "ovaries",
)  # fmt: skip
#: Words that say the side, and the laterality each gives.
SIDE_WORDS: dict[str, str] = {
    "left": "left",
    "right": "right",
    "bilateral": "bilateral",
    "both": "bilateral",
}
_WORD = re.compile(r"[a-z]+")
_PAIRED = frozenset(PAIRED_BODY_PARTS)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def paired_part_in(text: str | None) -> str | None:
    """The first paired body part the text names ("knee" in "X-ray left knee"), or None."""
    words = _words(text or "")
    for index, word in enumerate(words):
        if index + 1 < len(words) and f"{word} {words[index + 1]}" in _PAIRED:
            return f"{word} {words[index + 1]}"
        if word in _PAIRED:
            return word
    return None


def side_in(text: str | None) -> str | None:
    """The one side the text gives ("left", "right" or "bilateral"), or None if none or several.

    "left knee" is left and "both knees" bilateral; "left knee and right hip"
    (or "left and bilateral feet") names two sides, which only the referrer can
    settle, so it gives None.
    """
    sides = {SIDE_WORDS[word] for word in _words(text or "") if word in SIDE_WORDS}
    return sides.pop() if len(sides) == 1 else None


@dataclass(frozen=True, slots=True)
class TrustWords:
    """What staff call a trust. Its names, form and mailboxes are in the directory."""

    id: str
    words: tuple[str, ...]


TRUSTS: tuple[TrustWords, ...] = (
    TrustWords(
        "gstt",
        (
            "gstt",
            "gst",
            "gsst",
            "gstft",
            "guys",
            "guys and st thomas",
            "guys and st thomass",
            "guys and thomas",
            "guys hospital",
            "st thomas",
            "st thomass",
            "saint thomas",
            "saint thomass",
            "st thomas hospital",
            "st thomass hospital",
            "thomas",
            "thomass",
            "tommys",
            "st tommys",
        ),
    ),
    TrustWords(
        "kch",
        (
            "kch",
            "kings",
            "kings college",
            "kings college hospital",
            "kings hospital",
            "kingscollege",
            "kchft",
            "kcl",
        ),
    ),
)

TRUST_IDS: frozenset[str] = frozenset(t.id for t in TRUSTS)


@dataclass(frozen=True, slots=True)
class Site:
    """A hospital site staff may name instead of its trust ("PRUH" is King's)."""

    id: str
    name: str
    trust: str
    words: tuple[str, ...]


# Only sites whose name is not already the trust's everyday name: "Guy's" and
# "King's" are how staff name the trusts themselves (see TRUSTS).
SITES: tuple[Site, ...] = (
    Site("evelina", "Evelina London", "gstt", ("evelina", "evelina london", "evelina childrens")),
    Site("denmark_hill", "Denmark Hill", "kch", ("denmark hill", "denmark hil", "denmarkhill")),
    Site(
        "pruh",
        "Princess Royal University Hospital (PRUH)",
        "kch",
        ("pruh", "princess royal", "princess royal university hospital", "princess royal hospital"),
    ),
    Site("orpington", "Orpington Hospital", "kch", ("orpington", "orpington hospital")),
)

SITE_BY_ID: dict[str, Site] = {s.id: s for s in SITES}


@dataclass(frozen=True, slots=True)
class Borough:
    """A borough and the other names staff use for its desk ("BHC" is Bromley's)."""

    name: str
    words: tuple[str, ...]


# The six boroughs the BCP covers, in the order its service desk section names them.
COVERED_BOROUGHS: tuple[Borough, ...] = (
    Borough("Bexley", ("bexley",)),
    Borough("Bromley", ("bromley", "bhc", "bromley healthcare")),
    Borough("Greenwich", ("greenwich",)),
    Borough("Lambeth", ("lambeth",)),
    Borough("Lewisham", ("lewisham",)),
    Borough("Southwark", ("southwark",)),
)

BOROUGHS: tuple[str, ...] = tuple(b.name for b in COVERED_BOROUGHS)

# Places the BCP does not cover, recognised only so the bot can say so plainly
# (and never give another borough's desk): the other London boroughs and the
# neighbouring areas practices near South East London are in.
OTHER_AREAS: tuple[Borough, ...] = (
    Borough("Barking and Dagenham", ("barking", "dagenham", "barking and dagenham")),
    Borough("Barnet", ("barnet",)),
    Borough("Brent", ("brent",)),
    Borough("Camden", ("camden",)),
    Borough("City of London", ("city of london",)),
    Borough("Croydon", ("croydon",)),
    Borough("Ealing", ("ealing",)),
    Borough("Enfield", ("enfield",)),
    Borough("Hackney", ("hackney",)),
    Borough("Hammersmith and Fulham", ("hammersmith", "fulham", "hammersmith and fulham")),
    Borough("Haringey", ("haringey",)),
    Borough("Harrow", ("harrow",)),
    Borough("Havering", ("havering",)),
    Borough("Hillingdon", ("hillingdon",)),
    Borough("Hounslow", ("hounslow",)),
    Borough("Islington", ("islington",)),
    Borough("Kensington and Chelsea", ("kensington", "chelsea", "kensington and chelsea")),
    Borough("Kingston", ("kingston", "kingston upon thames")),
    Borough("Merton", ("merton",)),
    Borough("Newham", ("newham",)),
    Borough("Redbridge", ("redbridge",)),
    Borough("Richmond", ("richmond", "richmond upon thames")),
    Borough("Sutton", ("sutton",)),
    Borough("Tower Hamlets", ("tower hamlets",)),
    Borough("Waltham Forest", ("waltham forest",)),
    Borough("Wandsworth", ("wandsworth",)),
    Borough("Westminster", ("westminster",)),
    Borough("Dartford", ("dartford",)),
    Borough("Sevenoaks", ("sevenoaks",)),
    Borough("Gravesham", ("gravesham", "gravesend")),
    Borough("Medway", ("medway",)),
    Borough("Kent", ("kent",)),
    Borough("Surrey", ("surrey",)),
    Borough("Essex", ("essex",)),
)


def canonical_borough(name: str | None) -> str | None:
    """The borough as the BCP spells it ("bromley " -> "Bromley"), or None if it is not one."""
    if not name:
        return None
    wanted = name.strip().lower()
    return next((b for b in BOROUGHS if b.lower() == wanted), None)


__all__ = [
    "BOROUGHS",
    "COVERED_BOROUGHS",
    "MODALITIES",
    "MODALITY_BY_ID",
    "OTHER_AREAS",
    "PAIRED_BODY_PARTS",
    "SIDE_WORDS",
    "SITES",
    "SITE_BY_ID",
    "TRUSTS",
    "TRUST_IDS",
    "Borough",
    "Modality",
    "Site",
    "TrustWords",
    "canonical_borough",
    "modality",
    "paired_part_in",
    "side_in",
]
