"""The directory must say exactly what the BCP document says.

`bot/data/bcp-source.txt` is a verbatim copy of the practices' BCP document
(shared/seed). Every mailbox, phone number, portal and email address in it must
appear in the directory, attached to the right borough, trust or modality, and
the directory must contain no address the BCP does not.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.directory import DEFAULT_PATH, Directory, load_directory
from bot.vocabulary import BOROUGHS, SITE_BY_ID, SITES, canonical_borough

BCP = (Path(DEFAULT_PATH).parent / "bcp-source.txt").read_text(encoding="utf-8")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
URL = re.compile(r"https?://[^\s>)\]]+")
PHONE = re.compile(r"\b0\d{3} ?\d{3} ?\d{4}\b|\b0\d{2} \d{4} \d{4}\b")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory()


def _directory_emails(directory: Directory) -> set[str]:
    emails = {desk.email for desk in directory.service_desks}
    emails |= {d.mailbox for t in directory.trusts for d in t.departments}
    emails |= {r.mailbox for r in directory.results}
    return set(emails)


def test_every_address_in_the_bcp_is_in_the_directory_and_no_other(directory: Directory) -> None:
    assert _directory_emails(directory) == set(EMAIL.findall(BCP))


def test_every_portal_in_the_bcp_is_in_the_directory(directory: Directory) -> None:
    assert {d.portal_url for d in directory.service_desks} == set(URL.findall(BCP))


def test_every_phone_number_in_the_bcp_is_in_the_directory(directory: Directory) -> None:
    assert {d.phone for d in directory.service_desks} == set(PHONE.findall(BCP))


def _section(start: str, end: str) -> str:
    return BCP[BCP.index(start) : BCP.index(end, BCP.index(start))]


@pytest.mark.parametrize("borough", BOROUGHS)
def test_each_borough_gets_the_desk_the_bcp_lists_for_it(
    directory: Directory, borough: str
) -> None:
    sel = _section("For Bexley, Greenwich", "For Bromley")
    bromley = _section("For Bromley", "Placing an offline order")
    desk = directory.desk_for(borough)
    assert desk is not None
    block = bromley if borough == "Bromley" else sel
    assert borough in block.split("details are")[0]
    assert desk.phone in block and desk.email in block and desk.portal_url in block


@pytest.mark.parametrize(
    ("trust", "department", "label"),
    [
        ("kch", "xray", "X-ray"),
        ("kch", "ultrasound", "Ultrasound"),
        ("kch", "fluoroscopy", "Fluoroscopy"),
    ],
)
def test_kch_mailbox_per_modality_matches_bcp(
    directory: Directory, trust: str, department: str, label: str
) -> None:
    found = re.search(rf"{label}: (\S+@nhs\.net)", BCP)
    assert found is not None
    assert directory.department(trust, department).mailbox == found.group(1)


def test_gstt_single_mailbox_matches_bcp(directory: Directory) -> None:
    found = re.search(r"For GSTT: (\S+@nhs\.net)", BCP)
    assert found is not None
    gstt = directory.trust("gstt")
    assert gstt.single_mailbox
    assert [d.mailbox for d in gstt.departments] == [found.group(1)]
    assert directory.department("gstt", "mri").mailbox == found.group(1)


def test_kch_has_no_route_for_unlisted_modalities(directory: Directory) -> None:
    for modality in ("ct", "mri", "nuclear_medicine", "dexa"):
        assert directory.department("kch", modality) is None


def test_results_mailboxes_match_bcp(directory: Directory) -> None:
    non_urgent = _section("1. Non-Urgent Results", "2. Alerted reports")
    alerted = BCP[BCP.index("2. Alerted reports") :]
    by_id = {r.id: r for r in directory.results}
    assert by_id["non-urgent"].mailbox in non_urgent
    assert by_id["alerted"].mailbox in alerted
    assert all(r.no_reply for r in directory.results)
    assert "should not reply" in non_urgent and "should not reply" in alerted


def test_forms_are_named_as_in_bcp(directory: Directory) -> None:
    for trust in directory.trusts:
        assert trust.form_name in BCP
        assert trust.name in BCP
        assert f"For {trust.bcp_name}:" in BCP


# The BCP as a reader sees it: list markup and bullets gone, white space collapsed.
READABLE_BCP = " ".join(re.sub(r"<[^>]+>|•", " ", BCP).split())


def _quoted(text: str) -> list[str]:
    """The BCP's words in a directory sentence: [insertions] dropped, split at "…"."""
    without = re.sub(r"\s*\[[^\]]*\]", "", text)
    return [" ".join(part.split()) for part in without.split("…") if part.strip()]


def _sentences(directory: Directory) -> dict[str, str]:
    """Every sentence the bot shows as procedure, by where it lives in the data file."""
    found = {
        f"procedure.{name}": value
        for name, value in directory.procedure.model_dump().items()
        if name != "applies_to"
    }
    found |= {f"after_sending.{k}": v for k, v in directory.after_sending.model_dump().items()}
    found |= {f"rejections.{k}": v for k, v in directory.rejections.model_dump().items()}
    found["results_section.title"] = directory.results_section.title
    for box in directory.results:
        found |= {f"results.{box.id}.{k}": getattr(box, k) for k in ("intro", "no_reply", "note")}
    for trust in directory.trusts:
        found[f"trusts.{trust.id}.form_text"] = trust.form_text
    for desk in directory.service_desks:
        found[f"service_desks.{desk.id}.intro"] = desk.intro
    return {key: value for key, value in found.items() if value}


