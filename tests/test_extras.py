import pytest

from jaforge.extras import MissingExtraError, require


def test_missing_extra_names_the_install_line():
    with pytest.raises(MissingExtraError, match=r"pip install 'jaforge\[scale\]'"):
        require("jaforge_no_such_module", "scale", "the Ray executor")


def test_present_module_is_returned():
    assert require("json", "dev").dumps([1]) == "[1]"


def test_every_extra_a_feature_asks_for_exists():
    """`require(module, extra)` lines point at extras pyproject.toml declares (a `jaforge[x]` that
    pip cannot install is no help)."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    declared = set(tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"])
    asked = {m.group(1) for path in (root / "src").rglob("*.py")
             for m in re.finditer(r"require\(\s*\"[\w.]+\",\s*\"(\w+)\"", path.read_text("utf-8"))}
    from jaforge.train.metrics import TRACKER_EXTRAS

    asked |= {extra for _, extra in TRACKER_EXTRAS.values()}
    assert {"tensorboard", "wandb", "sft", "train"} <= asked and asked <= declared, asked - declared
