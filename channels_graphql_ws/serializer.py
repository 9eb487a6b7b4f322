"""The msgpack encoding of broadcast payloads on their way through the Channels layer.

Processes of the 1.0.0rc7 release may share a channel layer with ours during a
rolling deploy, so Django models, ``datetime``, ``date`` and ``time`` keep that
release's encoding in both directions: a map holding a marker key and ``as_str``.
Everything that release could not carry travels as a msgpack ExtType, which an
old process receives as a ``msgpack.ExtType`` instead of failing on it.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Iterable
from typing import Any

import msgpack
from django.apps import apps
from django.core import serializers
from django.core.exceptions import FieldDoesNotExist
from django.db import models

# ExtType codes. Bytes of one version may be read by another, so a code is never
# reused or renumbered; new types get new codes.
_EXT_UUID = 1  # UUID.bytes, 16 bytes
_EXT_DECIMAL = 2  # str(value) in ASCII, so precision, sign and NaN survive
_EXT_SET = 3  # the packed list of the items
_EXT_FROZENSET = 4  # the packed list of the items
_EXT_TUPLE = 5  # the packed list of the items
_EXT_QUERYSET = 6  # the packed list of its rows; decodes as a list
_EXT_LITERAL_MAP = 7  # the packed list of [key, value] pairs; decodes as a dict
_EXT_BIG_INT = 8  # two's complement, big-endian: ints beyond msgpack's 64 bits

_MODEL = "__djangomodel__"
_DATETIME = "__datetime__"
_DATE = "__date__"
_TIME = "__time__"
_MARKERS = frozenset((_MODEL, _DATETIME, _DATE, _TIME))

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_NATIVE = (str, bytes, bytearray, memoryview, float, bool, type(None))


def pack(data: Any) -> bytes:
    """Encode a payload; a value that cannot travel fails here, not in the receiver."""
    try:
        tree = _encode(data, True)
    except _Unpackable as error:
        raise TypeError(error.describe()) from None
    return _packb(tree)


def check(data: Any) -> None:
    """Raise ``pack``'s ``TypeError`` for a value that cannot travel, querying nothing.

    Querysets not evaluated yet are taken as they are (they always pack:
    their rows are models); everything else is checked exactly as ``pack``
    would encode it. On an event loop, where Django refuses queries, this
    is what can be known at the call.
    """
    try:
        _encode(data, False)
    except _Unpackable as error:
        raise TypeError(error.describe()) from None


def unpack(data: bytes) -> Any:
    """Decode what `pack` or the 1.0.0rc7 release produced, without touching the database."""
    hooks = {"object_hook": _object_hook, "ext_hook": _ext_hook}
    return msgpack.unpackb(data, raw=False, strict_map_key=False, **hooks)


class Serializer:
    """The 1.0.0rc7 entry points, kept for code written against that release."""

    @staticmethod
    def serialize(data: Any) -> bytes:
        return pack(data)

    @staticmethod
    def deserialize(data: bytes) -> Any:
        return unpack(data)


class _Unpackable(Exception):
    """Carries the failing value outwards while each container adds its step of the path."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value
        self.steps: list[str] = []  # innermost first
        self.in_key = False

    def describe(self) -> str:
        path = "payload" + "".join(reversed(self.steps))
        where = f"a key of {path}" if self.in_key else path
        return (
            f"Cannot pack a value of type {type(self.value).__name__!r} at {where}: a broadcast"
            " payload may hold only None, bool, int, float, str, bytes, dict, list, tuple,"
            " set, frozenset, UUID, Decimal, datetime, date, time, Django models and QuerySets"
        )


def _packb(tree: Any) -> bytes:
    packed: bytes = msgpack.packb(tree, use_bin_type=True)
    return packed


def _encode(obj: Any, query: bool) -> Any:
    """Turn `obj` into what msgpack packs natively (tuples included: they become ExtTypes).

    Without `query`, a queryset not evaluated yet becomes None (see `check`).
    """
    if isinstance(obj, _NATIVE):
        return obj
    if isinstance(obj, int):
        if _INT_MIN <= obj <= _INT_MAX:
            return obj
        size = (obj + (obj < 0)).bit_length() // 8 + 1
        return msgpack.ExtType(_EXT_BIG_INT, obj.to_bytes(size, "big", signed=True))
    if isinstance(obj, dict):
        return _encode_dict(obj, query)
    if isinstance(obj, list):
        return _encode_items(obj, query)
    if isinstance(obj, tuple):
        return _ext(_EXT_TUPLE, obj, query)
    if isinstance(obj, frozenset):
        return _ext(_EXT_FROZENSET, obj, query)
    if isinstance(obj, set):
        return _ext(_EXT_SET, obj, query)
    if isinstance(obj, models.Model):
        return {_MODEL: True, "as_str": _model_as_str(obj)}
    if isinstance(obj, models.QuerySet):
        if not query and obj._result_cache is None:
            return None
        # Iterating evaluates the queryset: this is the one value that may query the database.
        return _ext(_EXT_QUERYSET, obj, query)
    # A datetime is also a date, so it is checked first.
    if isinstance(obj, datetime.datetime):
        return {_DATETIME: True, "as_str": obj.isoformat()}
    if isinstance(obj, datetime.date):
        return {_DATE: True, "as_str": obj.isoformat()}
    if isinstance(obj, datetime.time):
        return {_TIME: True, "as_str": obj.isoformat()}
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(_EXT_UUID, obj.bytes)
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode("ascii"))
    raise _Unpackable(obj)


