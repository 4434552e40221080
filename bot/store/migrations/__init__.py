"""Schema migrations (Alembic): the one way the bot's tables are created and changed.

Every schema change is a revision in `versions/`; `make migration m="..."`
writes one by comparing the models with a database at the head revision, and
`tests/test_migrations.py` fails while the models and the revisions disagree.

Three ways in:

* `make migrate` (`python -m bot.store.migrations upgrade`): the production
  release step. Brings `DATABASE_URL` to the head revision; needs nothing but
  `DATABASE_URL`.
* start-up in development mode: the same upgrade, automatically.
* start-up in production: no upgrade, and no Alembic import on the way to the
  first answer. One query reads `alembic_version`; when it is not `HEAD` the
  bot refuses to start (exit status 2) with one line saying what to run.
  Alembic is loaded only then, to tell "behind" from "unknown or ahead".

An upgrade is one transaction: PostgreSQL's DDL is transactional, and the
migration engine begins SQLite transactions with `BEGIN IMMEDIATE`, so a
revision that fails leaves the database as it was. On PostgreSQL that
transaction first takes an advisory lock (`pg_advisory_xact_lock(LOCK_KEY)`):
instances started together upgrade one after the other, and the second finds
the schema current and does nothing. `BEGIN IMMEDIATE` does the same for
processes sharing one SQLite file.

A database made by `create_all` before the bot had migrations has the tables
but no `alembic_version`. The upgrade compares its tables with what revision
`BASELINE` creates (tables, columns, types, nullability, keys, indexes): when
they match it records the database as `BASELINE` (`alembic stamp`) and carries
on to the head; when they do not it changes nothing and says what differs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import event, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.store.db import begin_immediate, create_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

    from bot.settings import Settings
    from bot.store.db import Database

log = logging.getLogger(__name__)

#: The head revision of `versions/`, known without importing Alembic (start-up
#: compares the database with it). A test checks it against the scripts:
#: a new revision updates it.
HEAD = "0004"
#: The revision whose tables `create_all` made before there were migrations.
BASELINE = "0001"
#: Any fixed bigint; every instance must use the same one.
LOCK_KEY = 0x1CE_D0_17
SCRIPTS = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
_READ_REVISION = text(f"SELECT version_num FROM {VERSION_TABLE}")

Kind = Literal["current", "empty", "pre-alembic", "behind", "unknown"]


class SchemaNotCurrent(RuntimeError):
    """The database is not at this release's revision; the message says what to do."""


@dataclass(frozen=True)
class SchemaState:
    kind: Kind
    revision: str | None = None


# --------------------------------------------------------------------- start-up


async def revision_on(connection: AsyncConnection) -> str | None:
    """The database's revision in one query; None when it has none.

    None covers no `alembic_version` table (an empty or pre-Alembic
    database) and a table with no row or several (branches this code never
    makes). The failed statement is rolled back so the connection stays usable.
    """
    try:
        rows = (await connection.execute(_READ_REVISION)).all()
    except DBAPIError:
        await connection.rollback()
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


async def migrate_or_refuse(settings: Settings, db: Database) -> None:
    """Start-up: go on when the database is at `HEAD`; otherwise migrate (development) or refuse.

    Raises `SchemaNotCurrent` with the reason; `app.py` prints it and exits 2.
    """
    async with db.engine.connect() as connection:
        revision = await revision_on(connection)
    if revision == HEAD:
        return
    if settings.dev_mode:
        done = await upgrade(settings.database_url)
        log.warning("development mode: database migrated (%s)", done)
        return
    raise SchemaNotCurrent(await explain(db.engine))


async def explain(engine: AsyncEngine) -> str:
    """Why the database at `engine` is not at `HEAD`, as one line for the operator."""
    async with engine.connect() as connection:
        state = await connection.run_sync(lambda sync: _state(sync, _scripts()))
    return _refusal(state)


def _refusal(state: SchemaState) -> str:
    release_step = "run `make migrate` (python -m bot.store.migrations upgrade) first"
    if state.kind == "empty":
        return f"the database has no tables yet: {release_step}"
    if state.kind == "pre-alembic":
        return (
            "the database was created before the bot had migrations (no alembic_version "
            f"table): {release_step}; it checks the tables and records them as revision "
            f"{BASELINE}"
        )
    if state.kind == "behind":
        return (
            f"the database is at revision {state.revision}, behind this release's {HEAD}: "
            f"{release_step}"
        )
    if state.kind == "unknown":
        return (
            f"the database is at revision {state.revision or '(several)'}, which this release "
            f"(head {HEAD}) does not know: a newer release has migrated it, or it is not this "
            "bot's database. Run the newer release, or restore the backup taken before it"
        )
    # The scripts' head is not HEAD: a revision was added without updating HEAD.
    return f"the database is at the scripts' head {state.revision}, but HEAD says {HEAD}"


