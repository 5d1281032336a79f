import pytest

from jaforge.extras import MissingExtraError, require


def test_missing_extra_names_the_install_line():
    with pytest.raises(MissingExtraError, match=r"pip install 'jaforge\[scale\]'"):
        require("jaforge_no_such_module", "scale", "the Ray executor")


def test_present_module_is_returned():
    assert require("json", "dev").dumps([1]) == "[1]"
