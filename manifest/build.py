"""Build the Teams app package: `python -m manifest.build [--out ZIP] [--bot-id GUID]`.

`make package` runs this. It fills the bot id into `manifest.template.json`,
generates the bot's `commandLists` and the message extension's search command
(`composeExtensions`) from the router (so Teams offers exactly what the bot
handles), validates the result against the official
schema and only then writes a zip with manifest.json, color.png and
outline.png at its root, which is what Teams' "Upload a custom app" and the
Teams admin center accept.

Why manifest schema v1.24 and not the newest stored (v1.29): everything this
bot uses (a conversational bot in personal, team and group chat scopes with
command lists, and a bot-based search message extension) has been stable since
long before 1.24, while 1.25-1.29 add only
things we do not use (agentic users, slash-command triggers for targeted
messages, ...). An older, widely deployed version is the one every Teams client
and tenant admin tool already accepts; move up when we need a newer feature.

Configuration (environment; a flag wins over the environment):

- `BOT_ID`, then `MicrosoftAppId` (environment, then `.env`): required, the
  Azure Bot's Microsoft App ID (a GUID);
- `TEAMS_APP_ID` (default `DEFAULT_APP_ID` below): the Teams app's own GUID;
  keep it stable, Teams identifies the app by it;
- `TEAMS_APP_VERSION` (default: the project version): must increase for Teams
  to accept an updated package;
- `TEAMS_DEVELOPER_WEBSITE_URL`, `TEAMS_DEVELOPER_PRIVACY_URL`,
  `TEAMS_DEVELOPER_TERMS_URL` (default: placeholders on example.org): the
  schema requires all three; set real pages before publishing.

Exit status: 0 written, 2 the package cannot be built (the message says why).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.router import ALL_SCOPES, Router

HERE = Path(__file__).parent
TEMPLATE = HERE / "manifest.template.json"
ICONS = {"color": HERE / "color.png", "outline": HERE / "outline.png"}
SCHEMA_VERSION = "1.24"
# The official schema, copied from ../shared/schemas (see SOURCES.md there); the
# tests validate against the same file, so the build and the tests cannot disagree.
SCHEMA = HERE.parent / "tests/schemas/teams" / f"v{SCHEMA_VERSION}" / "MicrosoftTeams.schema.json"
DEFAULT_OUT = Path("dist") / "ice-downtime-assistant.zip"

# Generated once. Teams keys installations and updates on this id: changing it
# makes a *different* app, so tenants would have two. Override per deployment
# (e.g. a test tenant) with TEAMS_APP_ID.
DEFAULT_APP_ID = "3c6f6440-eed7-4adb-af30-9b437acdf1cd"
DEFAULT_VERSION = "1.0.0"
PLACEHOLDER_URLS = {
    "websiteUrl": ("TEAMS_DEVELOPER_WEBSITE_URL", "https://ice-downtime-assistant.example.org/"),
    "privacyUrl": (
        "TEAMS_DEVELOPER_PRIVACY_URL",
        "https://ice-downtime-assistant.example.org/privacy",
    ),
    "termsOfUseUrl": (
        "TEAMS_DEVELOPER_TERMS_URL",
        "https://ice-downtime-assistant.example.org/terms",
    ),
}

# Teams shows at most 10 commands per list on older clients (the schema allows 12)
# and truncates long titles in the suggestion menu; fail rather than hide a command.
MAX_COMMANDS = 10
MAX_TITLE = 32
MAX_DESCRIPTION = 128

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


class ManifestError(Exception):
    """The package cannot be built; the message tells the person running it what to do."""


def command_lists(router: Router) -> list[dict[str, Any]]:
    """One command list per scope, in the router's registration order.

    One list per scope (rather than one list naming all scopes) because Teams
    documents it that way and a scope-specific command then needs no special case.
    Scopes with no commands are left out: an empty list would only clutter.
    """
    lists: list[dict[str, Any]] = []
    for scope in ALL_SCOPES:
        commands = router.commands(scope)
        if not commands:
            continue
        if len(commands) > MAX_COMMANDS:
            names = ", ".join(c.name for c in commands)
            raise ManifestError(
                f"{len(commands)} commands in scope {scope!r} ({names}); Teams shows at most "
                f"{MAX_COMMANDS}: drop the command= from the least useful intents"
            )
        seen: set[str] = set()
        for c in commands:
            if not c.title or len(c.title) > MAX_TITLE:
                raise ManifestError(
                    f"command {c.name!r}: title {c.title!r} must be 1-{MAX_TITLE} characters"
                )
            if not c.description or len(c.description) > MAX_DESCRIPTION:
                raise ManifestError(
                    f"command {c.name!r}: description must be 1-{MAX_DESCRIPTION} characters "
                    f"(is {len(c.description)})"
                )
            if c.title.casefold() in seen:
                raise ManifestError(f"command title {c.title!r} appears twice in scope {scope!r}")
            seen.add(c.title.casefold())
        lists.append(
            {
                "scopes": [scope],
                "commands": [{"title": c.title, "description": c.description} for c in commands],
            }
        )
    return lists


def compose_extensions(router: Router, bot_id: str) -> list[dict[str, Any]]:
    """The message extension: the router's search commands, each a `query` with one parameter.

    Teams allows one compose extension per app, with up to 10 commands; titles
    and parameter titles up to 32 characters, descriptions up to 128. `initialRun`
    makes Teams search once with no text when the extension opens, so the user
    sees the entries at once (bot/handlers/search.py: the BCP's order).
    """
    commands = router.search_commands()
    if not commands:
        return []
    if len(commands) > MAX_COMMANDS:
        raise ManifestError(f"{len(commands)} search commands; Teams allows {MAX_COMMANDS}")
    for c in commands:
        for what, text, most in (
            ("title", c.title, MAX_TITLE),
            ("parameter title", c.parameter_title, MAX_TITLE),
            ("description", c.description, MAX_DESCRIPTION),
            ("parameter description", c.parameter_description, MAX_DESCRIPTION),
        ):
            if not text or len(text) > most:
                raise ManifestError(f"search command {c.id!r}: {what} must be 1-{most} characters")
    return [
        {
            "botId": bot_id,
            "commands": [
                {
                    "id": c.id,
                    "type": "query",
                    "title": c.title,
                    "description": c.description,
                    "initialRun": True,
                    "context": ["compose", "commandBox"],
                    "parameters": [
                        {
                            "name": c.parameter,
                            "title": c.parameter_title,
                            "description": c.parameter_description,
                            "inputType": "text",
                        }
                    ],
                }
                for c in commands
            ],
        }
    ]


def resolve_bot_id(
    explicit: str | None,
    environ: Mapping[str, str] = os.environ,
    env_file: Path | None = Path(".env"),
) -> str | None:
    """The bot id from the flag, the environment, or the `.env` the bot itself reads.

    `.env` counts because that is where a deployment keeps MicrosoftAppId; a
    package built from the same checkout should name the same bot.
    """
    for value in (explicit, environ.get("BOT_ID"), environ.get("MicrosoftAppId")):
        if value and value.strip():
            return value.strip()
    if env_file is not None and env_file.is_file():
        from pydantic import ValidationError

        from bot.settings import Settings

        try:
            # dev_mode only lets Settings construct without an app id; nothing else reads it.
            app_id = Settings(_env_file=env_file, dev_mode=True).app_id
        except ValidationError as exc:
            raise ManifestError(f"cannot read {env_file}: {exc}") from None
        return app_id.strip() or None
    return None


def _app_version(environ: Mapping[str, str]) -> str:
    version = environ.get("TEAMS_APP_VERSION", "").strip()
    if not version:
        try:
            version = metadata.version("ice-downtime-assistant")
        except metadata.PackageNotFoundError:
            version = DEFAULT_VERSION
    if not _SEMVER.match(version):
        raise ManifestError(f"app version {version!r} must be MAJOR.MINOR.PATCH, e.g. 1.2.0")
    return version


def build_manifest(
    bot_id: str, router: Router, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The manifest for this bot id, not yet validated (see `schema_errors`)."""
    if not _GUID.match(bot_id):
        raise ManifestError(
            f"bot id {bot_id!r} is not a GUID; use the Microsoft App ID of the Azure Bot "
            "(Azure portal > the bot > Configuration)"
        )
    app_id = environ.get("TEAMS_APP_ID", "").strip() or DEFAULT_APP_ID
    if not _GUID.match(app_id):
        raise ManifestError(f"TEAMS_APP_ID {app_id!r} is not a GUID")

    manifest: dict[str, Any] = copy.deepcopy(json.loads(TEMPLATE.read_text(encoding="utf-8")))
    manifest["id"] = app_id
    manifest["version"] = _app_version(environ)
    for field, (variable, default) in PLACEHOLDER_URLS.items():
        url = environ.get(variable, "").strip() or default
        if not url.lower().startswith("https://"):
            raise ManifestError(f"{variable} must be an https:// URL, not {url!r}")
        manifest["developer"][field] = url
    bot = manifest["bots"][0]
    bot["botId"] = bot_id
    bot["commandLists"] = command_lists(router)
    if not bot["commandLists"]:
        del bot["commandLists"]
    if extensions := compose_extensions(router, bot_id):
        manifest["composeExtensions"] = extensions
    return manifest


def _validator_class(schema: dict[str, Any]) -> Any:
    """Draft-04 as the schema declares, plus the newer keywords it uses anyway.

    The Teams schemas say draft-04 but use `const` (and from v1.29 `if`/`then`);
    a plain Draft4Validator silently ignores those, so `manifestVersion` would
    not be checked at all. Same approach as ../shared/tools/cardtools/validate_json.py.
    """
    from jsonschema import validators

    base = validators.validator_for(schema)
    extra = {
        kw: validators.Draft7Validator.VALIDATORS[kw]
        for kw in ("const", "if")
        if kw not in base.VALIDATORS
    }
    return validators.extend(base, extra)


def schema_errors(manifest: Mapping[str, Any], schema_path: Path = SCHEMA) -> list[str]:
    """Every way the manifest breaks the official schema, as `path: message` lines."""
    try:
        import jsonschema  # noqa: F401  (a dev dependency: say so instead of a traceback)
    except ImportError:
        raise ManifestError("jsonschema is not installed: run `make venv` first") from None
    if not schema_path.is_file():
        raise ManifestError(f"manifest schema {schema_path} is missing")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = _validator_class(schema)(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.path)))
    return [f"{e.json_path}: {e.message}" for e in errors]


