"""One settings object for the whole bot, read from the environment and `.env`.

Every field is read from the environment variable of its name in any case
(`PORT` or `port` for `port`: pydantic-settings compares names
case-insensitively unless `case_sensitive` is set, and it is not here). The
only aliases are the Bot Framework names Azure, the Teams Toolkit and every
deployment guide use (`MicrosoftAppId`, `MicrosoftAppPassword`,
`MicrosoftAppType`, `MicrosoftAppTenantId`); inside the code those fields have
ordinary snake_case names. `tests/test_repo_words.py` keeps it that way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class ConfigurationError(RuntimeError):
    """The configuration cannot run safely; the message says what to change."""


def _azure_alias(azure_name: str, field: str) -> AliasChoices:
    """A Bot Framework environment name Azure sets, or the field's own name."""
    return AliasChoices(azure_name, field)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?:\*\.)?(?:{_LABEL}\.)*{_LABEL}$")


def host_pattern(text: str) -> str:
    """One FILE_DOWNLOAD_HOSTS entry, lower-cased: a host name, or `*.` and a suffix.

    A bare `*`, a one-label suffix (`*.com`), a URL or a port are refused: the
    list says exactly which hosts the bot may fetch a user's file from.
    """
    pattern = text.strip().lower()
    if not _HOST.fullmatch(pattern) or (pattern.startswith("*.") and "." not in pattern[2:]):
        raise ConfigurationError(
            f"FILE_DOWNLOAD_HOSTS entry {text!r} is not a host name or a *.suffix pattern "
            "(for example: *.sharepoint.com, contoso-my.sharepoint.com)"
        )
    return pattern


