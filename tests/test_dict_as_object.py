"""DictAsObject: attribute and item access to one shared dict."""

from __future__ import annotations

import pytest

from channels_graphql_ws.dict_as_object import DictAsObject


def test_reads_and_writes_go_to_the_wrapped_dict_both_ways():
    scope = {"a": 1}
    wrapper = DictAsObject(scope)
    assert wrapper.a == 1 and wrapper["a"] == 1
    wrapper.b = 2
    wrapper["c"] = 3
    scope["d"] = 4
    assert scope == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert wrapper.d == 4 and "d" in wrapper
    del wrapper.a
    del wrapper["b"]
    del scope["c"]
    assert scope == {"d": 4}
    assert "c" not in wrapper


def test_asdict_is_the_same_object_and_str_is_the_dicts():
    scope = {"x": [1]}
    wrapper = DictAsObject(scope)
    assert wrapper._asdict() is scope
    assert str(wrapper) == str(scope) and repr(wrapper) == repr(scope)


def test_private_names_never_reach_the_dict():
    scope: dict[str, object] = {}
    wrapper = DictAsObject(scope)
    with pytest.raises(AttributeError):
        wrapper._private = 1
    assert scope == {}
    assert "_scope" not in scope


def test_missing_and_private_attributes_raise_attribute_error():
    wrapper = DictAsObject({"_hidden": 1})
    with pytest.raises(AttributeError):
        wrapper.missing  # noqa: B018
    with pytest.raises(AttributeError):
        wrapper._hidden  # noqa: B018
    assert getattr(wrapper, "missing", "default") == "default"
    with pytest.raises(KeyError):
        wrapper["missing"]
