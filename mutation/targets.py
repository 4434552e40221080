"""Which modules `make mutation` tests, and with which test files: the one table to extend.

Each module runs against its own fast test files only (not the whole suite),
so one module takes minutes. Add a module by adding one line; the test files
must be the ones that state its rules, since a mutant they do not notice is
reported as a survivor even if a slow end-to-end test elsewhere would.
`docs/coverage.md` records the last run of every row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    """A module (path from the project root) and the test files that state its rules."""

    module: str
    tests: tuple[str, ...]


TARGETS: tuple[Target, ...] = (
    Target(
        "bot/orders/validation.py",
        ("tests/test_order_validation.py", "tests/test_postcode_format.py"),
    ),
    Target("bot/directory.py", ("tests/test_directory.py",)),
    Target(
        "bot/store/outbox.py",
        (
            "tests/test_outbox.py",
            "tests/test_outbox_rules.py",
            "tests/test_store_files.py",
        ),
    ),
    Target("bot/nlu.py", ("tests/test_nlu.py", "tests/test_corpus.py")),
    # The names the parser and the form read (synonyms, paired body parts, sides): every
    # name in use (tests/corpus/vocabulary.tsv), and the form's reviewed document.
    Target(
        "bot/vocabulary.py",
        (
            "tests/test_corpus.py",
            "tests/test_nlu.py",
            "tests/test_order_rules.py",
            "tests/test_directory.py",
            "tests/test_order_fields.py",
            "tests/test_vocabulary.py",
        ),
    ),
    Target(
        "bot/orders/model.py",
        ("tests/test_order_model.py", "tests/test_order_rules.py", "tests/test_order_fields.py"),
    ),
    # The request model's other parts: the field declarations and the clinical rules.
    Target("bot/orders/fields.py", ("tests/test_order_fields.py", "tests/test_order_model.py")),
    Target("bot/orders/rules.py", ("tests/test_order_rules.py", "tests/test_order_model.py")),
    Target("bot/orders/errors.py", ("tests/test_order_model.py",)),
    # The one retry policy and the patient-data reminder in shared chats.
    Target("bot/backoff.py", ("tests/test_backoff.py",)),
    Target("bot/privacy.py", ("tests/test_privacy.py",)),
    # File forwarding: what a received file is, and where it may be fetched from.
    Target("bot/files/content.py", ("tests/test_files.py",)),
    Target("bot/files/download.py", ("tests/test_files.py",)),
    # The incident log: a practice's log goes only to its own remembered mailbox, lists
    # only its own requests in the outage's window, and never shows more than a masked
    # NHS number; one incident open at a time; every conversation told once. Their fast
    # rule tests, not the end-to-end file (14 s a run, so hours per module).
    Target("bot/incidents/downtime_log.py", ("tests/test_downtime_log.py",)),
    Target(
        "bot/store/request_log.py",
        ("tests/test_request_log.py", "tests/test_incident_store.py"),
    ),
    Target("bot/store/incidents.py", ("tests/test_incident_store.py",)),
    Target("bot/store/broadcasts.py", ("tests/test_incident_store.py", "tests/test_broadcast.py")),
)
