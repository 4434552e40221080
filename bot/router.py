"""One registry for everything the bot responds to: intents, quick commands, card verbs.

Handlers are registered with decorators and receive their arguments by name
(as in Slack's bolt): a handler that declares `directory` and `borough` gets
the directory and the borough the message named, and nothing else. The same
registry produces the manifest's command lists, so the commands Teams suggests
are exactly the ones the bot understands.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.nlu import Parsed, parse
from bot.turns import Incoming, Outcome

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Outcome]]
Scope = Literal["personal", "team", "groupChat"]
ALL_SCOPES: tuple[Scope, ...] = ("personal", "team", "groupChat")

FALLBACK_INTENT = "unknown"


@dataclass(frozen=True, slots=True)
class Command:
    """A quick command as Teams shows it in the compose box suggestions."""

    name: str
    title: str
    description: str
    scopes: tuple[Scope, ...] = ALL_SCOPES


@dataclass(slots=True)
class _Route:
    handler: Handler
    params: frozenset[str]
    accepts_any: bool
    #: Parameters typed `str` (or `str | None`): card data may fill them only with text.
    text_params: frozenset[str]

    def card_values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Card data that may fill this handler's arguments.

        Card data comes from the client; a list where a handler expects a
        borough's name must not reach it. Values of the wrong type are dropped,
        so the handler sees its default (and asks again) instead of failing.
        """
        return {k: v for k, v in data.items() if k not in self.text_params or isinstance(v, str)}


_TEXT_HINTS = (str, str | None)


def _route(handler: Handler) -> _Route:
    signature = inspect.signature(handler)
    params = frozenset(
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    hints = typing.get_type_hints(inspect.unwrap(handler))
    text_params = frozenset(name for name in params if hints.get(name) in _TEXT_HINTS)
    return _Route(handler, params, accepts_any, text_params)


class UnknownVerb(LookupError):
    """A card action named a verb no handler is registered for."""


@dataclass
class Router:
    """Maps parsed text and card verbs to handlers."""

    _intents: dict[str, _Route] = field(default_factory=dict)
    _verbs: dict[str, _Route] = field(default_factory=dict)
    _commands: list[Command] = field(default_factory=list)

    def intent(self, name: str, *, command: Command | None = None) -> Callable[[Handler], Handler]:
        """Register the handler for an intent (and, optionally, its quick command)."""

        def register(handler: Handler) -> Handler:
            if name in self._intents:
                raise ValueError(f"intent {name!r} registered twice")
            self._intents[name] = _route(handler)
            if command is not None:
                self._commands.append(command)
            return handler

        return register

    def action(self, verb: str) -> Callable[[Handler], Handler]:
        """Register the handler for a card action verb (Action.Execute or Action.Submit)."""

        def register(handler: Handler) -> Handler:
            if verb in self._verbs:
                raise ValueError(f"verb {verb!r} registered twice")
            self._verbs[verb] = _route(handler)
            return handler

        return register

    def commands(self, scope: Scope | None = None) -> list[Command]:
        return [c for c in self._commands if scope is None or scope in c.scopes]

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset(self._verbs)

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self._intents)

    async def dispatch(self, incoming: Incoming, services: Mapping[str, Any]) -> Outcome:
        """Run the one handler this turn is for."""
        base: dict[str, Any] = {
            **services,
            "incoming": incoming,
            "user": incoming.user,
            "conversation": incoming.conversation,
        }
        if incoming.action is not None:
            route = self._verbs.get(incoming.action.verb)
            if route is None:
                raise UnknownVerb(incoming.action.verb)
            data = dict(incoming.action.data)
            filled = route.card_values(data)
            return await _call(route, {**filled, **base, "data": data, "action": incoming.action})

        parsed = parse(incoming.text)
        log.debug("text routed to intent=%s", parsed.intent)
        return await self._run_intent(parsed, base, incoming.text)

    async def dispatch_intent(
        self, intent: str, incoming: Incoming, services: Mapping[str, Any]
    ) -> Outcome:
        """Run an intent chosen by the edge rather than parsed from text (e.g. welcome)."""
        base = {
            **services,
            "incoming": incoming,
            "user": incoming.user,
            "conversation": incoming.conversation,
        }
        return await self._run_intent(Parsed(intent), base, incoming.text)

    async def _run_intent(self, parsed: Parsed, base: dict[str, Any], text: str) -> Outcome:
        route = self._intents.get(parsed.intent) or self._intents[FALLBACK_INTENT]
        return await _call(route, {**parsed.slots, **base, "parsed": parsed, "text": text})


async def _call(route: _Route, available: Mapping[str, Any]) -> Outcome:
    if route.accepts_any:
        return await route.handler(**available)
    return await route.handler(**{k: v for k, v in available.items() if k in route.params})


__all__ = ["ALL_SCOPES", "Command", "Parsed", "Router", "UnknownVerb"]
