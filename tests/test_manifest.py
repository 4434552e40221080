"""The Teams app package: what Teams would refuse, caught before anyone uploads it.

The schema check here deliberately builds its own validator from the copied
official schema rather than trusting `manifest.build.schema_errors`, so a bug in
the builder's validation cannot hide a bad manifest.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validators

from bot.handlers import build_router
from bot.nlu import Intent, parse
from bot.router import ALL_SCOPES, FALLBACK_INTENT, Command, Router, SearchCommand
from manifest import build

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = Path(__file__).parent / "schemas" / "teams" / "v1.24" / "MicrosoftTeams.schema.json"
BOT_ID = "11111111-2222-3333-4444-555555555555"
ID_VARIABLES = ("BOT_ID", "MicrosoftAppId", "TEAMS_APP_ID", "TEAMS_APP_VERSION")


# ---------------------------------------------------------------- helpers


async def _noop() -> Any:  # handlers are never called here
    return None


def small_router(commands: list[Command]) -> Router:
    router = Router()
    for intent, command in zip(Intent, commands, strict=False):
        router.intent(intent, command=command)(_noop)
    return router


def schema_validator() -> Any:
    """Draft-04 as declared, plus `const`/`if` the Teams schemas use regardless."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    base = validators.validator_for(schema)
    assert base is validators.Draft4Validator, "the Teams schema declares draft-04"
    extra = {kw: validators.Draft7Validator.VALIDATORS[kw] for kw in ("const", "if")}
    return validators.extend(base, extra)(schema)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_rgba_pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """Decode an 8-bit RGBA, non-interlaced PNG (what make_icons writes), without Pillow."""
    width, height = png_size(data)
    bit_depth, colour_type, _, _, interlace = data[24:29]
    assert (bit_depth, colour_type, interlace) == (8, 6, 0), "expected 8-bit RGBA, no interlace"
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw, bpp, stride = zlib.decompress(idat), 4, width * 4
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        prev = line
    return [tuple(row[i : i + 4]) for row in rows for i in range(0, stride, 4)]  # type: ignore[misc]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ids from the developer's shell or their .env leak into a test."""
    for name in ID_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def router() -> Router:
    return small_router(
        [
            Command("help", "help", "What I can do"),
            Command("mailbox", "mailbox", "Where to email a request, e.g. mailbox kings xray"),
            Command("mine", "mine", "Only in personal chat", scopes=("personal",)),
        ]
    )


@pytest.fixture
def package(clean_env: Path, router: Router) -> Path:
    return build.package(clean_env / "dist" / "app.zip", BOT_ID, router=router)


# ---------------------------------------------------------------- command lists


def test_command_lists_one_list_per_scope_in_registration_order(router: Router) -> None:
    lists = build.command_lists(router)
    assert [cl["scopes"] for cl in lists] == [["personal"], ["team"], ["groupChat"]]
    personal, team, _ = lists
    assert [c["title"] for c in personal["commands"]] == ["help", "mailbox", "mine"]
    assert [c["title"] for c in team["commands"]] == ["help", "mailbox"]
    assert personal["commands"][1] == {
        "title": "mailbox",
        "description": "Where to email a request, e.g. mailbox kings xray",
    }


def test_scope_without_commands_gets_no_list() -> None:
    lists = build.command_lists(small_router([Command("x", "x", "only here", ("team",))]))
    assert lists == [{"scopes": ["team"], "commands": [{"title": "x", "description": "only here"}]}]
    assert build.command_lists(Router()) == []


def test_more_than_ten_commands_in_a_scope_is_refused_not_truncated() -> None:
    ten = [Command(f"c{i}", f"c{i}", "d") for i in range(10)]
    assert len(build.command_lists(small_router(ten))[0]["commands"]) == 10
    with pytest.raises(build.ManifestError, match="11 commands in scope 'personal'"):
        build.command_lists(small_router([*ten, Command("c10", "c10", "d")]))


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (Command("long", "t" * 33, "d"), "title"),
        (Command("empty", "", "d"), "title"),
        (Command("wordy", "wordy", "d" * 129), "description"),
    ],
)
def test_titles_and_descriptions_within_teams_limits(command: Command, message: str) -> None:
    with pytest.raises(build.ManifestError, match=message):
        build.command_lists(small_router([command]))
    ok = Command("ok", "t" * 32, "d" * 128)
    assert build.command_lists(small_router([ok]))[0]["commands"][0]["title"] == "t" * 32


def test_duplicate_titles_in_a_scope_are_refused() -> None:
    twice = [Command("a", "help", "one"), Command("b", "Help", "two")]
    with pytest.raises(build.ManifestError, match="twice"):
        build.command_lists(small_router(twice))


# ---------------------------------------------------------------- the manifest


