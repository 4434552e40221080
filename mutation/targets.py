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
    Target("bot/store/outbox.py", ("tests/test_outbox.py", "tests/test_outbox_rules.py")),
    Target("bot/nlu.py", ("tests/test_nlu.py",)),
    Target("bot/orders/model.py", ("tests/test_order_model.py",)),
    # The request model's other parts: the field declarations and the clinical rules.
    Target("bot/orders/fields.py", ("tests/test_order_fields.py", "tests/test_order_model.py")),
    Target("bot/orders/rules.py", ("tests/test_order_rules.py", "tests/test_order_model.py")),
    Target("bot/orders/errors.py", ("tests/test_order_model.py",)),
)
