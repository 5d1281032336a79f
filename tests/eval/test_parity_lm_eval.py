"""THE parity test: jaforge's k-shot choice scores equal lm-evaluation-harness's on the same tiny
random Llama, byte-level BPE tokenizer, JNLI-format data and prompt — per-choice log-likelihoods
within 1e-4, identical prompts and predictions on every example, for the HF directory and for the
same weights as a jaforge model. Some prompts fit the window (cached-context path), some are
truncated from the left (the harness's truncation path)."""

import pytest

pytest.importorskip("lm_eval", reason="lm-eval (the 'bench' extra) is not installed")
pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")

from jaforge.eval import jglue, load_backend  # noqa: E402
from jaforge.eval.parity import build_tiny_llama, compare, jaforge_copy, run_jaforge, run_lm_eval  # noqa: E402
from jaforge.eval.tasks import TASKS, build_prompts, load_docs  # noqa: E402
from jaforge.eval.templates import get_template  # noqa: E402

SHOTS, LIMIT = 1, 12


def training_texts() -> list[str]:
    tpl = get_template("leaderboard", "jnli")
    docs = load_docs(TASKS.get("jnli"), "train") + load_docs(TASKS.get("jnli"), "valid")
    return [tpl.description + tpl.text(d) + "\n" + tpl.target(d) for d in docs]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("parity")
    probe = build_tiny_llama(work / "probe", training_texts(), max_length=4096)
    task = TASKS.get("jnli")
    prompts = build_prompts(task, load_docs(task, "valid")[:LIMIT], load_docs(task, "train"),
                            "leaderboard", SHOTS)
    lengths = sorted(len(load_backend(probe).tokenizer.encode(p.context)) for p in prompts)
    # a window between the shortest and the longest prompt: both scoring paths are exercised
    window = lengths[len(lengths) // 2]
    hf_dir = build_tiny_llama(work / "hf", training_texts(), max_length=window)
    return work, hf_dir, window, lengths


def test_jaforge_matches_lm_eval_on_hf_and_jaforge_models(tiny_model):
    work, hf_dir, window, lengths = tiny_model
    assert lengths[0] < window < lengths[-1]
    theirs = run_lm_eval(str(hf_dir), "jnli", "leaderboard", SHOTS, work, limit=LIMIT)
    # lm-eval read the JGLUE label strings through the generated YAML's doc_to_target
    assert [t["gold"] for t in theirs] == [jglue.JNLI_LABELS.index(r.label)
                                           for r in jglue.load_sample("jnli", "valid")[:LIMIT]]
    for model_dir in (hf_dir, jaforge_copy(hf_dir, work / "jaforge")):
        ours = run_jaforge(str(model_dir), "jnli", "leaderboard", SHOTS, limit=LIMIT)
        report = compare(ours, theirs)
        assert report["examples"] == LIMIT
        assert report["prompt_mismatches"] == [], report
        assert report["max_abs_diff"] < 1e-4, report
        assert report["same_predictions"], report
        # the random model's choices are far from ties, so equal predictions mean something
        spreads = [max(t["logliks"]) - sorted(t["logliks"])[-2] for t in theirs]
        assert sum(s > 1e-2 for s in spreads) >= LIMIT // 2

