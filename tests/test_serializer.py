"""The broadcast payload encoding: round trips, and both directions of 1.0.0rc7 compatibility."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import msgpack
import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_graphql_ws.serializer import Serializer, pack, unpack

UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


def raw(data: bytes):
    """What a plain msgpack reader sees: markers and ExtTypes undecoded."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _old_object_hook(obj):
    # Mirrors the decoder of 1.0.0rc7.
    if "__djangomodel__" in obj:
        return next(serializers.deserialize("json", obj["as_str"])).object
    if "__datetime__" in obj:
        return datetime.datetime.fromisoformat(obj["as_str"])
    if "__date__" in obj:
        return datetime.date.fromisoformat(obj["as_str"])
    if "__time__" in obj:
        return datetime.time.fromisoformat(obj["as_str"])
    return obj


def old_unpack(data: bytes):
    """How a process of 1.0.0rc7 decodes bytes."""
    return msgpack.unpackb(data, object_hook=_old_object_hook, raw=False)


def old_model_map(model_label: str, pk, fields: dict) -> dict:
    """The marker map 1.0.0rc7 sent for a model: Django's JSON, many-to-many lists included."""
    as_str = json.dumps([{"model": model_label, "pk": pk, "fields": fields}])
    return {"__djangomodel__": True, "as_str": as_str}


ALICE_FIELDS = {
    "password": "",
    "last_login": None,
    "is_superuser": False,
    "username": "alice",
    "first_name": "Alice",
    "last_name": "",
    "email": "alice@example.com",
    "is_staff": True,
    "is_active": True,
    "date_joined": "2021-03-04T05:06:07.123Z",
    "groups": [1, 2],
    "user_permissions": [],
}


@pytest.fixture
def content_types():
    """A real table with rows, for the one encoding that may query: a QuerySet."""
    # The ORM tests may have migrated the database already (the table exists).
    made = ContentType._meta.db_table not in connection.introspection.table_names()
    if made:
        with connection.schema_editor() as editor:
            editor.create_model(ContentType)
    saved = list(ContentType.objects.all())
    ContentType.objects.all().delete()
    try:
        ContentType.objects.create(id=1, app_label="shop", model="order")
        ContentType.objects.create(id=2, app_label="shop", model="item")
        yield
    finally:
        ContentType.objects.clear_cache()
        if made:
            with connection.schema_editor() as editor:
                editor.delete_model(ContentType)
        else:
            ContentType.objects.all().delete()
            ContentType.objects.bulk_create(saved)


def test_rule1_msgpack_options_bin_type_and_int_keys():
    assert pack(b"ab")[0] == 0xC4  # bin 8: bytes are not sent as str
    assert pack("ab")[0] == 0xA2  # fixstr
    result = unpack(pack({1: b"\x00\xff", "s": "text", -7: None}))
    assert result == {1: b"\x00\xff", "s": "text", -7: None}
    assert type(result[1]) is bytes
    assert type(result["s"]) is str


def test_rule2_old_release_bytes_decode():
    data = msgpack.packb(
        {
            "user": old_model_map("auth.user", 5, ALICE_FIELDS),
            "at": {"__datetime__": True, "as_str": "2021-03-04T05:06:07.000008+05:30"},
            "on": {"__date__": True, "as_str": "2021-03-04"},
            "time": {"__time__": True, "as_str": "05:06:07"},
        },
        use_bin_type=True,
    )
    with CaptureQueriesContext(connection) as queries:
        result = unpack(data)
    assert len(queries) == 0
    user = result["user"]
    assert type(user) is User
    assert user.pk == 5
    assert user.username == "alice"
    assert user.first_name == "Alice"
    assert user.email == "alice@example.com"
    assert user.is_staff is True
    assert user.last_login is None
    assert user.date_joined == datetime.datetime(2021, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    assert result["at"] == datetime.datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=IST)
    assert result["on"] == datetime.date(2021, 3, 4)
    assert type(result["on"]) is datetime.date
    assert result["time"] == datetime.time(5, 6, 7)


def test_rule2_old_release_reads_our_models_and_dates():
    user = User(id=5, username="alice", first_name="Alice", is_staff=True)
    at = datetime.datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=IST)
    payload = {"user": user, "at": at, "on": at.date(), "time": at.timetz()}
    data = pack(payload)
    seen = raw(data)
    assert seen["at"] == {"__datetime__": True, "as_str": at.isoformat()}
    assert seen["on"] == {"__date__": True, "as_str": "2021-03-04"}
    assert seen["time"] == {"__time__": True, "as_str": at.timetz().isoformat()}
    assert set(seen["user"]) == {"__djangomodel__", "as_str"}
    result = old_unpack(data)
    assert type(result["user"]) is User
    assert result["user"].pk == 5
    assert result["user"].username == "alice"
    assert result["user"].first_name == "Alice"
    assert result["user"].is_staff is True
    assert result["at"] == at
    assert result["on"] == at.date()
    assert result["time"] == at.timetz()