def test_manifest_is_valid_against_the_official_schema(clean_env: Path, router: Router) -> None:
    manifest = build.build_manifest(BOT_ID, router)
    errors = [f"{e.json_path}: {e.message}" for e in schema_validator().iter_errors(manifest)]
    assert errors == []
    assert build.schema_errors(manifest) == []


def test_schema_check_is_not_toothless(clean_env: Path, router: Router) -> None:
    """`const` is a draft-06 keyword: a plain Draft4Validator would accept any version."""
    manifest = build.build_manifest(BOT_ID, router)
    manifest["manifestVersion"] = "1.23"
    manifest["bots"][0]["supportsFiles"] = "no"
    paths = {e.json_path for e in schema_validator().iter_errors(manifest)}
    assert paths == {"$.manifestVersion", "$.bots[0].supportsFiles"}
    assert len(build.schema_errors(manifest)) == 2


def test_manifest_content(clean_env: Path, router: Router) -> None:
    manifest = build.build_manifest(BOT_ID, router)
    assert manifest["manifestVersion"] == build.SCHEMA_VERSION
    assert manifest["id"] == build.DEFAULT_APP_ID
    assert manifest["name"] == {"short": "ICE Downtime", "full": "ICE Downtime Assistant"}
    assert manifest["developer"]["name"] == "SEL ICE Downtime Assistant team"
    assert "South East London" in manifest["description"]["full"]
    assert "GP" in manifest["description"]["short"]
    (bot,) = manifest["bots"]
    assert bot["botId"] == BOT_ID
    assert bot["scopes"] == list(ALL_SCOPES)
    # Files: without supportsFiles Teams offers no "Attach" in the personal chat, and no
    # completed trust form ever reaches the bot (bot/handlers/forwarding.py).
    assert bot["supportsFiles"] is True and bot["isNotificationOnly"] is False
    assert bot["commandLists"] == build.command_lists(router)
    assert manifest["validDomains"] == []
    assert all(url.startswith("https://") for url in manifest["developer"].values() if "://" in url)