def write_package(manifest: Mapping[str, Any], out: Path) -> Path:
    """Write the zip atomically and reproducibly (fixed timestamps, fixed order).

    Reproducible so that rebuilding an unchanged app gives an identical file, and
    atomic so a failed build never leaves a half-written zip to be uploaded.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    members = [
        (
            "manifest.json",
            (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )
    ]
    members += [(manifest["icons"][key], path.read_bytes()) for key, path in ICONS.items()]
    fd, tmp_name = tempfile.mkstemp(prefix=".package-", suffix=".zip", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _default_router() -> Router:
    try:
        from bot.handlers import build_router
    except ImportError as exc:
        raise ManifestError(
            f"cannot load the bot's router (bot.handlers.build_router): {exc}"
        ) from None
    return build_router()


def package(
    out: Path,
    bot_id: str | None,
    router: Router | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Path:
    """Build, validate and write; raises ManifestError with the reason otherwise."""
    resolved = resolve_bot_id(bot_id, environ)
    if not resolved:
        raise ManifestError(
            "no bot id: pass --bot-id GUID or set BOT_ID or MicrosoftAppId (environment or "
            ".env) to the Azure Bot's Microsoft App ID, e.g. "
            "`BOT_ID=00000000-0000-0000-0000-000000000000 make package`"
        )
    manifest = build_manifest(resolved, router or _default_router(), environ)
    problems = schema_errors(manifest)
    if problems:
        raise ManifestError(
            f"manifest is not valid against the Teams v{SCHEMA_VERSION} schema:\n  "
            + "\n  ".join(problems)
        )
    return write_package(manifest, out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m manifest.build",
        description="Build the Teams app package (manifest.json + icons).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument(
        "--bot-id",
        help="the Azure Bot's Microsoft App ID (else BOT_ID / "
        "MicrosoftAppId from the environment or .env)",
    )
    args = parser.parse_args(argv)
    try:
        out = package(args.out, args.bot_id)
    except ManifestError as exc:
        print(f"manifest.build: error: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    commands = sum(len(c["commands"]) for c in manifest["bots"][0].get("commandLists", []))
    print(
        f"wrote {out} (app {manifest['id']} v{manifest['version']}, "
        f"bot {manifest['bots'][0]['botId']}, {commands} commands over all scopes)"
    )
    if any(manifest["developer"][f] == default for f, (_, default) in PLACEHOLDER_URLS.items()):
        print(
            "note: developer URLs are example.org placeholders; set TEAMS_DEVELOPER_*_URL "
            "before publishing beyond your own tenant",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
