"""Keep patient data out of logs written by libraries we do not control.

Our own log lines carry only references, ODS codes, trusts, departments,
outcomes and message ids. Some libraries log far more at DEBUG: aiosqlite and
SQLAlchemy's engine log every SQL parameter (the request payload), msrest logs
HTTP bodies (card contents). Their loggers are held at WARNING whatever
LOG_LEVEL says, so turning on debug logging can never leak a patient's details.
"""

from __future__ import annotations

import logging

CHATTY_LIBRARIES: tuple[str, ...] = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "msrest",
    "botbuilder",
    "botframework",
    "aiosmtplib",
    "mail.log",  # aiosmtpd, when a local test relay runs in-process
    "urllib3",
    # The Application Insights exporter (bot/telemetry.py): azure-core logs every
    # export's request and response headers at INFO, once a minute.
    "azure",
)


def quiet_chatty_libraries(level: int = logging.WARNING) -> None:
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(level)