def test_environment_overrides(
    clean_env: Path, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMS_APP_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    monkeypatch.setenv("TEAMS_APP_VERSION", "2.3.4")
    monkeypatch.setenv("TEAMS_DEVELOPER_PRIVACY_URL", "https://nhs.example/privacy")
    manifest = build.build_manifest(BOT_ID, router)
    assert manifest["id"] == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert manifest["version"] == "2.3.4"
    assert manifest["developer"]["privacyUrl"] == "https://nhs.example/privacy"
    monkeypatch.setenv("TEAMS_DEVELOPER_PRIVACY_URL", "http://nhs.example/privacy")
    with pytest.raises(build.ManifestError, match="https"):
        build.build_manifest(BOT_ID, router)


@pytest.mark.parametrize("bad", ["not-a-guid", "28:11111111-2222-3333-4444-555555555555", ""])
def test_bot_id_must_be_a_guid(clean_env: Path, router: Router, bad: str) -> None:
    with pytest.raises(build.ManifestError, match="GUID"):
        build.build_manifest(bad, router)


def test_bot_id_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("MicrosoftAppId=from-dotenv\n", encoding="utf-8")
    assert build.resolve_bot_id(None) == "from-dotenv"
    monkeypatch.setenv("MicrosoftAppId", "from-env")
    assert build.resolve_bot_id(None) == "from-env"
    monkeypatch.setenv("BOT_ID", "from-bot-id")
    assert build.resolve_bot_id(None) == "from-bot-id"
    assert build.resolve_bot_id("from-flag") == "from-flag"
    assert build.resolve_bot_id(None, environ={}, env_file=None) is None


# ---------------------------------------------------------------- the package


def test_zip_holds_exactly_manifest_and_icons_at_the_root(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
        assert manifest["bots"][0]["botId"] == BOT_ID
        assert list(schema_validator().iter_errors(manifest)) == []
        assert png_size(zf.read("color.png")) == (192, 192)
        assert png_size(zf.read("outline.png")) == (32, 32)


def test_icons_committed_at_the_sizes_teams_requires() -> None:
    assert png_size((REPO / "manifest" / "color.png").read_bytes()) == (192, 192)
    assert png_size((REPO / "manifest" / "outline.png").read_bytes()) == (32, 32)


def test_outline_icon_is_white_on_transparent() -> None:
    pixels = png_rgba_pixels((REPO / "manifest" / "outline.png").read_bytes())
    assert len(pixels) == 32 * 32
    assert {(r, g, b) for r, g, b, a in pixels if a} == {(255, 255, 255)}
    assert any(a == 0 for *_, a in pixels), "needs a transparent background"
    assert any(a == 255 for *_, a in pixels), "needs a solid glyph"


def test_color_icon_is_opaque() -> None:
    pixels = png_rgba_pixels((REPO / "manifest" / "color.png").read_bytes())
    assert len(pixels) == 192 * 192
    assert all(a == 255 for *_, a in pixels)


def test_package_is_reproducible(clean_env: Path, router: Router) -> None:
    first = build.package(clean_env / "a.zip", BOT_ID, router=router).read_bytes()
    second = build.package(clean_env / "b.zip", BOT_ID, router=router).read_bytes()
    assert first == second


def test_invalid_manifest_writes_no_zip(
    clean_env: Path, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "schema_errors", lambda manifest: ["$.id: broken"])
    out = clean_env / "dist" / "app.zip"
    with pytest.raises(build.ManifestError, match=r"\$\.id: broken"):
        build.package(out, BOT_ID, router=router)
    assert not out.exists()


# ---------------------------------------------------------------- the command line


def run_build(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ID_VARIABLES}
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "manifest.build", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_bot_id_exits_2_with_a_message(tmp_path: Path) -> None:
    result = run_build(tmp_path)
    assert result.returncode == 2
    assert "no bot id" in result.stderr and "BOT_ID" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dist").exists()


def test_bad_bot_id_exits_2_with_a_message(tmp_path: Path) -> None:
    result = run_build(tmp_path, "--bot-id", "my-bot")
    assert result.returncode == 2
    assert "not a GUID" in result.stderr and "Traceback" not in result.stderr


def test_build_from_the_command_line(tmp_path: Path) -> None:
    result = run_build(tmp_path, "--bot-id", BOT_ID, "--out", "out/app.zip")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "out" / "app.zip") as zf:
        assert json.loads(zf.read("manifest.json"))["bots"][0]["botId"] == BOT_ID


# ---------------------------------------------------------------- against the bot's own router


def test_packaged_command_lists_are_the_bots_commands(clean_env: Path) -> None:
    """The default package uses build_router(): what Teams suggests is what the bot has."""
    with zipfile.ZipFile(build.package(clean_env / "app.zip", BOT_ID)) as zf:
        lists = json.loads(zf.read("manifest.json"))["bots"][0]["commandLists"]
    router = build_router()
    expected = [
        {
            "scopes": [scope],
            "commands": [
                {"title": c.title, "description": c.description} for c in router.commands(scope)
            ],
        }
        for scope in ALL_SCOPES
    ]
    assert lists == expected
    assert all(cl["commands"] for cl in lists), "every scope the bot is installed in has commands"


def test_every_command_is_a_word_the_bot_understands() -> None:
    """Picking a suggestion sends its title; it must reach a real handler, not the fallback."""
    router = build_router()
    assert router.commands()
    for command in router.commands():
        for text in (command.title, command.name):
            intent = parse(text).intent
            assert intent != FALLBACK_INTENT, f"{text!r} is not understood"
            assert intent in router.intents, f"{text!r} parses to unregistered {intent!r}"


# ---------------------------------------------------------------- the search message extension


def test_packaged_message_extension_is_the_routers_search_command(clean_env: Path) -> None:
    """One bot-based extension, one `query` command with one parameter, from the registry."""
    with zipfile.ZipFile(build.package(clean_env / "app.zip", BOT_ID)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert not list(schema_validator().iter_errors(manifest))
    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == BOT_ID == manifest["bots"][0]["botId"]
    [search] = build_router().search_commands()
    [command] = extension["commands"]
    assert command == {
        "id": search.id,
        "type": "query",
        "title": search.title,
        "description": search.description,
        "initialRun": True,
        "context": ["compose", "commandBox"],
        "parameters": [
            {
                "name": search.parameter,
                "title": search.parameter_title,
                "description": search.parameter_description,
                "inputType": "text",
            }
        ],
    }


def test_the_schema_version_knows_compose_extensions() -> None:
    """v1.24 declares bot-based query commands: the manifest version supports what we add."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    extension = schema["properties"]["composeExtensions"]
    assert extension["maxItems"] == 1
    command = extension["items"]["properties"]["commands"]["items"]["properties"]
    assert "query" in command["type"]["enum"] and "initialRun" in command


def test_a_router_without_search_gets_no_extension(clean_env: Path, router: Router) -> None:
    assert "composeExtensions" not in build.build_manifest(BOT_ID, router)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "t" * 33),
        ("parameter_title", "t" * 33),
        ("description", "d" * 129),
        ("parameter_description", ""),
    ],
)
def test_search_command_texts_within_teams_limits(field: str, value: str) -> None:
    router = Router()
    fields = {
        "id": "find",
        "title": "Find",
        "description": "Find things",
        "parameter": "query",
        "parameter_title": "Query",
        "parameter_description": "What to find",
    }
    router.search(SearchCommand(**{**fields, field: value}))(_no_results)
    with pytest.raises(build.ManifestError, match=field.replace("_", " ")):
        build.compose_extensions(router, BOT_ID)


async def _no_results() -> Any:
    return None
