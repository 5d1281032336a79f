"""THE parity test: every task of lm-eval's japanese_leaderboard group (its own YAMLs, reading
jaforge's embedded files) and JSTS, run by lm_eval.simple_evaluate and by jaforge on the same tiny
random Llama — identical prompts on every example, per-choice log-likelihoods within 1e-4 and
identical predictions, identical greedy generations, identical task scores — for the Hugging Face
directory and for the same weights as a jaforge model. The window is chosen so that some prompts
fit and others are truncated from the left (both scoring paths)."""

import pytest

pytest.importorskip("lm_eval", reason="lm-eval (the 'bench' extra) is not installed")
pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")
pytest.importorskip("rouge_score", reason="rouge-score (the 'ja' extra) is not installed")
pytest.importorskip("neologdn", reason="neologdn (the 'ja' extra; lm-eval's XL-Sum metric imports it)")
pytest.importorskip("emoji", reason="emoji (the 'ja' extra; lm-eval's XL-Sum metric imports it)")

from jaforge.eval import load_backend  # noqa: E402
from jaforge.eval.parity import build_tiny_llama, compare, jaforge_copy, run_jaforge, run_lm_eval  # noqa: E402
from jaforge.eval.runner import prepare_tasks  # noqa: E402
from jaforge.eval.prompts import build_prompts  # noqa: E402
from jaforge.eval.tasks import TASKS, load_docs  # noqa: E402
from jaforge.eval.templates import get_template  # noqa: E402

TASK_NAMES = ["japanese_leaderboard", "jsts"]
LIMIT, WINDOW, NEW_TOKENS = 5, 720, 16


def training_texts() -> list[str]:
    tpl = get_template("leaderboard", "jnli")
    return [tpl.description + tpl.text(d) + "\n" + tpl.target(d) for d in load_docs(TASKS.get("jnli"), "train")]


@pytest.fixture(scope="module")
def parity_runs(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("parity")
    hf_dir = build_tiny_llama(work / "hf", training_texts(), max_length=WINDOW)
    return work, hf_dir, run_lm_eval(str(hf_dir), TASK_NAMES, work, limit=LIMIT, max_gen_toks=NEW_TOKENS)


def test_the_window_splits_the_prompts_between_both_paths(parity_runs):
    _, hf_dir, _ = parity_runs
    tokenizer = load_backend(hf_dir).tokenizer
    lengths = []
    for item in prepare_tasks(["jnli", "marc_ja", "jcommonsenseqa"], limit=LIMIT):
        prompts = build_prompts(item.docs, item.pool, get_template("leaderboard", item.task.name), item.shots)
        lengths += [len(ids) for ids in tokenizer.encode_batch([p.context for p in prompts])]
    assert min(lengths) < WINDOW - 4 and max(lengths) > WINDOW


@pytest.mark.parametrize("kind", ["hf", "jaforge"])
def test_jaforge_matches_lm_eval_on_every_task(parity_runs, kind):
    work, hf_dir, theirs = parity_runs
    model_dir = hf_dir if kind == "hf" else jaforge_copy(hf_dir, work / "jaforge")
    ours = run_jaforge(str(model_dir), TASK_NAMES, limit=LIMIT, max_gen_toks=NEW_TOKENS, batch_size=4)
    assert set(ours) == set(theirs) == {"jaqket_v2", "jcommonsenseqa", "jnli", "jsquad", "marc_ja", "mgsm",
                                        "xlsum", "xwinograd", "jsts"}
    for task in theirs:
        report = compare(ours[task], theirs[task])
        assert report["examples"] == LIMIT, (task, report)
        assert report["same"], (task, report)
        if "logliks" in theirs[task]["samples"][0]:
            # the random model's choices are far from ties, so equal predictions mean something
            spreads = [max(t["logliks"]) - sorted(t["logliks"])[-2] for t in theirs[task]["samples"]]
            assert sum(s > 1e-2 for s in spreads) >= LIMIT // 2, task
        else:
            assert any(t["output"].strip() for t in theirs[task]["samples"]), task
