"""A completed trust form attached in Teams: the file, the app mailing it, the two cards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.application import RUNTIME
from tests.support.cards import assert_valid_card
from tests.support.files import PDF, file_attachment
from tests.support.smtp import ScriptedSmtp, SmtpTestServer, smtp_settings
from tests.support.teams import BotHarness, Turn, activity, find_action

GSTT = "gst-tr.radiologyreferrals@nhs.net"
PRACTICE = {
    "practice_name": "Test Medical Practice",
    "practice_ods": "G85001",
    "practice_email": "test.practice@nhs.net",
}
#: A form as big as a real scanned one, every byte value in it.
FORM = PDF + bytes(range(256)) * 400


def mail_settings(smtp: SmtpTestServer | ScriptedSmtp, **overrides: Any) -> dict[str, Any]:
    """The app mailing `smtp` at test timescales, fetching files from the loopback server."""
    return smtp_settings(smtp, **{"file_download_hosts": ("127.0.0.1",), **overrides})


async def attach(bot: BotHarness, url: str, text: str | None = None, **kwargs: Any) -> Turn:
    extra = {"attachments": [file_attachment(url)]}
    return await bot.post(activity(bot.service_url, text=text, extra=extra, **kwargs))


async def routed(bot: BotHarness, url: str, text: str = "kings ultrasound urgent", **choice: Any):
    """Attach, then Next with the choices: the review turn and the first card's data."""
    first = (await attach(bot, url, text)).only_card
    assert_valid_card(first)
    data = {**find_action(first, "forward.review")["data"], **PRACTICE, **choice}
    data.setdefault("trust", "kch")
    data.setdefault("modality", "ultrasound")
    return first, await bot.execute("forward.review", data)


def rows(bot: BotHarness, table: Any) -> Any:
    runtime = bot.client.app[RUNTIME]

    async def read() -> list[Any]:
        async with runtime.db.sessions() as session:
            return list(await session.scalars(select(table)))

    return read
