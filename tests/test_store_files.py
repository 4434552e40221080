"""Held files in the store, on SQLite and (with TEST_POSTGRES_URL) PostgreSQL.

The file is linked to its request in Send's own transaction, read back with
the worker's claim byte for byte, and purged in the same transaction as the
request's payload.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.store.files import ReceivedFiles
from bot.store.outbox import FileGone, Outbox
from tests.support.files import PDF

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CONTENT = PDF + bytes(range(256)) * 16


def request(form_id: str, user_id: str = "29:user") -> dict[str, object]:
    return {
        "form_id": form_id,
        "user_id": user_id,
        "practice_ods": "G85001",
        "trust": "kch",
        "department": "ultrasound",
        "priority": "",
        "mailbox": "kch-tr.us.reception_dh@nhs.net",
        "payload": {"kind": "file"},
        "created_at": NOW,
        "kind": "file",
    }


async def hold(files: ReceivedFiles, form_id: str, user_id: str = "29:user") -> None:
    await files.hold(
        form_id=form_id,
        user_id=user_id,
        name="Zebediahson 9990000018.pdf",
        media_type="application/pdf",
        extension="pdf",
        content=CONTENT,
        sha256="0" * 64,
        received_at=NOW,
    )


async def test_send_links_the_file_and_the_claim_returns_its_bytes(db) -> None:
    files, outbox = ReceivedFiles(db), Outbox(db)
    await hold(files, "form-1")
    submission = await outbox.submit(**request("form-1"))
    held = await files.describe("form-1")
    assert held is not None and held.reference == submission.reference
    (claimed,) = await outbox.claim_due("w", NOW + timedelta(seconds=1), 60)
    assert claimed.kind == "file" and claimed.attachment == CONTENT


@pytest.mark.parametrize("owner", ["29:someone-else", None])
async def test_no_held_file_means_nothing_is_queued(db, owner: str | None) -> None:
    files, outbox = ReceivedFiles(db), Outbox(db)
    if owner:
        await hold(files, "form-1", user_id=owner)
    with pytest.raises(FileGone):
        await outbox.submit(**request("form-1"))
    assert await outbox.claim_due("w", NOW + timedelta(seconds=1), 60) == []


async def test_purge_clears_the_file_with_the_payload_and_keeps_the_facts(db) -> None:
    files, outbox = ReceivedFiles(db), Outbox(db)
    await hold(files, "form-1")
    submission = await outbox.submit(**request("form-1"))
    await outbox.claim_due("w", NOW, 60)
    await outbox.mark_sent(submission.reference, owner="w", message_id="<m>", sent_at=NOW)
    assert await outbox.purge(NOW + timedelta(days=13), 14) == 0
    assert await files.content(submission.reference) == CONTENT
    assert await outbox.purge(NOW + timedelta(days=15), 14) == 1
    assert await files.content(submission.reference) is None
    held = await files.describe("form-1")
    assert held is not None and held.purged and held.name == "" and held.size == len(CONTENT)
