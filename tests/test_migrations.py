"""Schema migrations (bot/store/migrations), on SQLite and on PostgreSQL.

* The models and the revisions agree: autogenerate's comparison of a database
  upgraded from empty with `Base.metadata` finds nothing. A model change
  without a revision fails here.
* Data written at the first revision survives every later revision (the
  rows are inserted at `BASELINE`, rows for what each later revision added at
  that revision, the database upgraded to the head, and all read back), and a
  revision that loses rows or fails half-way is caught.
* A pre-Alembic database (the tables `create_all` made) is recognised and
  stamped, or left alone when its tables differ.
* Two upgrades at once take turns (PostgreSQL advisory lock, SQLite BEGIN
  IMMEDIATE): both succeed and there is one schema.
* Start-up: development mode migrates; production refuses (exit status 2, one
  line) a database that is empty, pre-Alembic, behind or unknown, and does not
  import Alembic when the database is current.

The PostgreSQL variants run when TEST_POSTGRES_URL is set (`.ci/run` sets it);
each creates and drops a database of its own next to that one, so the store
tests' tables there are never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.application import create_app
from bot.store import migrations
from bot.store import tables as _tables  # noqa: F401 - every table on Base.metadata
from bot.store.db import Base, Database
from bot.store.migrations import BASELINE, HEAD, LOCK_KEY, SchemaNotCurrent, upgrade
from bot.store.outbox import Outbox
from tests.support.postgres import postgres_url, scratch_postgres
from tests.support.processes import run_until_exit

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = postgres_url()
PRE_ALEMBIC = Path(__file__).parent / "support" / "pre_alembic"
REAL_SCRIPTS = migrations.SCRIPTS
NEXT = f"{int(HEAD) + 1:04d}"  # the id of a revision a test adds after the real ones


# --------------------------------------------------------------------- databases


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
    elif POSTGRES_URL:
        async with scratch_postgres() as url:
            yield url
    else:
        pytest.skip("TEST_POSTGRES_URL not set")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL not set")
    async with scratch_postgres() as url:
        yield url


async def on(url: str, work: Callable[[Connection], Any]) -> Any:
    """Run `work(connection)` in one committed transaction on a throwaway engine."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def model_differences(connection: Connection) -> list[Any]:
    """What autogenerate would write to bring this database to the models: [] when they agree."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def revisions(connection: Connection) -> list[str]:
    return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


# --------------------------------------------------------------------- models and revisions


def test_head_constant_is_the_one_head_of_the_scripts() -> None:
    """Start-up compares the database with HEAD without loading Alembic, so it must be right."""
    heads = migrations._scripts().get_heads()
    assert heads == [HEAD], (
        f"the revisions' head is {heads}: set HEAD in bot/store/migrations/__init__.py "
        "(with two heads, two branches each added a revision: renumber one after the other)"
    )


async def test_upgrade_from_empty_builds_exactly_the_models(empty_url: str) -> None:
    """The check that fails `make test` when a model changes without a revision."""
    done = await upgrade(empty_url)
    assert done.endswith(f"upgraded from empty to {HEAD}")
    assert await on(empty_url, model_differences) == [], (
        "the models and the migrations differ: write a revision with "
        '`make migration m="what changed"` (docs/operations.md#adding-a-migration)'
    )
    assert await on(empty_url, revisions) == [HEAD]
    assert (
        await upgrade(empty_url)
        == f"{make_url(empty_url).get_backend_name()} database already at {HEAD}"
    )


async def test_the_comparison_sees_a_model_change_without_a_revision(tmp_path: Path) -> None:
    """The test above can fail: a column the revisions never add is reported."""
    url = f"sqlite+aiosqlite:///{tmp_path}/drift.db"
    await upgrade(url)

    def drop_a_column(connection: Connection) -> None:
        connection.execute(text("ALTER TABLE notices DROP COLUMN last_error"))

    await on(url, drop_a_column)
    differences = await on(url, model_differences)
    assert [(kind, table, column.name) for kind, _, table, column in differences] == [
        ("add_column", "notices", "last_error")
    ]


# --------------------------------------------------------------------- data survives

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PATIENT = {"name": "Ada Testpatient", "nhs_number": "9990000018", "dob": "1970-01-01"}

#: One or more realistic rows for every table of BASELINE, by table. Ids are
#: left to the database (a PostgreSQL sequence must stay ahead of them).
BASELINE_ROWS: dict[str, list[dict[str, Any]]] = {
    "requests": [
        {
            "reference": "DT-20260301-0001",
            "form_id": "form-queued",
            "user_id": "29:user-a",
            "practice_ods": "A12345",
            "trust": "kch",
            "department": "ultrasound",
            "priority": "routine",
            "mailbox": "kch-tr.us.reception_dh@nhs.net",
            "status": "queued",
            "attempts": 2,
            "next_attempt_at": NOW + timedelta(minutes=5),
            "lease_owner": None,
            "lease_until": None,
            "message_id": None,
            "last_error": "421 try later",
            "created_at": NOW,
            "sent_at": None,
            "failed_at": None,
            "payload": {"patient": PATIENT, "clinical": {"question": "? gallstones"}},
            "purged_at": None,
        },
        {
            "reference": "DT-20260301-0002",
            "form_id": "form-sent",
            "user_id": "29:user-b",
            "practice_ods": "B23456",
            "trust": "gstt",
            "department": "xray",
            "priority": "urgent",
            "mailbox": "gst-tr.xray@nhs.net",
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": NOW,
            "lease_owner": "worker-1",
            "lease_until": NOW + timedelta(minutes=5),
            "message_id": "<DT-20260301-0002@ice-downtime>",
            "last_error": None,
            "created_at": NOW,
            "sent_at": NOW + timedelta(seconds=3),
            "failed_at": None,
            "payload": None,
            "purged_at": NOW + timedelta(days=14),
        },
    ],
    "reference_counters": [{"day": "20260301", "last": 2}],
    "confirmation_cards": [
        {
            "reference": "DT-20260301-0001",
            "user_id": "29:user-a",
            "activity_id": "1:confirmation",
            "conversation": {"conversation": {"id": "a:personal"}, "serviceUrl": "https://x/"},
            "created_at": NOW,
        }
    ],
    "notices": [
        {
            "reference": "DT-20260301-0002",
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": NOW,
            "card_told_at": NOW,
            "message_told_at": None,
            "told_at": NOW,
            "last_error": None,
        }
    ],
    "user_profiles": [
        {
            "user_id": "29:user-a",
            "borough": "bromley",
            "practice": {"name": "Test Surgery", "ods": "A12345"},
            "referrer": {"name": "Dr Test", "role": "GP"},
            "updated_at": NOW,
        }
    ],
    "conversation_refs": [
        {
            "user_id": "29:user-a",
            "reference": {"conversation": {"id": "a:personal"}},
            "updated_at": NOW,
        }
    ],
    "processed_activities": [
        {"conversation_id": "a:personal", "activity_id": "act-1", "seen_at": NOW}
    ],
}
#: Rows of tables and columns a later revision added, inserted once the database is at
#: that revision (in order): each revision's data must survive every revision after it.
LATER_ROWS: dict[str, dict[str, list[dict[str, Any]]]] = {
    # 0002: a completed trust form the user attached, held, then sent as a request of
    # kind "file"; and one attached but not sent yet.
    "0002": {
        "requests": [
            {
                "reference": "DT-20260302-0001",
                "kind": "file",
                "form_id": "form-attached",
                "user_id": "29:user-a",
                "practice_ods": "A12345",
                "trust": "kch",
                "department": "ultrasound",
                "priority": "urgent",
                "mailbox": "kch-tr.us.reception_dh@nhs.net",
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": NOW + timedelta(days=1),
                "created_at": NOW + timedelta(days=1),
                "payload": {"kind": "file", "trust": "kch", "department": "ultrasound"},
            }
        ],
        "received_files": [
            {
                "form_id": "form-attached",
                "user_id": "29:user-a",
                "name": "Testpatient Ada 9990000018.pdf",
                "media_type": "application/pdf",
                "extension": "pdf",
                "size": 14,
                "sha256": "a" * 64,
                "content": b"%PDF-1.7\n\x00\xff%%EOF",
                "received_at": NOW + timedelta(days=1),
                "reference": "DT-20260302-0001",
                "purged_at": None,
            },
            {
                "form_id": "form-held",
                "user_id": "29:user-b",
                "name": "scan.jpg",
                "media_type": "image/jpeg",
                "extension": "jpg",
                "size": 4,
                "sha256": "b" * 64,
                "content": b"\xff\xd8\xff\xe0",
                "received_at": NOW,
                "reference": None,
                "purged_at": None,
            },
        ],
        "reference_counters": [{"day": "20260302", "last": 1}],
    },
}
#: Tables a later revision replaced on purpose, with where their rows went: checked on
#: their own below rather than as lost data. 0003: each user's personal chat moved
#: into the registry of installed conversations.
MOVED = {"conversation_refs": "conversations"}
KEYS = {
    "received_files": "form_id",
    "requests": "reference",
    "reference_counters": "day",
    "confirmation_cards": "reference",
    "notices": "reference",
    "user_profiles": "user_id",
    "conversation_refs": "user_id",
    "processed_activities": "activity_id",
}


def insert_baseline_rows(connection: Connection) -> None:
    """Insert BASELINE_ROWS through the tables as the database has them now (reflected)."""
    insert_rows(connection, BASELINE_ROWS)


def insert_rows(connection: Connection, rows_by_table: dict[str, list[dict[str, Any]]]) -> None:
    schema = MetaData()
    schema.reflect(connection)
    for table, rows in rows_by_table.items():
        connection.execute(schema.tables[table].insert(), rows)


def every_row() -> dict[str, list[dict[str, Any]]]:
    """BASELINE_ROWS and every revision's LATER_ROWS, by table."""
    merged = {table: list(rows) for table, rows in BASELINE_ROWS.items()}
    for later in LATER_ROWS.values():
        for table, rows in later.items():
            merged.setdefault(table, []).extend(rows)
    return merged


