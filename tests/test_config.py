from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
import yaml

from jaforge.config import ConfigError, describe, load_config, save_config


@dataclass
class Inner:
    size: int = 3
    """How big."""
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str = "x"
    ratio: float = 0.5
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    maybe: Optional[int] = None


def test_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: y\ninner:\n  size: 5\n", encoding="utf-8")
    cfg = load_config(Outer, path, [("inner.mode", "b"), ("ratio", "1"), ("tags", "[p, q]")])
    assert cfg.name == "y" and cfg.inner.size == 5 and cfg.inner.mode == "b"
    assert cfg.ratio == 1.0 and isinstance(cfg.ratio, float) and cfg.tags == ["p", "q"]


def test_unknown_key_is_named_with_did_you_mean(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  sise: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(Outer, path)
    msg = str(err.value)
    assert "'inner.sise'" in msg and "did you mean 'size'" in msg and str(path) in msg


def test_wrong_type_and_bad_choice():
    with pytest.raises(ConfigError, match="'inner.size'.*expected int"):
        load_config(Outer, None, [("inner.size", "many")])
    with pytest.raises(ConfigError, match="'inner.mode'.*not one of"):
        load_config(Outer, None, [("inner.mode", "c")])


def test_save_roundtrip_and_help(tmp_path):
    cfg = load_config(Outer, None, [("maybe", "7")])
    save_config(cfg, tmp_path / "out" / "config.yaml")
    saved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text(encoding="utf-8"))
    assert saved["maybe"] == 7 and saved["inner"]["size"] == 3
    assert load_config(Outer, tmp_path / "out" / "config.yaml") == cfg
    lines = describe(Outer)
    assert any(line.startswith("  --inner.size") and "How big." in line for line in lines)


def test_dotted_override_indexes_lists():
    from jaforge.config import ConfigError, apply_override

    data = {"data": {"sources": [{"ratio": 1.0}, {"ratio": 1.0}]}}
    apply_override(data, "data.sources.1.ratio", "0.5")
    assert data["data"]["sources"] == [{"ratio": 1.0}, {"ratio": 0.5}]
    with pytest.raises(ConfigError, match="'data.sources.2.ratio'"):
        apply_override(data, "data.sources.2.ratio", "0.5")
