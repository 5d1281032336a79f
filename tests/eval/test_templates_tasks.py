"""Prompt templates equal the installed lm-eval japanese_leaderboard YAMLs; few-shot sampling
follows lm-eval's seeded draw; stratified shots cover the labels; registries name the known."""

import random
from pathlib import Path

import pytest
import yaml

from jaforge.eval.tasks import TASKS, build_prompts, fewshot_context, load_docs, sample_shots
from jaforge.eval.templates import TEMPLATES, get_template


def leaderboard_yaml(task: str) -> dict:
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval (the 'bench' extra) is not installed")
    path = Path(lm_eval.__file__).parent / "tasks" / "japanese_leaderboard" / f"ja_leaderboard_{task}.yaml"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !function tags
    return yaml.load(path.read_text("utf-8"), Loader=Loader)


def render(template: str, doc: dict) -> str:
    import jinja2

    return jinja2.Environment(keep_trailing_newline=True).from_string(template).render(**doc)


@pytest.mark.parametrize("task", ["jnli", "marc_ja", "jcommonsenseqa", "jsquad"])
def test_leaderboard_template_equals_lm_eval_yaml(task):
    official = leaderboard_yaml(task)
    tpl = get_template("leaderboard", task)
    doc = load_docs(TASKS.get(task), "valid")[0]
    raw = dict(doc)
    if task == "jsquad":
        raw["answers"] = {"text": doc["answers"]}
    assert tpl.text(doc) == render(official["doc_to_text"], raw)
    assert tpl.description == official["description"]
    assert tpl.target_delimiter == official["target_delimiter"]
    if isinstance(official.get("doc_to_choice"), list):
        assert tpl.choices(doc) == official["doc_to_choice"]
    if task == "jsquad":
        assert list(tpl.stop) == official["generation_kwargs"]["until"]


def test_jp_stable_prompts_have_their_version_shapes():
    doc = load_docs(TASKS.get("jnli"), "valid")[0]
    v2, v3 = get_template("jp-stable-0.2", "jnli"), get_template("jp-stable-0.3", "jnli")
    assert v2.text(doc).endswith("\n関係:") and v2.target_delimiter == ""
    assert v3.text(doc).startswith("### 指示:\n") and v3.text(doc).endswith("### 応答:\n")
    alpaca = get_template("alpaca-ja", "marc_ja")
    assert alpaca.description == "" and alpaca.text(load_docs(TASKS.get("marc_ja"), "valid")[0]).startswith("以下は")


def test_fewshot_draw_matches_lm_eval_and_drops_the_evaluated_doc():
    task = TASKS.get("jnli")
    docs, pool = load_docs(task, "valid")[:5], load_docs(task, "train")
    prompts = build_prompts(task, docs, pool, "leaderboard", 3, seed=1234)
    rnd = random.Random(1234)
    tpl = get_template("leaderboard", "jnli")
    for doc, prompt in zip(docs, prompts):
        assert prompt.context == fewshot_context(tpl, doc, [pool[i] for i in rnd.sample(range(len(pool)), 3)])
        assert prompt.continuations == ["\n含意", "\n矛盾", "\n中立"] and prompt.gold == doc["label"]
    assert sample_shots([docs[0], docs[1]], 2, random.Random(0), docs[0], False) == [docs[1]]


def test_stratified_shots_cover_every_label():
    pool = load_docs(TASKS.get("jnli"), "train")
    shots = sample_shots(pool, 3, random.Random(5), {}, stratified=True)
    assert sorted(s["label"] for s in shots) == [0, 1, 2]


def test_unknown_names_fail_with_the_known_ones():
    with pytest.raises(KeyError, match="did you mean 'jnli'"):
        TASKS.get("jnl")
    with pytest.raises(KeyError, match="leaderboard"):
        TEMPLATES.get("leaderbord")
    with pytest.raises(FileNotFoundError, match="jnli-v"):
        load_docs(TASKS.get("jnli"), "valid", data_dir="/nonexistent")
