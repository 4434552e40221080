"""Activities to and from JSON without msrest's generic walk, where that is provably the same.

msrest (de)serialises every value of an activity, card content included, with
per-value type dispatch: about 3 ms to send one of our cards and 1 ms to read
an incoming message. Bot Framework activities are plain data that map 1:1
onto JSON through each model's `_attribute_map`, so both directions are done
here directly. Whatever the fast path does not cover exactly (flattened keys,
a value of the wrong JSON type) is handed to msrest, so odd input behaves
exactly as before. `tests/test_fastjson.py` proves both paths agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from botbuilder import schema
from botbuilder.schema import teams as teams_schema
from botframework.connector import models as connector_models
from msrest.serialization import Deserializer, Model, Serializer

AnyModel = TypeVar("AnyModel", bound=Model)


class FastActivitySerializer:
    """msrest's Serializer, except that an outgoing Activity is turned into JSON directly.

    msrest walks every nested dict of a card attachment value by value with
    type checks (about 3 ms for one of our cards); an Activity is plain data
    that maps 1:1 onto JSON through its `_attribute_map`. Anything the fast path
    does not cover (flattened or additional-property keys) goes to msrest.
    `tests/test_fastjson.py` proves both give the same JSON for every shape
    the bot sends.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        if data_type == "Activity" and isinstance(data, Model):
            try:
                return model_json(data)
            except _NeedsMsrest:
                pass
        return self._inner.body(data, data_type, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _NeedsMsrest(Exception):
    """This model uses a serialisation feature the fast path leaves to msrest."""


def model_json(value: Model) -> dict[str, Any]:
    """JSON-ready data for a msrest model tree, as msrest's Serializer would produce it."""
    out: dict[str, Any] = {}
    validation = getattr(value, "_validation", {}) or {}
    for attr, spec in value._attribute_map.items():
        key = spec["key"]
        if not key or "." in key:
            raise _NeedsMsrest(attr)
        item = getattr(value, attr, None)
        if item is None or validation.get(attr, {}).get("readonly"):
            continue
        out[key] = _typed(item, spec["type"])
    return out


def _typed(item: Any, data_type: str) -> Any:
    if data_type == "iso-8601":
        return Serializer.serialize_iso(item)
    return model_json(item) if isinstance(item, Model) else _plain(item)


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return model_json(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return Serializer.serialize_iso(value)
    return value


# --- JSON -> models ------------------------------------------------------------------


@cache
def _model_classes() -> dict[str, type[Model]]:
    classes: dict[str, type[Model]] = {}
    for module in (connector_models, schema, teams_schema):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Model):
                classes.setdefault(name, value)
    return classes


def activity_from_json(payload: dict[str, Any]) -> schema.Activity:
    """An Activity from parsed JSON, identical to `Activity().deserialize(payload)`."""
    try:
        return _build(schema.Activity, payload)
    except _NeedsMsrest:
        # msrest's deserialize is unannotated; it returns an instance of the class.
        activity: schema.Activity = schema.Activity().deserialize(payload)
        return activity


def _build(cls: type[AnyModel], data: Any) -> AnyModel:
    if not isinstance(data, dict) or getattr(cls, "_subtype_map", None):
        raise _NeedsMsrest(cls.__name__)
    values: dict[str, Any] = {}
    known: set[str] = set()
    for attr, spec in cls._attribute_map.items():
        key = spec["key"]
        if not key or "." in key:
            raise _NeedsMsrest(attr)
        known.add(key)
        if key in data and data[key] is not None:
            values[attr] = _read(data[key], spec["type"])
    model = cls(**values)
    extra = {k: v for k, v in data.items() if k not in known}
    if extra:
        model.additional_properties = extra
    return model


def _read(value: Any, data_type: str) -> Any:
    if data_type == "str":
        if isinstance(value, str):
            return value
        raise _NeedsMsrest(data_type)
    if data_type == "bool":
        if isinstance(value, bool):
            return value
        raise _NeedsMsrest(data_type)
    if data_type in ("int", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _NeedsMsrest(data_type)
    if data_type == "object":
        return value
    if data_type == "iso-8601":
        if isinstance(value, str):
            return Deserializer.deserialize_iso(value)
        raise _NeedsMsrest(data_type)
    if data_type.startswith("[") and data_type.endswith("]"):
        if isinstance(value, list):
            return [_read(item, data_type[1:-1]) for item in value]
        raise _NeedsMsrest(data_type)
    cls = _model_classes().get(data_type)
    if cls is None:
        raise _NeedsMsrest(data_type)
    return _build(cls, value)