def _comparable(value: Any) -> Any:
    """SQLite returns stored UTC datetimes without a zone; PostgreSQL with one."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def lost_data(
    connection: Connection, expected: dict[str, list[dict[str, Any]]] = BASELINE_ROWS
) -> list[str]:
    """Every `expected` value that is not in the database any more, as `table.key.column`."""
    schema = MetaData()
    schema.reflect(connection)
    lost = []
    for table_name, rows in expected.items():
        table = schema.tables.get(table_name)
        if table is None and table_name in MOVED:
            continue
        if table is None:
            lost.append(f"{table_name}: table gone")
            continue
        key = KEYS[table_name]
        stored = {row[key]: row for row in connection.execute(select(table)).mappings()}
        for row in rows:
            found = stored.get(row[key])
            if found is None:
                lost.append(f"{table_name}.{row[key]}: row gone")
                continue
            lost.extend(
                f"{table_name}.{row[key]}.{column}"
                for column, value in row.items()
                if column not in found or _comparable(found[column]) != _comparable(value)
            )
    return lost


async def test_data_at_the_first_revision_survives_every_later_revision(empty_url: str) -> None:
    """Rows written at BASELINE (and at each later revision, in the tables and columns it
    added) read back unchanged at the head, and the store still works."""
    await upgrade(empty_url, to=BASELINE)
    await on(empty_url, insert_baseline_rows)
    for revision, rows in LATER_ROWS.items():
        await upgrade(empty_url, to=revision)
        await on(empty_url, lambda connection, rows=rows: insert_rows(connection, rows))
    await upgrade(empty_url)
    assert await on(empty_url, lambda connection: lost_data(connection, every_row())) == []
    assert await on(empty_url, revisions) == [HEAD]

    db = Database(empty_url)
    try:
        outbox = Outbox(db, clock=lambda: NOW)
        old = await outbox.get("DT-20260301-0001")
        assert old is not None and old.payload == BASELINE_ROWS["requests"][0]["payload"]
        # 0002: requests stored before kinds existed are the bot's own form.
        assert old.kind == "form"
        # ...and a held file still goes out with its request.
        claimed = await outbox.claim_due("worker", NOW + timedelta(days=2), 60, limit=10)
        assert {(row.reference, row.kind) for row in claimed} == {
            ("DT-20260301-0001", "form"),
            ("DT-20260302-0001", "file"),
        }
        (forwarded,) = [row for row in claimed if row.kind == "file"]
        assert forwarded.attachment == LATER_ROWS["0002"]["received_files"][0]["content"]
        new = await outbox.submit(
            form_id="form-after-upgrade",
            user_id="29:user-c",
            practice_ods="C34567",
            trust="kch",
            department="xray",
            priority="routine",
            mailbox="kch-tr.xray@nhs.net",
            payload={"patient": PATIENT},
        )
        # The reference counter carried on from the old rows, not from zero.
        assert new.reference == "DT-20260301-0003"
    finally:
        await db.close()


async def test_personal_chats_move_to_the_conversation_registry(empty_url: str) -> None:
    """0003 replaces conversation_refs: each user's chat is a personal row of `conversations`;
    the requests stored before are still the bot's own form (kind `form`)."""
    await upgrade(empty_url, to=BASELINE)
    await on(empty_url, insert_baseline_rows)
    await upgrade(empty_url)

    def moved(connection: Connection) -> tuple[list[Any], list[Any]]:
        rows = connection.execute(
            text("SELECT key, kind, user_id, tenant_id, reference FROM conversations")
        ).all()
        kinds = connection.execute(text("SELECT kind FROM requests ORDER BY reference")).all()
        return rows, kinds

    rows, kinds = await on(empty_url, moved)
    (ref,) = BASELINE_ROWS["conversation_refs"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("a:personal", "personal", ref["user_id"], None)
    ]
    reference = rows[0][4]
    assert (json.loads(reference) if isinstance(reference, str) else reference) == ref["reference"]
    assert [k[0] for k in kinds] == ["form", "form"]