# --------------------------------------------------------------------- upgrade


def migration_engine(url: str) -> AsyncEngine:
    """An engine for migrations alone; on SQLite its transactions begin `BEGIN IMMEDIATE`.

    pysqlite would otherwise run each DDL statement outside any transaction,
    so a failed revision could leave half its changes. Foreign keys stay off
    (SQLite's default) because batch operations rebuild tables.
    """
    if not url.startswith("sqlite"):
        return create_async_engine(url)
    engine = create_engine(url)  # makes the file's folder; WAL and busy_timeout as the bot
    event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    begin_immediate(engine.sync_engine)
    return engine


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


async def upgrade(url: str, to: str = "head") -> str:
    """Bring the database at `url` to the head revision (or `to`); returns what was done.

    Raises `SchemaNotCurrent` (and changes nothing) for a revision this code
    does not know, or a pre-Alembic database whose tables are not `BASELINE`'s.
    """
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            done = await connection.run_sync(_upgrade, to)
            await connection.commit()
        return done
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, to: str) -> str:
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction: a second instance waits here,
        # then reads the revision the first one committed.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    scripts = _scripts()
    from alembic import command

    target = scripts.get_current_head() if to == "head" else to
    state = _state(connection, scripts)
    if state.kind == "current" or state.revision == target:
        return f"{connection.dialect.name} database already at {state.revision}"
    if state.kind == "unknown":
        raise SchemaNotCurrent(_refusal(state))
    config = _config(connection)
    if state.kind == "pre-alembic":
        expected = _baseline_shape()
        differences = _differences(expected, _shape(connection, only=set(expected)))
        if differences:
            raise SchemaNotCurrent(
                "the database was created before the bot had migrations, but its tables "
                f"are not revision {BASELINE}'s ({'; '.join(differences[:3])}); nothing was "
                "changed. Compare it with docs/architecture.md#data-model and fix it by hand"
            )
        if connection.dialect.name == "sqlite":
            _name_constraints(connection, expected)
        command.stamp(config, BASELINE)
        log.warning("pre-migration database recorded as revision %s", BASELINE)
    command.upgrade(config, to)
    start = {"empty": "empty", "pre-alembic": f"pre-migration {BASELINE}"}.get(
        state.kind, str(state.revision)
    )
    return f"{connection.dialect.name} database upgraded from {start} to {target}"


