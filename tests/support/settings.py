"""The environment names of the bot's settings, for tests that check a list of them."""

from __future__ import annotations

from pydantic import AliasChoices

from bot.settings import Settings


def env_name(field_name: str) -> str:
    """The name a deployer sets: the Bot Framework name Azure uses (`MicrosoftAppId`), the
    field's only alias, or else the field's name in capitals, as the README writes it
    (pydantic-settings reads it in any case)."""
    alias = Settings.model_fields[field_name].validation_alias
    if alias is None:
        return field_name.upper()
    assert isinstance(alias, AliasChoices), f"{field_name}: alias is not an AliasChoices"
    first = alias.choices[0]
    assert isinstance(first, str), f"{field_name}: first alias is not a plain name"
    return first


def setting_names() -> list[str]:
    """Every setting's environment name (`MicrosoftAppId`, `PORT`, ...), sorted."""
    return sorted(env_name(name) for name in Settings.model_fields)
