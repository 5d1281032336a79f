"""Parity with mergekit 0.1.x: for every method both have, on tiny random Llama directories, our
merged tensors equal mergekit's within 1e-6 and the merged models' logits within 1e-5.

DARE and DELLA draw random masks; mergekit draws them from torch's global generator in its
scheduler's order, so both sides get the same (content-derived) mask here: mergekit's Bernoulli
draws are replaced in-process and ours through the engine's mask hook. Everything else is each tool's own."""

from __future__ import annotations

import copy

import pytest

from jaforge.config import build
from jaforge.merge.config import MergeConfig
from jaforge.merge.stage import merge

from .conftest import load_logits, tiny_llama, torch

mergekit = pytest.importorskip("mergekit", reason="mergekit (the 'bench' extra) is not installed")


def content_mask(delta, density):
    """A mask both tools can compute from the task vector alone (DARE), or from the per-entry
    keep probabilities alone (DELLA, whose draw mergekit makes with torch.bernoulli(probabilities))."""
    if isinstance(density, torch.Tensor):
        return probability_mask(density)
    return ((delta.abs() * 7919.0).frac() < density).to(delta.dtype)


def probability_mask(probabilities):
    spread = (torch.arange(probabilities.numel(), dtype=torch.float64) * 0.6180339887498949).frac()
    return (spread.reshape(probabilities.shape) < probabilities).to(probabilities.dtype)


def mergekit_merge(config: dict, out, monkeypatch) -> None:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions
    import mergekit.sparsify as sparsify

    def bernoulli(tensor, density, rescale_norm=None):
        if density >= 1:
            return tensor
        return sparsify.rescaled_masked_tensor(tensor, content_mask(tensor, density), rescale_norm)

    monkeypatch.setattr(sparsify, "bernoulli", bernoulli)
    monkeypatch.setattr(sparsify.torch, "bernoulli", lambda probabilities, *a, **k: probability_mask(probabilities))
    run_merge(MergeConfiguration.model_validate(copy.deepcopy(config)), str(out),
              MergeOptions(copy_tokenizer=True, quiet=True, write_model_card=False,
                           lora_merge_cache=str(out.parent / f"{out.name}-lora-cache")))


def our_merge(config: dict, out) -> None:
    cfg = build(MergeConfig, {**copy.deepcopy(config), "output_dir": str(out)})
    merge(cfg, masks=lambda name: lambda delta, density, i: content_mask(delta, density))


def tensors(directory):
    from safetensors.torch import load_file

    state = {}
    for path in sorted(directory.glob("*.safetensors")):
        state.update(load_file(str(path)))
    return state


def recipes(f) -> dict[str, dict]:
    b, m = str(f["base"]), [str(f[f"ft{i}"]) for i in range(1, 5)]
    return {
        "linear": {"merge_method": "linear", "models": [
            {"model": m[0], "parameters": {"weight": 0.3}},
            {"model": m[1], "parameters": {"weight": [0.2, 0.9]}},
            {"model": m[2], "parameters": {"weight": [{"filter": "mlp", "value": 0.5}, {"value": 1.5}]}}]},
        "linear_unnormalized": {"merge_method": "linear", "parameters": {"normalize": False}, "models": [
            {"model": m[0], "parameters": {"weight": 0.6}}, {"model": m[1], "parameters": {"weight": 0.7}}]},
        "task_arithmetic": {"merge_method": "task_arithmetic", "base_model": b, "parameters": {"lambda": 0.8},
                            "models": [{"model": m[0], "parameters": {"weight": [1.0, 0.4]}},
                                       {"model": m[1], "parameters": {"weight": 0.7}}]},
        "ties": {"merge_method": "ties", "base_model": b, "parameters": {"density": 0.5, "normalize": True},
                 "models": [{"model": m[0], "parameters": {"weight": 1.0, "density": [0.3, 0.8]}},
                            {"model": m[1], "parameters": {"weight": 0.5}},
                            {"model": m[2], "parameters": {"weight": [{"filter": "self_attn", "value": -0.4},
                                                                      {"value": 0.8}]}}]},
        "dare_linear": {"merge_method": "dare_linear", "base_model": b,
                        "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.4}},
                                   {"model": m[1], "parameters": {"weight": 0.5, "density": [0.9, 0.2]}}]},
        "dare_ties": {"merge_method": "dare_ties", "base_model": b, "parameters": {"normalize": True},
                      "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.5}},
                                 {"model": m[1], "parameters": {"weight": 0.5, "density": 0.7}},
                                 {"model": m[2], "parameters": {"weight": 0.4, "density": 0.3}}]},
        "breadcrumbs": {"merge_method": "breadcrumbs", "base_model": b,
                        "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.5, "gamma": 0.05}},
                                   {"model": m[1], "parameters": {"weight": 0.5, "density": [0.9, 0.3]}}]},
        "breadcrumbs_ties": {"merge_method": "breadcrumbs_ties", "base_model": b,
                             "parameters": {"normalize": True, "rescale": True},
                             "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.7, "gamma": 0.1}},
                                        {"model": m[1], "parameters": {"weight": 0.5, "density": 0.4}},
                                        {"model": m[2], "parameters": {"weight": 0.4, "density": 0.98, "gamma": 0.05}}]},
        "della": {"merge_method": "della", "base_model": b, "parameters": {"lambda": 1.1},
                  "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.5, "epsilon": 0.2}},
                             {"model": m[1], "parameters": {"weight": 0.5, "density": 0.7}},
                             {"model": m[2], "parameters": {"weight": 0.4, "density": [0.3, 0.6], "epsilon": 0.1}}]},
        "della_linear": {"merge_method": "della_linear", "base_model": b,
                         "models": [{"model": m[0], "parameters": {"weight": 0.6, "density": 0.5}},
                                    {"model": m[1], "parameters": {"weight": 0.5, "density": 0.4, "epsilon": 0.05}}]},
        "nuslerp": {"merge_method": "nuslerp", "base_model": b,
                    "models": [{"model": m[0], "parameters": {"weight": 0.7}},
                               {"model": m[1], "parameters": {"weight": [0.2, 0.9]}}]},
        "nuslerp_rows": {"merge_method": "nuslerp", "base_model": b, "parameters": {"nuslerp_flatten": False},
                         "models": [{"model": m[0], "parameters": {"weight": 1.0}},
                                    {"model": m[1], "parameters": {"weight": 0.5}}]},
        "nuslerp_columns_no_base": {"merge_method": "nuslerp",
                                    "parameters": {"nuslerp_flatten": False, "nuslerp_row_wise": True},
                                    "models": [{"model": m[0], "parameters": {"weight": 0.4}},
                                               {"model": m[1], "parameters": {"weight": 0.6}}]},
        "slerp": {"merge_method": "slerp", "base_model": b, "parameters": {"t": [0.0, 0.3, 1.0]},
                  "models": [{"model": b}, {"model": m[0]}]},
        "slerp_slices": {"merge_method": "slerp", "base_model": b, "parameters": {"t": [{"filter": "mlp", "value": 0.7},
                                                                                      {"value": 0.25}]},
                         "slices": [{"sources": [{"model": b, "layer_range": [0, 2]},
                                                 {"model": m[3], "layer_range": [0, 2]}]}]},
        "model_stock": {"merge_method": "model_stock", "base_model": b,
                        "models": [{"model": m[0]}, {"model": m[1]}, {"model": m[2]}]},
        "model_stock_filter_wise": {"merge_method": "model_stock", "base_model": b,
                                    "parameters": {"filter_wise": True},
                                    "models": [{"model": m[0]}, {"model": m[1]}, {"model": m[2]}]},
        "passthrough": {"merge_method": "passthrough", "slices": [
            {"sources": [{"model": m[0], "layer_range": [0, 2]}]},
            {"sources": [{"model": m[1], "layer_range": [1, 2]}]}]},
    }


