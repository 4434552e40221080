"""The Azure template (infra/azure/) deploys the bot the code expects.

The Bicep compiler cannot be installed where `make test` runs (it is
downloaded from GitHub, and no PyPI, npm or Debian package carries it), so the
template is read with pycep, the parser checkov uses in `make infra-check`,
and these tests check what a compiler would not anyway:

* every setting `bot/settings.py` reads is set as an app setting, or is listed
  in `LEFT_AT_DEFAULT` with the reason; the app gets no setting the bot does
  not read except the platform's own, listed in `PLATFORM_SETTINGS`;
* secrets reach the app only as Key Vault references, resolved with the
  managed identity that holds "Key Vault Secrets User" on the vault, and are
  never a literal: @secure() parameters without defaults, read from
  environment variables by the parameter files, never in an output;
* the parameter files name only parameters the template declares and give
  every required one (a compiler would catch a typo here; pycep does not);
* DATABASE_URL, as the template builds it, makes SQLAlchemy + asyncpg insist on
  TLS with a verified certificate (a loopback stand-in for Azure PostgreSQL's
  TLS handshake shows the connection succeed with the right CA and fail with a
  wrong CA or without TLS);
* the outputs `make package` needs exist, and the messaging endpoint is the
  bot's route.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pycep import BicepParser
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.application import create_app
from bot.settings import Settings
from tests.support.settings import env_name, setting_names
from tests.support.tls import self_signed_certificate

ROOT = Path(__file__).resolve().parent.parent
AZURE = ROOT / "infra" / "azure"
MAIN = AZURE / "main.bicep"
PARAMETER_FILES = sorted((AZURE / "parameters").glob("*.bicepparam"))
DEPLOYMENT_GUIDE = ROOT / "docs" / "deployment.md"

#: Settings the template does not set, so the bot's default applies; each with why.
LEFT_AT_DEFAULT: dict[str, str] = {
    "MAX_BODY_BYTES": "256 KB, the bot's own limit for one Teams activity (413 above it)",
    "MAIL_DIR": "only the file transport writes there, and the template sets MAIL_TRANSPORT=smtp",
    "SMTP_TIMEOUT_SECONDS": "30 s per SMTP operation suits send.nhs.net",
    "MAIL_COMPOSE_PROCESS": "composing in a child process is the production choice",
    "MAIL_RETRY_BASE_SECONDS": "the retry schedule is the one docs/operations.md describes",
    "MAIL_RETRY_MAX_SECONDS": "the retry schedule is the one docs/operations.md describes",
    "MAIL_MAX_ATTEMPTS": "the retry schedule is the one docs/operations.md describes",
    "OUTBOX_POLL_SECONDS": "10 s: a request queued on another instance waits at most this",
    "OUTBOX_LEASE_SECONDS": "300 s is longer than any one send, so a lease never lapses mid-send",
    "NOTIFY_RETRY_SECONDS": "the notice retry schedule is the one docs/operations.md describes",
    "MAX_MESSAGES_PER_MINUTE": "per-user limit tuned for people typing; see the README table",
    "MAX_REQUESTS_PER_HOUR": "per-user limit, counted in the database across instances",
    "CONNECTOR_RETRY_ATTEMPTS": "retries towards Teams, sized to the ~15 s a turn may take",
    "CONNECTOR_RETRY_BASE_SECONDS": "retries towards Teams, sized to the ~15 s a turn may take",
    "CONNECTOR_RETRY_MAX_SECONDS": "retries towards Teams, sized to the ~15 s a turn may take",
    "CONNECTOR_RETRY_BUDGET_SECONDS": "retries towards Teams, sized to the ~15 s a turn may take",
    "READY_MAX_QUEUE_AGE_SECONDS": "1 h, above the default mail retry schedule (operations.md)",
    "FILE_DOWNLOAD_HOSTS": "*.sharepoint.com: where Teams stores the files users attach",
    "FILE_MAX_BYTES": "10 MB, far above a completed form; see the README table",
    "FOLLOW_UP_HOURS": "72 h, the BCP's time for radiology to enter a request into Epic",
    "BROADCAST_RETRY_BASE_SECONDS": "the broadcast retry schedule docs/operations.md describes",
    "BROADCAST_RETRY_MAX_SECONDS": "the broadcast retry schedule docs/operations.md describes",
    "BROADCAST_MAX_ATTEMPTS": "the broadcast retry schedule docs/operations.md describes",
}

#: App settings that the platform (not bot/settings.py) reads; each with why.
PLATFORM_SETTINGS: dict[str, str] = {
    "WEBSITES_PORT": "App Service forwards requests to the container on this port",
    "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "no shared /home mount: the bot keeps no files",
    "PGSSLROOTCERT": "asyncpg's CA bundle for DATABASE_URL's ssl=verify-full",
}

#: Settings that are secrets, and the Key Vault reference (a template variable) each must be.
SECRET_SETTINGS = {
    "MicrosoftAppPassword": "botAppPassword",
    "SMTP_PASSWORD": "smtpPassword",
    "DATABASE_URL": "databaseUrl",
}

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


# ------------------------------------------------------------------ reading


@cache
def template() -> dict[str, Any]:
    return BicepParser().parse(file_path=MAIN)


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        symbol: resource
        for symbol, resource in template()["resources"].items()
        if resource["type"] == resource_type
    }


def the_app() -> dict[str, Any]:
    (app,) = resources_of_type("Microsoft.Web/sites").values()
    return app["config"]


@cache
def app_settings() -> dict[str, Any]:
    """Name to value (as pycep gives it) of the web app's app settings."""
    entries = the_app()["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"an app setting is set twice: {names}"
    return {entry["name"]: entry["value"] for entry in entries}


def accessed(value: Any) -> tuple[str, str] | None:
    """`a.b` in the template as (a, b); None for anything else."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        if isinstance(operands["operand_1"], str) and isinstance(operands["operand_2"], str):
            return operands["operand_1"], operands["operand_2"]
    return None


def secure_parameters() -> set[str]:
    return {
        name
        for name, parameter in template()["parameters"].items()
        if any(decorator["type"] == "secure" for decorator in parameter["decorators"])
    }


@dataclass
class ParameterFile:
    path: Path
    using: str
    values: dict[str, str] = field(default_factory=dict)


def parameter_file(path: Path) -> ParameterFile:
    """A .bicepparam file: its `using` target and each `param name = expression`."""
    text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.M)
    using = re.search(r"^using '([^']+)'\s*$", text, re.M)
    assert using, f"{path.name}: no `using '...'` line"
    parsed = ParameterFile(path, using.group(1))
    for name, expression in re.findall(r"^param (\w+) = (.+?)\s*$", text, re.M):
        assert name not in parsed.values, f"{path.name}: {name} is given twice"
        parsed.values[name] = expression
    return parsed


# ----------------------------------------------------------------- parsing


@pytest.mark.parametrize("path", sorted(AZURE.rglob("*.bicep")), ids=lambda p: p.name)
def test_checkov_can_parse_every_template(path: Path) -> None:
    """checkov reports a file it cannot parse but still exits 0; this does not."""
    parsed = BicepParser().parse(file_path=path)
    assert parsed["resources"], f"{path.name} declares no resources"


# ---------------------------------------------------------------- settings


def test_every_setting_is_set_or_deliberately_left_at_its_default() -> None:
    settings = set(setting_names())
    provided = set(app_settings())
    missing = settings - provided - set(LEFT_AT_DEFAULT)
    assert not missing, (
        f"infra/azure/main.bicep does not set {sorted(missing)}: add an app setting, "
        "or list it in LEFT_AT_DEFAULT with the reason"
    )
    both = provided & set(LEFT_AT_DEFAULT)
    assert not both, f"{sorted(both)} are set by the template: drop them from LEFT_AT_DEFAULT"


def test_lists_name_only_real_settings() -> None:
    settings = set(setting_names())
    assert set(LEFT_AT_DEFAULT) <= settings, set(LEFT_AT_DEFAULT) - settings
    assert not set(PLATFORM_SETTINGS) & settings, "a platform setting is now a bot setting"
    assert set(SECRET_SETTINGS) <= settings


def test_app_gets_no_setting_the_bot_does_not_read() -> None:
    """Catches a misspelt name (`MicrosoftAppID`) or the snake_case alias (`app_id`)."""
    unknown = set(app_settings()) - set(setting_names()) - set(PLATFORM_SETTINGS)
    assert not unknown, f"app settings nobody reads: {sorted(unknown)}"


def test_production_values_of_the_settings_that_decide_safety() -> None:
    values = app_settings()
    assert values["DEV_MODE"] == "false"
    assert values["MAIL_TRANSPORT"] == "smtp"
    assert values["SMTP_STARTTLS"] == "true"
    assert values["MicrosoftAppType"] == "SingleTenant"
    assert values["SMTP_USERNAME"] == values["MAIL_FROM"] == "mailFrom"  # the same parameter
    # Instances share one NHSmail account (about 30 a minute): 30 / N each.
    pacing = values["MAIL_MAX_PER_MINUTE"]["function"]["parameters"]["value_to_convert"]
    assert pacing["operator"] == {
        "type": "divide",
        "operands": {"operand_1": 30, "operand_2": "appInstanceCount"},
    }


# ----------------------------------------------------------------- secrets


def test_every_password_setting_is_treated_as_a_secret() -> None:
    """A new secret setting must be added to SECRET_SETTINGS (and so to Key Vault)."""
    for field_name in Settings.model_fields:
        if re.search(r"password|secret|token|database_url", field_name):
            assert env_name(field_name) in SECRET_SETTINGS, field_name


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_secrets_reach_the_app_as_key_vault_references(setting: str) -> None:
    reference_name = SECRET_SETTINGS[setting]
    assert accessed(app_settings()[setting]) == ("keyVaultReference", reference_name)
    reference = template()["variables"]["keyVaultReference"]["value"][reference_name]
    match = re.fullmatch(
        r"@Microsoft\.KeyVault\(SecretUri=\$\{keyVault\.properties\.vaultUri\}"
        r"secrets/\$\{secretNames\.(\w+)\}/\)",
        reference,
    )
    assert match, f"{setting}: not a versionless Key Vault reference: {reference}"
    secret_name = match.group(1)

    # The secret the reference names is in this vault and holds a @secure() parameter.
    (secret,) = [
        resource["config"]
        for resource in resources_of_type("Microsoft.KeyVault/vaults/secrets").values()
        if accessed(resource["config"]["name"]) == ("secretNames", secret_name)
    ]
    assert secret["parent"] == "keyVault"
    value = secret["properties"]["value"]
    used = (
        {value}
        if value in secure_parameters()
        else set(re.findall(r"\$\{uriComponent\((\w+)\)\}", value))
    )
    assert used & secure_parameters(), f"{setting}: the secret's value is not a @secure() parameter"


def test_the_app_resolves_references_with_an_identity_that_may_read_secrets() -> None:
    app = the_app()
    assert app["identity"]["type"] == "UserAssigned"
    assert accessed(app["properties"]["keyVaultReferenceIdentity"]) == ("identity", "id")
    assert template()["variables"]["roleKeyVaultSecretsUser"]["value"] == KEY_VAULT_SECRETS_USER
    grants = [
        resource["config"]
        for resource in resources_of_type("Microsoft.Authorization/roleAssignments").values()
        if resource["config"]["scope"] == "keyVault"
    ]
    assert any(
        grant["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        == "roleKeyVaultSecretsUser"
        and grant["properties"]["principalId"]["operator"]["operands"]["operand_1"] == "identity"
        for grant in grants
    ), "the app's identity has no 'Key Vault Secrets User' role on the vault"
    (vault,) = resources_of_type("Microsoft.KeyVault/vaults").values()
    assert vault["config"]["properties"]["enableRbacAuthorization"] is True


def test_secret_parameters_are_secure_and_have_no_default() -> None:
    parameters = template()["parameters"]
    secretish = {name for name in parameters if re.search(r"password|secret", name, re.I)}
    secretish -= {"botAppPasswordExpiresOn"}  # a date, not a secret
    assert secretish == secure_parameters()
    for name in secure_parameters():
        assert parameters[name]["default"] is None, f"{name} has a default value"


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: p.name)
def test_parameter_files_take_secrets_from_the_environment(path: Path) -> None:
    values = parameter_file(path).values
    for name in secure_parameters():
        assert re.fullmatch(r"readEnvironmentVariable\('ICEBOT_[A-Z_]+'\)", values[name]), (
            f"{path.name}: {name} must be readEnvironmentVariable('ICEBOT_...') "
            f"with no default, not {values[name]}"
        )


def test_no_output_carries_a_secret() -> None:
    secret_words = [*secure_parameters(), "keyVaultReference", "secretNames", "listKeys", "Secret"]
    for name, output in template()["outputs"].items():
        text = repr(output["value"])
        leaked = [word for word in secret_words if word in text]
        assert not leaked, f"output {name} uses {leaked}"


# ---------------------------------------------------------- parameter files


def test_there_is_a_test_and_a_production_parameter_file() -> None:
    assert {path.stem for path in PARAMETER_FILES} >= {"test", "prod"}


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: p.name)
def test_parameter_files_match_the_template(path: Path) -> None:
    parsed = parameter_file(path)
    assert (path.parent / parsed.using).resolve() == MAIN
    declared = template()["parameters"]
    unknown = set(parsed.values) - set(declared)
    assert not unknown, f"{path.name} sets parameters main.bicep does not declare: {unknown}"
    required = {name for name, parameter in declared.items() if parameter["default"] is None}
    missing = required - set(parsed.values)
    assert not missing, f"{path.name} does not give the required parameters {missing}"
    assert parsed.values["environmentName"] == f"'{path.stem}'"


# ------------------------------------------------------------ DATABASE_URL


def database_url(login: str, password: str, host: str) -> str:
    """DATABASE_URL as the template builds it, for the given values.

    Bicep's uriComponent() is JavaScript's encodeURIComponent, which leaves
    `!*'()` as they are; Python's quote() does the rest alike.
    """
    (secret,) = [
        resource["config"]["properties"]["value"]
        for resource in resources_of_type("Microsoft.KeyVault/vaults/secrets").values()
        if accessed(resource["config"]["name"]) == ("secretNames", "databaseUrl")
    ]
    values = {
        "uriComponent(postgresAdminLogin)": quote(login, safe="!*'()"),
        "uriComponent(postgresAdminPassword)": quote(password, safe="!*'()"),
        "postgres.properties.fullyQualifiedDomainName": host,
        "databaseName": template()["variables"]["databaseName"]["value"],
    }
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match.group(1)], secret)


NASTY_PASSWORD = "p@ss:w/rd?#%&=+ é!*'()"


def test_database_url_is_asyncpg_with_verified_tls() -> None:
    url = make_url(
        database_url("icebotadmin", NASTY_PASSWORD, "psql-x.postgres.database.azure.com")
    )
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password) == ("icebotadmin", NASTY_PASSWORD)
    assert (url.host, url.port, url.database) == (
        "psql-x.postgres.database.azure.com",
        5432,
        "icebot",
    )
    assert dict(url.query) == {"ssl": "verify-full"}
    _, options = create_async_engine(url).dialect.create_connect_args(url)
    assert options["ssl"] == "verify-full"


def test_pgsslrootcert_names_the_images_ca_bundle() -> None:
    assert app_settings()["PGSSLROOTCERT"] == "/etc/ssl/certs/ca-certificates.crt"
    # The image is Debian's python slim, whose ca-certificates package writes that bundle.
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)


SSL_REQUEST = 80877103


@dataclass
class PostgresTlsFront:
    """Azure PostgreSQL's side of the connection up to the startup message.

    Answers PostgreSQL's SSLRequest with 'S' and a TLS handshake (or 'N' when
    `tls` is False), then records the startup message (user, database) and
    whether it came over TLS, and hangs up: enough to see what the client
    insists on, without a PostgreSQL server with TLS on the test machine.
    """

    context: ssl.SSLContext | None
    startups: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            over_tls = False
            if code == SSL_REQUEST:
                if self.context is None:
                    writer.write(b"N")
                    await writer.drain()
                    length, code = struct.unpack("!ii", await reader.readexactly(8))
                else:
                    writer.write(b"S")
                    await writer.drain()
                    await writer.start_tls(self.context)
                    over_tls = True
                    length, code = struct.unpack("!ii", await reader.readexactly(8))
            body = await reader.readexactly(length - 8)
            pairs = body.rstrip(b"\0").split(b"\0")
            params = dict(zip(pairs[::2], pairs[1::2], strict=True))
            self.startups.append(
                {
                    "tls": over_tls,
                    "user": params[b"user"].decode(),
                    "database": params[b"database"].decode(),
                }
            )
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client gave up: what it sent so far is recorded
        finally:
            writer.close()


@pytest.fixture
def certificates(tmp_path: Path) -> Iterator[dict[str, Path]]:
    server_cert, server_key = self_signed_certificate(tmp_path, "azure-postgres")
    other_cert, _ = self_signed_certificate(tmp_path, "someone-else")
    yield {"cert": server_cert, "key": server_key, "other": other_cert}


async def connect_through_the_template_url(
    front: PostgresTlsFront, host: str = "127.0.0.1"
) -> Exception:
    """Connect with the template's DATABASE_URL, its host and port pointed at `front`."""
    server = await asyncio.start_server(front.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = make_url(database_url("icebotadmin", NASTY_PASSWORD, "unused")).set(host=host, port=port)
    engine = create_async_engine(url)
    try:
        async with engine.connect():
            pass
    except Exception as error:  # noqa: BLE001 - the stand-in always hangs up
        return error
    finally:
        await engine.dispose()
        server.close()
        await server.wait_closed()
    raise AssertionError("the stand-in never lets a connection through")


def server_context(certificates: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["cert"], certificates["key"])
    return context


async def test_database_url_connects_over_tls_with_a_verified_certificate(
    certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", str(certificates["cert"]))
    front = PostgresTlsFront(server_context(certificates))
    await connect_through_the_template_url(front)
    assert front.startups == [{"tls": True, "user": "icebotadmin", "database": "icebot"}]


@pytest.mark.parametrize(
    ("trusted", "host"),
    [
        pytest.param("other", "127.0.0.1", id="certificate from another CA"),
        # verify-full, not just require: the certificate names 127.0.0.1 only.
        pytest.param("cert", "localhost", id="trusted certificate for another name"),
    ],
)
async def test_database_url_refuses_a_certificate_it_cannot_verify(
    certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch, trusted: str, host: str
) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", str(certificates[trusted]))
    front = PostgresTlsFront(server_context(certificates))
    error = await connect_through_the_template_url(front, host=host)
    assert front.startups == []
    chain = [error, error.__cause__, error.__context__]
    assert any(isinstance(link, ssl.SSLCertVerificationError) for link in chain), repr(error)


async def test_database_url_never_falls_back_to_plaintext(
    certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", str(certificates["cert"]))
    front = PostgresTlsFront(context=None)
    await connect_through_the_template_url(front)
    assert front.startups == [], "the client sent its startup message without TLS"


# ------------------------------------------------------------------ hand-off


def test_outputs_give_make_package_what_it_needs() -> None:
    outputs = template()["outputs"]
    assert outputs["botAppId"]["value"] == "botAppId"
    assert outputs["messagingEndpoint"]["value"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": "bot",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "properties", "operand_2": "endpoint"},
                    }
                },
            },
        }
    }
    guide = DEPLOYMENT_GUIDE.read_text(encoding="utf-8")
    assert "properties.outputs.botAppId.value" in guide, "docs/deployment.md: the BOT_ID hand-off"


def test_the_bot_points_teams_at_the_apps_messages_route() -> None:
    (bot,) = resources_of_type("Microsoft.BotService/botServices").values()
    properties = bot["config"]["properties"]
    assert properties["endpoint"] == "https://${app.properties.defaultHostName}/api/messages"
    # ... which is where the bot listens (building the app opens nothing).
    app = create_app(Settings(dev_mode=True, _env_file=None))
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()}
    assert ("POST", "/api/messages") in routes
    assert properties["msaAppType"] == "SingleTenant"
    assert properties["msaAppId"] == "botAppId"
    channels = resources_of_type("Microsoft.BotService/botServices/channels").values()
    assert [channel["config"]["name"] for channel in channels] == ["MsTeamsChannel"]
