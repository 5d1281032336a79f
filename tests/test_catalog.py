"""The model catalogue: every entry complete, filters, abilities from architecture and licence,
and the warnings a continual or merge plan prints."""

import json


from jaforge.catalog import CatalogConfig, abilities, load_catalog, plan_warnings, run
from jaforge.cli import main

KEYS = {"id", "name", "organisation", "family", "architecture", "parameters", "vocab_size", "tokenizer",
        "context_length", "licence", "licence_allows_derivatives", "base_model", "languages",
        "released", "notes"}


def test_every_entry_is_complete_and_unique():
    models = load_catalog()
    assert len(models) >= 25
    assert all(KEYS <= set(m) for m in models), [m["id"] for m in models if not KEYS <= set(m)]
    assert len({m["id"] for m in models}) == len(models)
    assert all(isinstance(m["parameters"], float) and m["parameters"] > 1e8 for m in models)
    assert all("ja" in m["languages"] for m in models if m["organisation"] != "Meta")


def test_filters_and_abilities():
    llama_small = run(CatalogConfig(can="continue", max_params=2e9)).summary
    rows = [line for line in llama_small.splitlines()[2:] if line.startswith("| ")]
    assert rows and all("| yes / yes / yes |" in r for r in rows)
    gpt2 = next(m for m in load_catalog() if m["architecture"] == "GPT2LMHeadModel")
    assert abilities(gpt2) == {"load": False, "continue": False, "merge": False}
    assert "swallow" in run(CatalogConfig(query="SWALLOW")).summary.lower()


def test_plan_warnings_for_licence_architecture_and_vocabulary(tmp_path):
    no_derivatives = next((m for m in load_catalog() if m["architecture"] == "LlamaForCausalLM"
                           and not m["licence_allows_derivatives"]), None)
    if no_derivatives:
        assert any("does not allow derivatives" in w for w in plan_warnings(no_derivatives["id"]))
    for name, vocab in (("a", 32000), ("b", 43176)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(
            {"architectures": ["LlamaForCausalLM"], "vocab_size": vocab}))
    warnings = plan_warnings(str(tmp_path / "a"), str(tmp_path / "b"), purpose="merge")
    assert any("different vocabularies (32000 vs 43176" in w for w in warnings)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text(json.dumps({"architectures": ["GPTNeoXForCausalLM"]}))
    assert any("not one jaforge loads" in w for w in plan_warnings(str(tmp_path / "c")))


def test_catalog_command(capsys):
    assert main(["catalog", "--family", "[llama]", "--licence", "[apache-2.0]"]) == 0
    out = capsys.readouterr().out
    assert "| llm-jp/llm-jp-3-1.8b | llama |" in out and "| mit |" not in out
