"""The environment names of the bot's settings, for tests that check a list of them."""

from __future__ import annotations

from pydantic import AliasChoices

from bot.settings import Settings


def env_name(field_name: str) -> str:
    """The name a deployer sets: the first of the field's validation aliases."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        assert isinstance(first, str), f"{field_name}: first alias is not a plain name"
        return first
    assert isinstance(alias, str), f"{field_name} has no environment alias"
    return alias


def setting_names() -> list[str]:
    """Every setting's environment name (`MicrosoftAppId`, `PORT`, ...), sorted."""
    return sorted(env_name(name) for name in Settings.model_fields)