async def test_the_survival_check_sees_lost_rows(tmp_path: Path, extra_revision) -> None:
    """A revision that deletes data fails the check above (so that check can fail)."""
    extra_revision("op.execute('DELETE FROM user_profiles')\nop.drop_column('notices', 'told_at')")
    url = f"sqlite+aiosqlite:///{tmp_path}/lossy.db"
    await upgrade(url, to=BASELINE)
    await on(url, insert_baseline_rows)
    await upgrade(url)
    assert await on(url, lost_data) == [
        "notices.DT-20260301-0002.told_at",
        "user_profiles.29:user-a: row gone",
    ]


REVISION = '''"""A revision written by a test."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


@pytest.fixture
def extra_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Add a revision after HEAD (with the given upgrade body) to a copy of the scripts.

    The copy is used instead of the real scripts, and HEAD becomes the new
    revision's id (returned), as if a release had added it.
    """
    scripts = tmp_path / "scripts"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)

    def add(body: str) -> str:
        revision = NEXT
        text_ = REVISION.format(revision=revision, down=HEAD, body=textwrap.indent(body, "    "))
        (scripts / "versions" / f"{revision}_test.py").write_text(text_, encoding="utf-8")
        monkeypatch.setattr(migrations, "HEAD", revision)
        return revision

    return add


async def test_a_revision_that_fails_half_way_changes_nothing(
    empty_url: str, extra_revision
) -> None:
    """The whole upgrade is one transaction on both databases (SQLite: BEGIN IMMEDIATE)."""
    await upgrade(empty_url, to=BASELINE)
    await on(empty_url, insert_baseline_rows)
    extra_revision(
        "op.create_table('half_done', sa.Column('id', sa.Integer, primary_key=True))\n"
        "op.add_column('notices', sa.Column('added_by_test', sa.String(40)))\n"
        "op.execute('SELECT no_such_function()')"
    )
    with pytest.raises(Exception, match="no_such_function"):
        await upgrade(empty_url)
    assert await on(empty_url, revisions) == [BASELINE]
    assert "half_done" not in await on(empty_url, table_names)
    assert await on(empty_url, lost_data) == []

    def notices_columns(connection: Connection) -> set[str]:
        return {column["name"] for column in inspect(connection).get_columns("notices")}

    assert "added_by_test" not in await on(empty_url, notices_columns)


# --------------------------------------------------------------------- pre-Alembic databases


def create_like_before_migrations(connection: Connection) -> None:
    """The exact DDL `create_all` ran before migrations (tests/support/pre_alembic/)."""
    ddl = (PRE_ALEMBIC / f"{connection.dialect.name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    for statement in body.split(";"):
        if statement.strip():
            connection.exec_driver_sql(statement)


async def test_a_pre_alembic_database_is_stamped_then_upgraded(empty_url: str) -> None:
    await on(empty_url, create_like_before_migrations)
    await on(empty_url, insert_baseline_rows)
    done = await upgrade(empty_url)
    assert done.endswith(f"upgraded from pre-migration {BASELINE} to {HEAD}")
    assert await on(empty_url, revisions) == [HEAD]
    assert await on(empty_url, lost_data) == []
    assert await on(empty_url, model_differences) == []


async def test_a_pre_alembic_database_that_differs_is_left_alone(empty_url: str) -> None:
    def create_then_change(connection: Connection) -> None:
        create_like_before_migrations(connection)
        connection.exec_driver_sql("ALTER TABLE notices ADD COLUMN hand_made VARCHAR(10)")
        connection.exec_driver_sql("DROP INDEX ix_requests_due")

    await on(empty_url, create_then_change)
    with pytest.raises(SchemaNotCurrent) as refused:
        await upgrade(empty_url)
    message = str(refused.value)
    assert "created before the bot had migrations" in message
    assert "notices.hand_made not expected" in message and "requests: indexes differ" in message
    assert "nothing was changed" in message
    assert "alembic_version" not in await on(empty_url, table_names)


async def test_an_unknown_revision_is_refused_and_left_alone(empty_url: str) -> None:
    await upgrade(empty_url)

    def from_the_future(connection: Connection) -> None:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))

    await on(empty_url, from_the_future)
    with pytest.raises(SchemaNotCurrent, match="at revision 0999, which this release"):
        await upgrade(empty_url)
    assert await on(empty_url, revisions) == ["0999"]


# --------------------------------------------------------------------- two at once


async def test_two_upgrades_at_once_on_postgresql_take_turns(postgres_url: str) -> None:
    """Both wait on the advisory lock, then one migrates and the other finds it done."""
    holder = create_async_engine(postgres_url)
    try:
        async with holder.connect() as held:
            await held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            await held.commit()
            both = asyncio.gather(upgrade(postgres_url), upgrade(postgres_url))
            waiting = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            for _ in range(200):
                if await held.scalar(waiting) == 2:
                    break
                await held.commit()
                await asyncio.sleep(0.05)
            else:
                both.cancel()
                pytest.fail("the two upgrades never waited on the advisory lock together")
            await held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await held.commit()
            done = await both
    finally:
        await holder.dispose()
    assert sorted(done) == [
        f"postgresql database already at {HEAD}",
        f"postgresql database upgraded from empty to {HEAD}",
    ]
    assert await on(postgres_url, revisions) == [HEAD]
    assert await on(postgres_url, model_differences) == []


async def test_two_upgrades_at_once_on_one_sqlite_file_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    url = f"sqlite+aiosqlite:///{path}"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")  # the write lock both upgrades need
    both = asyncio.gather(upgrade(url), upgrade(url))
    await asyncio.sleep(0.5)
    holder.execute("ROLLBACK")
    holder.close()
    done = await both
    assert sorted(done) == [
        f"sqlite database already at {HEAD}",
        f"sqlite database upgraded from empty to {HEAD}",
    ]
    assert await on(url, model_differences) == []


# --------------------------------------------------------------------- start-up


def production(make_settings, url: str, **overrides: Any):
    return make_settings(
        dev_mode=False,
        app_id="00000000-0000-0000-0000-000000000001",
        app_password="not-a-real-secret",
        database_url=url,
        **overrides,
    )


async def test_development_mode_migrates_an_empty_database(make_bot, empty_url: str) -> None:
    bot = await make_bot(database_url=empty_url)
    assert (await bot.say("helpdesk bromley")).status == 200
    assert await on(empty_url, revisions) == [HEAD]


@pytest.mark.parametrize(
    ("prepare", "says"),
    [
        (None, "the database has no tables yet: run `make migrate`"),
        (create_like_before_migrations, "created before the bot had migrations"),
    ],
    ids=["empty", "pre-alembic"],
)
async def test_production_refuses_a_database_not_migrated(
    make_settings, aiohttp_client, empty_url: str, prepare, says: str
) -> None:
    if prepare:
        await on(empty_url, prepare)
    with pytest.raises(SchemaNotCurrent, match=says):
        await aiohttp_client(create_app(production(make_settings, empty_url)))
    assert "alembic_version" not in await on(empty_url, table_names)


async def test_production_refuses_a_database_behind_or_ahead(
    make_settings, aiohttp_client, tmp_path: Path, extra_revision, monkeypatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/behind.db"
    await upgrade(url)  # at the real HEAD
    extra_revision("op.add_column('notices', sa.Column('added_by_test', sa.String(40)))")
    with pytest.raises(SchemaNotCurrent, match=f"at revision {HEAD}, behind this release's {NEXT}"):
        await aiohttp_client(create_app(production(make_settings, url)))
    await upgrade(url)  # at NEXT
    # The previous release (the real scripts), started against the migrated database.
    monkeypatch.setattr(migrations, "SCRIPTS", REAL_SCRIPTS)
    monkeypatch.setattr(migrations, "HEAD", HEAD)
    with pytest.raises(SchemaNotCurrent, match=f"at revision {NEXT}, which this release"):
        await aiohttp_client(create_app(production(make_settings, url)))


async def test_development_mode_migrates_a_database_behind(
    make_bot, tmp_path: Path, extra_revision
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/behind.db"
    await upgrade(url)
    extra_revision("op.add_column('notices', sa.Column('added_by_test', sa.String(40)))")
    await make_bot(database_url=url)
    assert await on(url, revisions) == [NEXT]


def run_app(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """Production settings against `url`; whatever else the environment has about mail is unset."""
    return run_until_exit(
        tmp_path,
        {
            "DEV_MODE": "false",
            "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
            "MicrosoftAppPassword": "not-a-real-secret",
            "MAIL_TRANSPORT": "smtp",
            "DATABASE_URL": url,
            "PORT": "4159",
        },
        unset=[name for name in os.environ if name.lower().startswith(("microsoftapp", "mail_"))],
    )


@pytest.mark.slow
def test_app_py_exits_2_with_one_line_against_an_empty_database(tmp_path: Path) -> None:
    result = run_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "ice-downtime-assistant: refusing to start: the database has no tables yet: run "
        "`make migrate` (python -m bot.store.migrations upgrade) first"
    ]


START_AND_LIST_MODULES = """
import asyncio, sys
from aiohttp import web
from bot.application import create_app
from bot.settings import Settings

async def main():
    settings = Settings(
        _env_file=None, app_id="x", app_password="y", mail_transport="file",
        mail_compose_process=False, database_url=sys.argv[1],
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    print(sorted({name.split(".")[0] for name in sys.modules}))
    await runner.cleanup()

asyncio.run(main())
"""


@pytest.mark.slow
def test_production_start_against_a_current_database_never_imports_alembic(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    """The cold start pays for one query, not for Alembic (about 0.2 s of imports)."""
    shutil.copyfile(migrated_sqlite, tmp_path / "current.db")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            START_AND_LIST_MODULES,
            f"sqlite+aiosqlite:///{tmp_path}/current.db",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modules = result.stdout
    assert "'bot'" in modules and "'sqlalchemy'" in modules
    assert "'alembic'" not in modules and "'mako'" not in modules


# --------------------------------------------------------------------- the command line


@pytest.mark.slow
def test_make_migrate_command_upgrades_then_checks(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    env.pop("MicrosoftAppId", None)  # the release step needs only DATABASE_URL

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.store.migrations", *args],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    before = run("check")
    assert before.returncode == 2 and "no tables yet" in before.stderr
    first = run("upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"migrations: sqlite database upgraded from empty to {HEAD}\n"
    after = run("check")
    assert (after.returncode, after.stdout) == (
        0,
        f"migrations: the database is at revision {HEAD}\n",
    )
