"""The practice's downtime log as an email: a short note and the log as a CSV attachment.

Sent to the practice's own nhs.net mailbox only. The CSV has the columns the
practice log card shows (reference, who sent it, trust, department, priority,
status, times, the NHS number masked to its last four digits) and never a
patient's name. Headers carry the ODS code and the log's reference only.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from bot.mail.compose import message_id_for, safe_address, safe_reference, safe_text

SUBJECT_PREFIX = "ICE downtime practice log"


def csv_text(rows: list[list[str]]) -> str:
    """RFC 4180 CSV; a cell starting with = + - @ is prefixed with ' so a spreadsheet
    never runs it as a formula (a sender's display name comes from Teams)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[_inert(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def _inert(cell: str) -> str:
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def compose_practice_log(
    payload: dict[str, Any], reference: str, created_at: datetime, sender: str
) -> EmailMessage:
    """The email for a queued practice log (`payload` as `DowntimeLog.email` stored it)."""
    sender = safe_address(sender, "sender")
    mailbox = safe_address(str(payload["mailbox"]), "practice mailbox")
    reference = safe_reference(reference)
    ods = safe_text(str(payload["ods_code"]))
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mailbox
    message["Subject"] = f"{SUBJECT_PREFIX} | {ods} | {reference}"
    message["Date"] = format_datetime(created_at)
    message["Message-ID"] = message_id_for(reference, sender)
    message["X-ICE-Downtime-Reference"] = reference
    message.set_content(
        "\n".join(
            [
                f"The ICE downtime log for practice {ods}, as requested in Teams.",
                "",
                f"{payload['window']}.",
                f"{payload['summary']}",
                "",
                "The attached CSV lists every request sent through the ICE Downtime "
                "Assistant under this practice code in that time: reference, who sent it, "
                "trust, department, priority, status and times, and the NHS number masked "
                "to its last four digits. It holds no patient names.",
            ]
        )
        + "\n"
    )
    message.add_attachment(
        str(payload["csv"]).encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=f"{reference}.csv",
    )
    return message


__all__ = ["SUBJECT_PREFIX", "compose_practice_log", "csv_text"]
