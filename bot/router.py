"""One registry for everything the bot responds to: intents, quick commands, card verbs, search.

Handlers are registered with decorators and receive their arguments by name
(as in Slack's bolt): a handler that declares `directory` and `borough` gets
the directory and the borough the message named, and nothing else. What a
handler may ask for is checked when it is registered, at start-up: a name the
router cannot supply (a misspelt `boruogh`, a card field the verb does not
declare) raises `RegistrationError` instead of silently getting its default
on every turn. The same registry produces the manifest's command lists and its
message-extension command, so what Teams offers is exactly what the bot handles.

What a handler may ask for:

- a service (`bot/services.py`: `directory`, `cards`, `profiles`, ...);
- the turn: `incoming`, `user`, `conversation`;
- for an intent: `text`, `parsed`, and any slot (`bot.nlu.Slot`: `trust`, `borough`, ...);
- for a card verb: `data`, `action`, and the card fields it declares (`fields=`);
- for a search command: `query`.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from bot.nlu import Intent, Parsed, Slot, parse, parse_for
from bot.privacy import looks_like_patient_data
from bot.services import SERVICE_NAMES
from bot.telemetry import Telemetry
from bot.turns import Incoming, Outcome, SearchAnswer

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Outcome]]
SearchHandler = Callable[..., Awaitable[SearchAnswer]]
#: What a route's handler answers: an `Outcome` (intents, verbs) or a `SearchAnswer`.
Answer = TypeVar("Answer", Outcome, SearchAnswer)
Scope = Literal["personal", "team", "groupChat"]
ALL_SCOPES: tuple[Scope, ...] = ("personal", "team", "groupChat")

FALLBACK_INTENT = Intent.UNKNOWN
#: Chosen by the router, not the parser: the message carries files (a completed form).
FILE_INTENT = Intent.FILE

TURN_NAMES = frozenset({"incoming", "user", "conversation"})
INTENT_NAMES = TURN_NAMES | {"text", "parsed"} | {s.value for s in Slot}
ACTION_NAMES = TURN_NAMES | {"data", "action"}
SEARCH_NAMES = frozenset({"query"})


class RegistrationError(TypeError):
    """A handler asks for something the router cannot give it, or is registered twice."""


@dataclass(frozen=True, slots=True)
class Command:
    """A quick command as Teams shows it in the compose box suggestions."""

    name: str
    title: str
    description: str
    scopes: tuple[Scope, ...] = ALL_SCOPES


@dataclass(frozen=True, slots=True)
class SearchCommand:
    """A search command of the message extension: one text parameter, what Teams shows."""

    id: str
    title: str
    description: str
    parameter: str
    parameter_title: str
    parameter_description: str


@dataclass(slots=True)
class _Route(Generic[Answer]):
    handler: Callable[..., Awaitable[Answer]]
    params: frozenset[str]
    #: Card fields this verb reads from the action's data.
    fields: frozenset[str]
    #: Parameters typed `str` (or `str | None`): card data may fill them only with text.
    text_params: frozenset[str]

    def card_values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The declared card fields that may fill this handler's arguments.

        Card data comes from the client; a list where a handler expects a
        borough's name must not reach it. Values of the wrong type are dropped,
        so the handler sees its default (and asks again) instead of failing.
        """
        return {
            k: v
            for k, v in data.items()
            if k in self.fields and (k not in self.text_params or isinstance(v, str))
        }

    async def call(self, available: Mapping[str, Any]) -> Answer:
        return await self.handler(**{k: v for k, v in available.items() if k in self.params})


_TEXT_HINTS = (str, str | None)


def _route(
    handler: Callable[..., Awaitable[Answer]], allowed: frozenset[str], what: str
) -> _Route[Answer]:
    """Check the handler's parameters against what the router can supply, once."""
    signature = inspect.signature(handler)
    params: set[str] = set()
    for name, p in signature.parameters.items():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            raise RegistrationError(
                f"{what}: handler {handler.__qualname__} must take named parameters only"
            )
        params.add(name)
    unknown = sorted(params - allowed)
    if unknown:
        raise RegistrationError(
            f"{what}: handler {handler.__qualname__} asks for {', '.join(unknown)}, which the "
            f"router cannot supply (it can: {', '.join(sorted(allowed))})"
        )
    hints = typing.get_type_hints(handler)
    text_params = frozenset(name for name in params if hints.get(name) in _TEXT_HINTS)
    return _Route(handler, frozenset(params), frozenset(), text_params)


class UnknownVerb(LookupError):
    """A card action named a verb no handler is registered for."""


