import pytest

from jaforge.registry import Registry


def test_register_and_get():
    reg = Registry("widget")
    reg.register("alpha")(1)
    assert reg.get("alpha") == 1
    assert "alpha" in reg and reg.names() == ["alpha"]


def test_unknown_name_lists_known_and_suggests():
    reg = Registry("filter")
    reg.register("min_length")(object)
    reg.register("hiragana_ratio")(object)
    with pytest.raises(KeyError) as err:
        reg.get("min_lenght")
    message = err.value.args[0]
    assert "did you mean 'min_length'" in message
    assert "hiragana_ratio" in message


def test_double_registration_fails():
    reg = Registry("x")
    reg.register("a")(1)
    with pytest.raises(ValueError):
        reg.register("a")(2)