def test_rule2_datetime_is_checked_before_date():
    at = datetime.datetime(2021, 3, 4, 5, 6, 7)
    assert raw(pack(at)) == {"__datetime__": True, "as_str": "2021-03-04T05:06:07"}
    assert type(unpack(pack(at))) is datetime.datetime
    assert type(unpack(pack(at.date()))) is datetime.date


def test_rule2_aware_datetime_keeps_tzinfo():
    at = datetime.datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=IST)
    result = unpack(pack(at))
    assert result == at
    assert result.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    naive = unpack(pack(at.replace(tzinfo=None)))
    assert naive.tzinfo is None
    time = unpack(pack(datetime.time(1, 2, 3, tzinfo=UTC)))
    assert time.utcoffset() == datetime.timedelta(0)


def test_rule3_model_pack_and_unpack_do_not_query():
    # Django's serializer would query auth_group for `groups`; the table does not exist.
    user = User(id=5, username="alice", email="a@example.com")
    with CaptureQueriesContext(connection) as queries:
        as_str = raw(pack(user))["as_str"]
        result = unpack(pack(user))
    assert len(queries) == 0
    record = json.loads(as_str)[0]
    assert record["model"] == "auth.user"
    assert record["pk"] == 5
    assert "groups" not in record["fields"]
    assert "user_permissions" not in record["fields"]
    assert result.pk == 5
    assert result.email == "a@example.com"


def test_rule3_unsaved_model_with_pk_none_round_trips():
    # Django's deserializer looks such a user up by its natural key (the username).
    data = pack(User(username="bob", last_name="Builder"))
    with CaptureQueriesContext(connection) as queries:
        result = unpack(data)
    assert len(queries) == 0
    assert type(result) is User
    assert result.pk is None
    assert result.username == "bob"
    assert result.last_name == "Builder"
    assert result._state.adding is True


def test_rule3_foreign_key_decodes_to_attname():
    permission = Permission(id=3, name="Can sell", codename="sell", content_type_id=7)
    with CaptureQueriesContext(connection) as queries:
        result = unpack(pack(permission))
        old = unpack(
            msgpack.packb(
                old_model_map(
                    "auth.permission",
                    4,
                    {"name": "Can buy", "content_type": 8, "codename": "buy", "dropped": 1},
                ),
                use_bin_type=True,
            )
        )
    assert len(queries) == 0
    assert (result.pk, result.name, result.codename) == (3, "Can sell", "sell")
    assert result.content_type_id == 7
    assert (old.pk, old.name, old.codename, old.content_type_id) == (4, "Can buy", "buy", 8)


def test_rule3_deferred_fields_are_not_fetched(content_types):
    deferred = ContentType.objects.only("app_label").get(id=2)
    with CaptureQueriesContext(connection) as queries:
        result = unpack(pack(deferred))
    assert len(queries) == 0
    assert (result.pk, result.app_label) == (2, "shop")


async def test_rule3_pack_and_unpack_on_the_event_loop():
    with pytest.raises(SynchronousOnlyOperation):
        User.objects.count()  # what any query in pack or unpack would do here
    user = User(id=5, username="alice")
    result = unpack(pack({"user": user, "new": User(username="bob")}))
    assert result["user"].pk == 5
    assert result["new"].pk is None
    old = unpack(msgpack.packb(old_model_map("auth.user", None, ALICE_FIELDS)))
    assert (old.pk, old.username) == (None, "alice")


def test_rule4_ext_types_round_trip():
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    payload = {
        "uuid": uid,
        "decimal": decimal.Decimal("12.3400"),
        "set": {1, "a", uid},
        "frozenset": frozenset({2, (3, 4)}),
        "tuple": (1, [2, (3,)], {"x": {4}}),
    }
    result = unpack(pack(payload))
    assert result == payload
    assert type(result["set"]) is set
    assert type(result["frozenset"]) is frozenset
    assert type(result["tuple"]) is tuple
    assert type(result["tuple"][1]) is list
    assert type(result["tuple"][1][1]) is tuple
    assert str(result["decimal"]) == "12.3400"


def test_rule4_ext_type_codes_are_stable():
    uid = uuid.uuid4()
    seen = raw(pack([uid, decimal.Decimal("1.5"), {1}, frozenset({1}), (1,)]))
    assert seen == [
        msgpack.ExtType(1, uid.bytes),
        msgpack.ExtType(2, b"1.5"),
        msgpack.ExtType(3, msgpack.packb([1])),
        msgpack.ExtType(4, msgpack.packb([1])),
        msgpack.ExtType(5, msgpack.packb([1])),
    ]


def test_rule4_decimal_precision_sign_and_nan_survive():
    for text in ("-0.000", "1E+30", "3.141592653589793238462643383279", "-Infinity", "sNaN"):
        result = unpack(pack(decimal.Decimal(text)))
        assert type(result) is decimal.Decimal
        assert str(result) == text
    assert unpack(pack(decimal.Decimal("-0.000"))).is_signed()
    assert unpack(pack(decimal.Decimal("NaN"))).is_nan()