@dataclass
class Router:
    """Maps parsed text, card verbs and search commands to handlers."""

    services: frozenset[str] = SERVICE_NAMES
    #: Told which intent or verb each turn ran and how its handler ended (bot/telemetry.py).
    telemetry: Telemetry = field(default_factory=Telemetry)
    _intents: dict[Intent, _Route[Outcome]] = field(default_factory=dict)
    _verbs: dict[str, _Route[Outcome]] = field(default_factory=dict)
    _searches: dict[str, tuple[SearchCommand, _Route[SearchAnswer]]] = field(default_factory=dict)
    _commands: list[Command] = field(default_factory=list)

    def intent(
        self, intent: Intent, *, command: Command | None = None
    ) -> Callable[[Handler], Handler]:
        """Register the handler for an intent (and, optionally, its quick command)."""
        if not isinstance(intent, Intent):
            raise RegistrationError(f"intent {intent!r} is not a bot.nlu.Intent")

        def register(handler: Handler) -> Handler:
            if intent in self._intents:
                raise RegistrationError(f"intent {intent.value!r} registered twice")
            self._intents[intent] = _route(
                handler, self.services | INTENT_NAMES, f"intent {intent.value!r}"
            )
            if command is not None:
                self._commands.append(command)
            return handler

        return register

    def action(self, verb: str, *, fields: Iterable[str] = ()) -> Callable[[Handler], Handler]:
        """Register the handler for a card action verb (Action.Execute or Action.Submit).

        `fields` are the card data keys the handler takes as parameters; the
        rest of the data is still there as `data` for handlers that read a form.
        """
        declared = frozenset(fields)

        def register(handler: Handler) -> Handler:
            if verb in self._verbs:
                raise RegistrationError(f"verb {verb!r} registered twice")
            route = _route(handler, self.services | ACTION_NAMES | declared, f"verb {verb!r}")
            route.fields = declared
            self._verbs[verb] = route
            return handler

        return register

    def search(self, command: SearchCommand) -> Callable[[SearchHandler], SearchHandler]:
        """Register a message-extension search command (Teams allows one extension)."""

        def register(handler: SearchHandler) -> SearchHandler:
            if command.id in self._searches:
                raise RegistrationError(f"search command {command.id!r} registered twice")
            route = _route(handler, self.services | SEARCH_NAMES, f"search {command.id!r}")
            self._searches[command.id] = (command, route)
            return handler

        return register

    def check_complete(self) -> None:
        """Every intent the parser can produce has a handler: raise at start-up otherwise."""
        missing = sorted(i.value for i in Intent if i not in self._intents)
        if missing:
            raise RegistrationError(f"no handler for intents: {', '.join(missing)}")

    def commands(self, scope: Scope | None = None) -> list[Command]:
        return [c for c in self._commands if scope is None or scope in c.scopes]

    def search_commands(self) -> list[SearchCommand]:
        return [command for command, _ in self._searches.values()]

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset(self._verbs)

    def fields_of(self, verb: str) -> frozenset[str]:
        """The card fields a verb's handler reads (for tests of the card templates)."""
        return self._verbs[verb].fields

    def reads_data(self, verb: str) -> bool:
        """Whether the verb's handler takes the whole card `data` (a form)."""
        return "data" in self._verbs[verb].params

    @property
    def intents(self) -> frozenset[Intent]:
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
            with self.telemetry.handling("action", incoming.action.verb):
                return await route.call({**filled, **base, "data": data, "action": incoming.action})

        if incoming.attachments:
            # The text only names where the attached form goes ("kings ultrasound").
            parsed = parse_for(FILE_INTENT, incoming.text)
        else:
            parsed = parse(incoming.text)
        log.debug("text routed to intent=%s", parsed.intent.value)
        with self.telemetry.handling("intent", parsed.intent.value):
            outcome = await self._run_intent(parsed, base, incoming.text)
            if not incoming.conversation.is_personal and looks_like_patient_data(incoming.text):
                return await self._remind_first(outcome, parsed, base, incoming.text)
        return outcome

    async def _remind_first(
        self, outcome: Outcome, parsed: Parsed, base: dict[str, Any], text: str
    ) -> Outcome:
        """In a shared chat, a message that seems to hold patient data gets the reminder first.

        The answer to a recognised question still follows; "didn't catch that"
        does not, so a message that is only patient details gets only the reminder.
        """
        log.info("patient data reminder given in a shared conversation")
        reminder = await self._run_intent(Parsed(Intent.PATIENT_DATA), base, text)
        if parsed.intent is FALLBACK_INTENT:
            return reminder
        return Outcome(
            replies=[*reminder.replies, *outcome.replies],
            update=outcome.update,
            private=outcome.private,
        )

    async def dispatch_intent(
        self, intent: Intent, incoming: Incoming, services: Mapping[str, Any]
    ) -> Outcome:
        """Run an intent chosen by the edge rather than parsed from text (e.g. welcome)."""
        base = {
            **services,
            "incoming": incoming,
            "user": incoming.user,
            "conversation": incoming.conversation,
        }
        with self.telemetry.handling("intent", intent.value):
            return await self._run_intent(Parsed(intent), base, incoming.text)

    async def dispatch_search(
        self, command_id: str, query: str, services: Mapping[str, Any]
    ) -> SearchAnswer:
        """Run a message-extension search. The query is never logged: it may hold anything."""
        found = self._searches.get(command_id)
        if found is None:
            raise UnknownVerb(command_id)
        _, route = found
        with self.telemetry.handling("search", command_id):
            return await route.call({**services, "query": query})

    async def _run_intent(self, parsed: Parsed, base: dict[str, Any], text: str) -> Outcome:
        route = self._intents.get(parsed.intent) or self._intents[FALLBACK_INTENT]
        return await route.call({**parsed.slots, **base, "parsed": parsed, "text": text})


__all__ = [
    "ALL_SCOPES",
    "FILE_INTENT",
    "Command",
    "Intent",
    "Parsed",
    "RegistrationError",
    "Router",
    "SearchCommand",
    "UnknownVerb",
]