def _ext(code: int, items: Iterable[Any], query: bool) -> msgpack.ExtType:
    return msgpack.ExtType(code, _packb(_encode_items(items, query)))


def _encode_items(items: Iterable[Any], query: bool) -> list[Any]:
    # For a set the index is the position in iteration order: the best a path can say.
    encoded: list[Any] = []
    for item in items:
        try:
            encoded.append(_encode(item, query))
        except _Unpackable as error:
            error.steps.append(f"[{len(encoded)}]")
            raise
    return encoded


def _encode_dict(obj: dict[Any, Any], query: bool) -> Any:
    """Encode a dict, as a literal map when a plain map would decode as something else."""
    pairs: list[tuple[Any, Any]] = []
    literal = False
    for key, value in obj.items():
        try:
            encoded_key = _encode(key, query)
        except _Unpackable as error:
            error.steps.clear()
            error.in_key = True
            raise
        try:
            encoded_value = _encode(value, query)
        except _Unpackable as error:
            error.steps.append(f"[{key!r}]")
            raise
        # A marker key would make the decoder take the map for a model or a date; a key
        # encoded as a map (a datetime, a model) cannot be a key of a Python dict.
        if isinstance(encoded_key, dict) or (isinstance(key, str) and key in _MARKERS):
            literal = True
        pairs.append((encoded_key, encoded_value))
    if literal:
        return msgpack.ExtType(_EXT_LITERAL_MAP, _packb(pairs))
    return dict(pairs)


def _model_as_str(obj: Any) -> str:
    """Django's JSON for `obj`, limited to what needs no query.

    Many-to-many fields are queried (and fail on an unsaved instance), and so
    are deferred fields; packing may run on the event loop, where Django
    refuses queries. A deferred field thus decodes as its default.
    """
    deferred = obj.get_deferred_fields()
    fields: list[str] = []
    for field in obj._meta.concrete_model._meta.local_fields:
        if field.attname not in deferred:
            # The serializer selects plain fields by attname, foreign keys by name.
            fields += (field.name, field.attname)
    as_str: str = serializers.serialize("json", [obj], fields=fields)
    return as_str


def _decode_model(as_str: str) -> Any:
    """Build the instance from the JSON ourselves.

    Django's deserializer looks an instance without pk up by its natural key, a
    query that fails on the event loop. Many-to-many data (which 1.0.0rc7 sent)
    would also need the database, so it is dropped, as are fields this process's
    model does not have (the sender may run another version of it).
    """
    record = json.loads(as_str)[0]
    model = apps.get_model(record["model"])
    values: dict[str, Any] = {}
    for name, value in record.get("fields", {}).items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.concrete and not field.many_to_many:
            # A foreign key's to_python is its target field's, keyed by attname (`author_id`).
            values[field.attname] = field.to_python(value)
    pk = model._meta.pk
    values[pk.attname] = pk.to_python(record.get("pk"))
    return model(**values)


def _object_hook(obj: dict[Any, Any]) -> Any:
    if _MODEL in obj:
        return _decode_model(obj["as_str"])
    if _DATETIME in obj:
        return datetime.datetime.fromisoformat(obj["as_str"])
    if _DATE in obj:
        return datetime.date.fromisoformat(obj["as_str"])
    if _TIME in obj:
        return datetime.time.fromisoformat(obj["as_str"])
    return obj


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == _EXT_DECIMAL:
        return decimal.Decimal(data.decode("ascii"))
    if code == _EXT_BIG_INT:
        return int.from_bytes(data, "big", signed=True)
    if code == _EXT_TUPLE:
        return tuple(unpack(data))
    if code == _EXT_SET:
        return set(unpack(data))
    if code == _EXT_FROZENSET:
        return frozenset(unpack(data))
    if code == _EXT_QUERYSET:
        return unpack(data)
    if code == _EXT_LITERAL_MAP:
        return {key: value for key, value in unpack(data)}
    # A code from a newer version: hand it over as msgpack does by default.
    return msgpack.ExtType(code, data)