def test_rule4_tuples_stay_tuples_and_lists_stay_lists():
    result = unpack(pack({"t": (1, 2), "l": [1, 2], "e": (), "n": [(), [()]]}))
    assert type(result["t"]) is tuple
    assert type(result["l"]) is list
    assert result["e"] == ()
    assert type(result["n"][0]) is tuple
    assert type(result["n"][1]) is list
    assert type(result["n"][1][0]) is tuple


def test_rule4_nested_containers_round_trip():
    ids = [uuid.uuid4() for _ in range(3)]
    user = User(id=9, username="carol")
    payload = {
        "groups": {"a": ({ids[0], ids[1]}, frozenset({ids[2]})), 7: ()},
        "rows": [user, {"when": datetime.date(2020, 1, 2), "price": decimal.Decimal("9.99")}],
        "deep": [[[(datetime.time(1, 2), {ids[0]: (user,)})]]],
    }
    result = unpack(pack(payload))
    assert result["groups"] == payload["groups"]
    assert type(result["groups"]["a"][1]) is frozenset
    assert result["rows"][0].username == "carol"
    assert result["rows"][1] == payload["rows"][1]
    inner = result["deep"][0][0][0]
    assert inner[0] == datetime.time(1, 2)
    assert inner[1][ids[0]][0].pk == 9


def test_rule4_queryset_comes_back_as_list_of_models(content_types):
    result = unpack(pack({"types": ContentType.objects.order_by("-id")}))
    assert type(result["types"]) is list
    assert [type(item) for item in result["types"]] == [ContentType, ContentType]
    assert [(item.pk, item.app_label, item.model) for item in result["types"]] == [
        (2, "shop", "item"),
        (1, "shop", "order"),
    ]
    assert raw(pack(ContentType.objects.none())) == msgpack.ExtType(6, msgpack.packb([]))


@pytest.mark.parametrize("marker", ["__djangomodel__", "__datetime__", "__date__", "__time__"])
def test_rule5_user_dict_with_marker_key_stays_a_dict(marker):
    user_dict = {marker: True, "as_str": "2021-03-04", "extra": (datetime.date(2020, 1, 1),)}
    payload = {"outer": [user_dict], marker: "at the top too"}
    result = unpack(pack(payload))
    assert result == payload
    assert type(result["outer"][0]["extra"]) is tuple
    assert type(result["outer"][0]["extra"][0]) is datetime.date
    # Even the old release does not take it for a marker: it sees an ExtType.
    assert type(old_unpack(pack(user_dict))) is msgpack.ExtType


class Foo:
    pass


def test_rule6_unpackable_value_names_type_and_path():
    with pytest.raises(TypeError) as error:
        pack({"items": [1, 2, {"owner": Foo()}]})
    message = str(error.value)
    assert message.startswith("Cannot pack a value of type 'Foo' at payload['items'][2]['owner']: ")
    assert "Decimal" in message  # the message says what can travel

    with pytest.raises(TypeError, match=r"type 'function' at payload\[0\]\[1\]\[5\]: "):
        pack([(0, [0, 1, 2, 3, 4, lambda: None])])
    with pytest.raises(TypeError, match=r"type 'Foo' at payload: "):
        pack(Foo())
    with pytest.raises(TypeError, match=r"type 'Foo' at payload\[3\]\['s'\]\[0\]: "):
        pack({3: {"s": {Foo()}}})
    with pytest.raises(TypeError, match=r"type 'Foo' at a key of payload\['k'\]: "):
        pack({"k": {(1, Foo()): 1}})
    with pytest.raises(TypeError, match=r"type 'Foo' at payload\['a'\]\['__date__'\]: "):
        pack({"a": {"__date__": Foo()}})


def test_rule7_keys_of_many_types_and_bytes_stay_bytes():
    uid = uuid.uuid4()
    at = datetime.datetime(2021, 1, 2, tzinfo=UTC)
    payload = {"s": 1, 2: b"two", 2.5: bytearray(b"x"), None: 0, (1, "t"): [], uid: {at: 3}}
    result = unpack(pack(payload))
    assert result == {"s": 1, 2: b"two", 2.5: b"x", None: 0, (1, "t"): [], uid: {at: 3}}
    assert type(result[2]) is bytes
    assert type(result[2.5]) is bytes


def test_rule7_big_ints_travel_as_ext_type():
    values = [2**64, -(2**63) - 1, 2**1000, -(2**1000), 2**8000 + 1]
    assert unpack(pack(values)) == values
    assert all(type(item) is msgpack.ExtType for item in raw(pack(values)))
    assert raw(pack(2**64))[0] == 8
    edges = [2**64 - 1, -(2**63), 0, -1]
    assert raw(pack(edges)) == edges  # still plain msgpack ints


def test_serializer_class_delegates_to_pack_and_unpack():
    payload = {"t": (1, decimal.Decimal("2")), "d": datetime.date(2020, 1, 1)}
    assert Serializer.serialize(payload) == pack(payload)
    assert Serializer.deserialize(Serializer.serialize(payload)) == payload
    assert isinstance(Serializer.serialize(payload), bytes)


def test_unknown_ext_code_is_handed_over_undecoded():
    data = msgpack.packb([msgpack.ExtType(99, b"new")], use_bin_type=True)
    assert unpack(data) == [msgpack.ExtType(99, b"new")]