@pytest.fixture(scope="module")
def parity_family(tmp_path_factory, tokenizer_dir):
    from .conftest import variant

    root = tmp_path_factory.mktemp("parity")
    base = tiny_llama(root / "base", tokenizer_dir, seed=3, layers=3)
    return {"base": base, **{f"ft{i}": variant(base, root / f"ft{i}", seed=10 + i) for i in range(1, 5)}}


@pytest.mark.parametrize("name", list(recipes({"base": "b", **{f"ft{i}": "m" for i in range(1, 5)}})))
def test_tensors_and_logits_equal_mergekits(name, parity_family, tmp_path, monkeypatch):
    recipe = recipes(parity_family)[name]
    mergekit_merge(recipe, tmp_path / "mergekit", monkeypatch)
    our_merge(recipe, tmp_path / "ours")
    theirs, ours = tensors(tmp_path / "mergekit"), tensors(tmp_path / "ours")
    assert set(ours) == set(theirs)
    worst = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
    assert worst <= 1e-6, f"{name}: largest difference {worst}"
    base = tensors(parity_family["base"])
    assert any((ours[k] - base[k]).abs().max() > 1e-3 for k in ours if k in base)  # it merged something
    ids = torch.randint(4, 290, (2, 12), generator=torch.Generator().manual_seed(0))
    assert (load_logits(tmp_path / "ours", ids) - load_logits(tmp_path / "mergekit", ids)).abs().max() <= 1e-5


def lora_adapter(model_dir, out, seed: int = 5):
    """A PEFT LoRA adapter of `model_dir` with non-zero B matrices (a trained adapter's shape)."""
    import transformers
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                  target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    peft_model.save_pretrained(str(out))
    return out


def test_a_lora_reference_merges_as_mergekit_applies_it(parity_family, tmp_path, monkeypatch):
    adapter = lora_adapter(parity_family["base"], tmp_path / "adapter")
    recipe = {"merge_method": "linear", "models": [
        {"model": f"{parity_family['base']}+{adapter}", "parameters": {"weight": 0.7}},
        {"model": str(parity_family["ft1"]), "parameters": {"weight": 0.3}}]}
    mergekit_merge(recipe, tmp_path / "mergekit", monkeypatch)
    our_merge(recipe, tmp_path / "ours")
    theirs, ours = tensors(tmp_path / "mergekit"), tensors(tmp_path / "ours")
    assert set(ours) == set(theirs)
    assert max((ours[k] - theirs[k]).abs().max().item() for k in ours) <= 1e-6
    ids = torch.randint(4, 290, (2, 12), generator=torch.Generator().manual_seed(0))
    assert (load_logits(tmp_path / "ours", ids) - load_logits(tmp_path / "mergekit", ids)).abs().max() <= 1e-5
    plain = tmp_path / "plain"
    our_merge({**recipe, "models": [{**recipe["models"][0], "model": str(parity_family["base"])},
                                    recipe["models"][1]]}, plain)
    without = tensors(plain)
    changed = {k for k in ours if (ours[k] - without[k]).abs().max() > 1e-4}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight", "down_proj.weight")) for k in changed)


def test_a_missing_adapter_in_a_lora_reference_names_its_key(parity_family, tmp_path):
    from jaforge.errors import MissingInputError
    from jaforge.paths import check_input_paths

    cfg = build(MergeConfig, {"models": [{"model": f"{parity_family['base']}+{tmp_path / 'no-adapter'}"}]})
    with pytest.raises(MissingInputError, match=r"'models\[0\]\.model': .*no-adapter"):
        check_input_paths(cfg)