def test_every_procedure_sentence_is_the_bcps_word_for_word(directory: Directory) -> None:
    """Only the BCP is presented as the procedure, in its own words (docs/clinical-safety.md)."""
    for key, text in _sentences(directory).items():
        for part in _quoted(text):
            assert part in READABLE_BCP, f"{key} is not the BCP's words: {part!r}"


def test_the_word_for_word_check_catches_a_paraphrase(directory: Directory) -> None:
    paraphrase = directory.after_sending.epic_entry.replace("They will do this", "It takes")
    assert not all(part in READABLE_BCP for part in _quoted(paraphrase))


def test_procedure_texts_carry_the_bcp_rules(directory: Directory) -> None:
    assert "72 hours" in directory.after_sending.epic_entry and "72 hours" in BCP
    assert "walks in" in directory.after_sending.walk_in
    assert "only while actions are underway" in directory.procedure.access_rule
    assert "only while actions are underway" in BCP


def test_a_broken_data_file_stops_start_up(tmp_path: Path) -> None:
    broken = DEFAULT_PATH.read_text().replace('"Bromley"]', '"Bromley", "Lambeth"]')
    path = tmp_path / "directory.toml"
    path.write_text(broken)
    with pytest.raises(ValueError, match="cover each"):
        load_directory(path)


# --- the data model's own rules (a typo in the data file must stop start-up) ---------------


def _data() -> dict:
    return tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_a_trust_without_any_department_stops_start_up() -> None:
    data = _data()
    data["trusts"][0]["departments"] = []
    with pytest.raises(ValidationError, match="departments"):
        Directory.model_validate(data)


def test_a_misspelt_key_in_the_data_file_stops_start_up() -> None:
    data = _data()
    data["trusts"][1]["departments"][0]["mailboxx"] = "x@nhs.net"
    with pytest.raises(ValidationError, match="mailboxx"):
        Directory.model_validate(data)


@pytest.mark.parametrize(
    "portal",
    [
        "http://nhssel.haloitsm.com/portal/home",  # not https
        "https://",  # no address at all
        "https://nhssel.haloitsm.com/portal home",  # a space inside
        " https://haloservicedesk.com",  # a stray space before it
        "see https://haloservicedesk.com",
        "https://haloservicedesk.com (portal)",
    ],
)
def test_a_portal_must_be_one_https_address(portal: str) -> None:
    data = _data()
    data["service_desks"][0]["portal_url"] = portal
    with pytest.raises(ValidationError, match="portal_url"):
        Directory.model_validate(data)


def test_a_results_mailbox_without_a_note_has_an_empty_one() -> None:
    data = _data()
    del data["results"][1]["note"]
    assert Directory.model_validate(data).results[1].note == ""


def test_the_loaded_directory_cannot_be_changed(directory: Directory) -> None:
    """One directory serves every turn: nothing may edit it after start-up."""
    with pytest.raises(ValidationError, match="frozen"):
        directory.trusts[0].departments[0].mailbox = "someone@nhs.net"


def test_an_unknown_trust_or_department_has_no_route(directory: Directory) -> None:
    assert directory.trust("nope") is None
    assert directory.department("nope", "xray") is None
    assert directory.trust("kch").department("nope") is None
    assert directory.desk_for("Croydon") is None


@pytest.mark.parametrize("borough", BOROUGHS)
@pytest.mark.parametrize("spelling", [str.lower, str.upper, lambda b: f"  {b} "])
def test_canonical_borough_spells_each_borough_as_the_bcp_does(borough: str, spelling) -> None:
    assert canonical_borough(spelling(borough)) == borough


@pytest.mark.parametrize("typed", [None, "", "   ", "Croydon", "Brom ley", "Bromleys", "Kent"])
def test_canonical_borough_is_none_for_anything_else(typed: str | None) -> None:
    assert canonical_borough(typed) is None


def test_a_trust_the_parser_does_not_know_stops_start_up() -> None:
    data = _data()
    data["trusts"][1]["id"] = "kings"
    with pytest.raises(ValidationError, match="trusts must be"):
        Directory.model_validate(data)


def test_a_per_modality_mailbox_must_be_named_by_a_modality_id() -> None:
    data = _data()
    kch = next(t for t in data["trusts"] if not t["single_mailbox"])
    kch["departments"][0]["id"] = "x-ray"
    with pytest.raises(ValidationError, match="not modality ids"):
        Directory.model_validate(data)


def test_every_mailbox_the_bcp_names_is_known_for_what_it_is(directory: Directory) -> None:
    """A practice's reply mailbox must be its own, not one of the BCP's."""
    for trust in directory.trusts:
        for department in trust.departments:
            assert directory.mailbox_kind(str(department.mailbox)) == "a radiology"
    for box in directory.results:
        assert directory.mailbox_kind(f"  {str(box.mailbox).upper()} ") == "a results"
    for desk in directory.service_desks:
        assert directory.mailbox_kind(str(desk.email)) == "an IT service desk"
    assert directory.mailbox_kind("test.practice@nhs.net") is None


def test_every_site_staff_may_name_is_found_by_its_id_and_is_part_of_a_bcp_trust(
    directory: Directory,
) -> None:
    """A site is how "PRUH xray" reaches King's mailbox: a site the parser recognises but
    the look-up cannot find, or whose trust the BCP does not list, would route nowhere."""
    assert {site.id for site in SITES} == {"evelina", "denmark_hill", "pruh", "orpington"}
    for site in SITES:
        assert SITE_BY_ID[site.id] is site
        assert directory.trust(site.trust) is not None, site.id