class DatabaseSettings(BaseSettings):
    """The database alone: all the migration release step (`make migrate`) reads.

    A release pipeline can apply migrations with only `DATABASE_URL`, without
    the bot's app secret or mail settings (which `Settings` insists on).
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = "sqlite+aiosqlite:///var/icebot.db"


class Settings(DatabaseSettings):
    """Everything the bot reads from its environment (see the README table)."""

    port: int = Field(3978, ge=1, le=65535)
    host: str | None = None

    app_id: str = Field("", validation_alias=_azure_alias("MicrosoftAppId", "app_id"))
    app_password: str = Field(
        "", validation_alias=_azure_alias("MicrosoftAppPassword", "app_password")
    )
    app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = Field(
        "MultiTenant", validation_alias=_azure_alias("MicrosoftAppType", "app_type")
    )
    app_tenant_id: str = Field(
        "", validation_alias=_azure_alias("MicrosoftAppTenantId", "app_tenant_id")
    )

    dev_mode: bool = False
    allowed_tenant_ids: Annotated[frozenset[str], NoDecode] = frozenset()
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    log_level: str = "INFO"

    # Mail: delivery of downtime requests.
    #: None means "not chosen": development mode then writes files; production refuses.
    mail_transport: Literal["smtp", "file"] | None = None
    mail_dir: Path = Path("var/mail")
    mail_from: str = "ice-downtime-bot@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    mail_max_per_minute: int = Field(30, ge=1)
    mail_compose_process: bool = True
    mail_retry_base_seconds: float = Field(30.0, gt=0)
    mail_retry_max_seconds: float = Field(900.0, gt=0)
    mail_max_attempts: int = Field(8, ge=1)
    outbox_poll_seconds: float = Field(10.0, gt=0)
    outbox_lease_seconds: float = Field(300.0, gt=0)
    retention_days: int = Field(14, ge=0)
    connector_retry_attempts: int = Field(4, ge=1)
    connector_retry_base_seconds: float = Field(0.5, ge=0)
    connector_retry_max_seconds: float = Field(10.0, ge=0)
    #: Under Teams' ~15 s: a turn still retrying a reply after that is sent again.
    connector_retry_budget_seconds: float = Field(10.0, gt=0)
    notify_retry_seconds: float = Field(60.0, gt=0)
    max_messages_per_minute: int = Field(30, ge=1)
    max_requests_per_hour: int = Field(20, ge=1)
    #: Above the longest the default retry policy keeps a request queued (about
    #: 46 minutes), so /readyz fails on a queue nobody is working, not on an SMTP outage.
    ready_max_queue_age_seconds: float = Field(3600.0, gt=0)
    # Completed forms users attach in their personal chat (bot/files/).
    #: Host names, or `*.suffix` patterns, a file may be fetched from; nothing else is asked.
    file_download_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("*.sharepoint.com",), min_length=1
    )
    file_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)

    # Incidents: who may declare, the broadcast's pace and retries, the reminder.
    #: Entra object ids (`from.aadObjectId`) of the people who may declare an ICE outage.
    admin_aad_object_ids: Annotated[frozenset[str], NoDecode] = frozenset()
    #: Hours after a request was sent that the bot reminds its sender (0: never).
    follow_up_hours: int = Field(72, ge=0, le=24 * 60)
    #: Proactive messages a second, per instance (Teams allows 50 per app per tenant).
    broadcast_max_per_second: float = Field(10.0, gt=0, le=50)
    broadcast_retry_base_seconds: float = Field(10.0, gt=0)
    broadcast_retry_max_seconds: float = Field(900.0, gt=0)
    broadcast_max_attempts: int = Field(12, ge=1)

    #: Empty: no telemetry, and OpenTelemetry is not even imported (bot/telemetry.py).
    applicationinsights_connection_string: str = ""

    @field_validator("allowed_tenant_ids", "admin_aad_object_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("file_download_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple | frozenset | set):
            return tuple(host_pattern(str(part)) for part in value)
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if not self.app_id and not self.dev_mode:
            raise ConfigurationError(
                "MicrosoftAppId is not set, so Bot Framework authentication would be off. "
                "Set MicrosoftAppId (and MicrosoftAppPassword) for Teams, or set "
                "DEV_MODE=true to run locally without authentication."
            )
        needs_secret = self.app_type != "UserAssignedMSI"
        if self.app_id and needs_secret and not self.app_password and not self.dev_mode:
            raise ConfigurationError(
                f"MicrosoftAppPassword is not set for the {self.app_type} app "
                f"{self.app_id}: the bot could not reply to Teams. Set the client secret "
                "(or use MicrosoftAppType=UserAssignedMSI with a managed identity)."
            )
        bad_admins = sorted(i for i in self.admin_aad_object_ids if not _GUID.fullmatch(i))
        if bad_admins and not self.dev_mode:
            raise ConfigurationError(
                "ADMIN_AAD_OBJECT_IDS must list Entra object ids (GUIDs, the `aadObjectId` "
                f"Teams sends), not names or Teams user ids: {', '.join(bad_admins)}"
            )
        if self.broadcast_retry_max_seconds < self.broadcast_retry_base_seconds:
            raise ConfigurationError(
                "BROADCAST_RETRY_MAX_SECONDS must be at least BROADCAST_RETRY_BASE_SECONDS."
            )
        if self.mail_transport is None:
            if not self.dev_mode:
                # A forgotten setting must not turn into "sent" cards for emails
                # that were only written to files.
                raise ConfigurationError(
                    "MAIL_TRANSPORT is not set. Set MAIL_TRANSPORT=smtp (NHSmail: see "
                    "docs/deployment.md) so requests are emailed; MAIL_TRANSPORT=file only "
                    "writes .eml files and is meant for development."
                )
            self.mail_transport = "file"
        return self

    @property
    def bind_host(self) -> str:
        """Loopback unless told otherwise in development mode: no auth must mean no exposure."""
        if self.host:
            return self.host
        return "127.0.0.1" if self.dev_mode else "0.0.0.0"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.app_id)

    def is_admin(self, aad_object_id: str | None) -> bool:
        """May this Entra user declare an outage? Compared by object id, never by name."""
        if not aad_object_id:
            return False
        return aad_object_id.lower() in {i.lower() for i in self.admin_aad_object_ids}

    def tenant_allowed(self, tenant_id: str | None) -> bool:
        """Empty allowlist admits everyone only in development mode."""
        if not self.allowed_tenant_ids:
            return self.dev_mode
        return tenant_id in self.allowed_tenant_ids


class DevDefaultSettings(Settings):
    """`make run` for a newcomer: development mode unless the environment says otherwise.

    Only the *default* changes, so `DEV_MODE=false make run` (or a `.env`)
    still wins and a production-like run still refuses to start without an app id.
    """

    dev_mode: bool = True
    #: Also the chat client's loopback file server (`/attach` in `make chat`).
    file_download_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("*.sharepoint.com", "127.0.0.1", "localhost"), min_length=1
    )


def read_settings(*, dev_defaults: bool = False) -> Settings:
    """The settings from the environment and `.env`, or one error naming each bad variable.

    pydantic's own error is a traceback that names fields in lower case; whoever
    starts the bot needs the environment variable's name and what is wrong with
    it. The value itself is never repeated: it may be a secret.
    """
    kind = DevDefaultSettings if dev_defaults else Settings
    try:
        return kind()
    except ValidationError as error:
        problems = "; ".join(
            f"{_environment_name(problem['loc'])}: {problem['msg']}"
            for problem in error.errors(include_url=False, include_input=False)
        )
        raise ConfigurationError(f"a setting is not valid: {problems}") from None


def _environment_name(location: tuple[int | str, ...]) -> str:
    """`PORT` for the field `port`; an Azure name (`MicrosoftAppId`) as Azure spells it."""
    name = str(location[0]) if location else "(settings)"
    return name if any(letter.isupper() for letter in name) else name.upper()