def _config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here (no alembic.ini). The first call imports Alembic."""
    # Alembic announces each of its plugins at INFO when it is imported; the
    # refusal at start-up must stay one line.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    config = _config()  # first: it quietens Alembic before importing it
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config)


def _state(connection: Connection, scripts: ScriptDirectory) -> SchemaState:
    from alembic.util import CommandError

    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables:
        from bot.store import tables as _models  # noqa: F401 - every table on Base.metadata
        from bot.store.db import Base

        ours = tables & set(Base.metadata.tables)
        return SchemaState("pre-alembic" if ours else "empty")
    revisions = [str(row[0]) for row in connection.execute(_READ_REVISION)]
    if not revisions:
        return SchemaState("empty")
    if len(revisions) > 1:
        return SchemaState("unknown")
    revision = revisions[0]
    if revision == scripts.get_current_head():
        return SchemaState("current", revision)
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    return SchemaState("behind" if known else "unknown", revision)


# ------------------------------------------------------- pre-Alembic databases


def _shape(connection: Connection, only: set[str] | None = None) -> dict[str, Any]:
    """The tables as the comparison sees them, in names and generic types only.

    Generic types (`String(200)`, `DateTime`, `JSON`) so that a PostgreSQL
    database compares equal to the SQLite scratch copy of `BASELINE`.
    Constraint names are left out: `create_all` left SQLite's unnamed.
    """
    inspector = inspect(connection)
    shape: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {VERSION_TABLE}):
        if only is not None and table not in only:
            continue
        shape[table] = {
            "columns": {
                column["name"]: (_generic(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            },
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(
                tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
                if not index.get("duplicates_constraint")
            ),
        }
    return shape


def _generic(sql_type: Any) -> str:
    generic = sql_type.as_generic()
    length = getattr(generic, "length", None)
    return f"{type(generic).__name__}({length})" if length else type(generic).__name__


def _baseline_shape() -> dict[str, Any]:
    """What revision `BASELINE` creates, built in an in-memory SQLite database."""
    from alembic import command
    from sqlalchemy import create_engine as create_sync_engine

    engine = create_sync_engine("sqlite://")
    try:
        with engine.begin() as connection:
            command.upgrade(_config(connection), BASELINE)
            return _shape(connection)
    finally:
        engine.dispose()


def _differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = [f"no table {name}" for name in expected if name not in actual]
    for name, want in expected.items():
        have = actual.get(name)
        if have is None:
            continue
        for column in want["columns"].keys() - have["columns"].keys():
            problems.append(f"{name}.{column} missing")
        for column in have["columns"].keys() - want["columns"].keys():
            problems.append(f"{name}.{column} not expected")
        for column, spec in want["columns"].items():
            if column in have["columns"] and have["columns"][column] != spec:
                problems.append(f"{name}.{column} is {have['columns'][column]}, not {spec}")
        problems.extend(
            f"{name}: {part} differ"
            for part in ("primary key", "unique", "indexes")
            if have[part] != want[part]
        )
    return problems


def _name_constraints(connection: Connection, tables: Iterable[str]) -> None:
    """Give SQLite's unnamed constraints the names a migrated database has.

    `create_all` wrote `UNIQUE (reference)` without a name on SQLite (PostgreSQL
    named it itself, with the names `NAMING_CONVENTION` now spells). A later
    revision that drops or alters such a constraint names it, so the tables are
    rebuilt (Alembic's batch copy, inside this transaction) with the names.
    """
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from bot.store.db import NAMING_CONVENTION

    operations = Operations(MigrationContext.configure(connection))
    for table in tables:
        with operations.batch_alter_table(
            table, recreate="always", naming_convention=NAMING_CONVENTION
        ):
            pass


# --------------------------------------------------------------------- new revisions


def new_revision(message: str, *, empty: bool = False) -> list[Path]:
    """Write the next revision by comparing the models with a scratch database at the head.

    The revision id is the next number (`0002`, ...), so files sort in order.
    Nothing is written when the models match the head, unless `empty` (a
    revision that only moves data). Review what autogenerate wrote: it cannot
    see renames (it writes a drop and an add) and it copies no data.
    """
    head = _scripts().get_current_head()
    from alembic import command
    from sqlalchemy import create_engine as create_sync_engine

    rev_id = f"{int(head or 0) + 1:04d}"
    with tempfile.TemporaryDirectory(prefix="icebot-migration-") as folder:
        engine = create_sync_engine(f"sqlite:///{folder}/scratch.db")
        try:
            with engine.begin() as connection:
                command.upgrade(_config(connection), "head")
            with engine.begin() as connection:
                written = command.revision(
                    _config(connection),
                    message=message,
                    autogenerate=True,
                    rev_id=rev_id,
                    process_revision_directives=None if empty else _unless_empty,
                )
        finally:
            engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    return [Path(script.path) for script in scripts if script is not None]


def _unless_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
    if directives and directives[0].upgrade_ops.is_empty():
        directives.clear()


# --------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.store.migrations",
        description="Schema migrations for the database at DATABASE_URL.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade", help="apply pending migrations (the release step)")
    commands.add_parser("check", help="exit 0 when the database is current, 2 saying why not")
    new = commands.add_parser("new", help="write the next revision from the models")
    new.add_argument("message", help="what the revision changes, e.g. 'add notices.channel'")
    new.add_argument("--empty", action="store_true", help="write it even with no schema change")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "new":
        written = new_revision(args.message, empty=args.empty)
        for path in written:
            print(f"migrations: wrote {path}; review it, set HEAD, then run the tests")
        if not written:
            print("migrations: the models match the head revision; nothing written (--empty)")
        return 0

    from bot.settings import DatabaseSettings

    url = DatabaseSettings().database_url
    try:
        if args.command == "upgrade":
            print(f"migrations: {asyncio.run(upgrade(url))}")
        else:
            asyncio.run(_check(url))
            print(f"migrations: the database is at revision {HEAD}")
    except SchemaNotCurrent as error:
        print(f"migrations: refusing: {error}", file=sys.stderr)
        return 2
    return 0


async def _check(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            revision = await revision_on(connection)
        if revision != HEAD:
            raise SchemaNotCurrent(await explain(engine))
    finally:
        await engine.dispose()


__all__ = [
    "BASELINE",
    "HEAD",
    "SchemaNotCurrent",
    "explain",
    "migrate_or_refuse",
    "revision_on",
    "upgrade",
]
