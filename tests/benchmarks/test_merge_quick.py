"""The merge benchmark's pieces on tiny models: jaforge and mergekit write the same tensors."""

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("merge", "mergekit", "transformers")


def test_same_tensors_as_mergekit_on_tiny_models(bench, tmp_path):
    import yaml

    shape = dict(bench.QUICK, vocab_size=512, hidden_size=64, intermediate_size=128)
    paths = bench.build_models(tmp_path, shape)
    recipe = tmp_path / "ties.yml"   # each tool runs in its own process, as in the benchmark
    recipe.write_text(yaml.safe_dump(bench.recipes(paths)["ties"]), encoding="utf-8")
    check = bench.same_answers(recipe, tmp_path)
    assert check["ok"] and check["tensors"] == 21, check
