"""Prompt templates equal the installed lm-eval japanese_leaderboard YAMLs; few-shot sampling
follows lm-eval's seeded draw; stratified shots cover the labels; registries name the known;
groups expand to their tasks; task data errors name the file."""

import random
from pathlib import Path

import pytest
import yaml

from jaforge.errors import InputError
from jaforge.eval.prompts import build_prompts, fewshot_context, sample_shots
from jaforge.eval.tasks import GROUPS, TASKS, expand, load_docs
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


def hf_doc(task: str, doc: dict) -> dict:
    """A doc in the layout of the Hugging Face dataset the lm-eval YAML reads."""
    if task == "jsquad":
        return {**doc, "answers": {"text": doc["answers"]}}
    if task == "jaqket_v2":
        return {**doc, "answers": {"text": doc["answers"]},
                "ctxs": {"text": [c["text"] for c in doc["contexts"]]}}
    if task == "mgsm":
        return {**doc, "answer": "ステップごとの答え：" + doc["answers"][0]}
    if task == "xlsum":
        return {**doc, "summary": doc["answers"][0]}
    return doc


@pytest.mark.parametrize("task", list(GROUPS.get("japanese_leaderboard")))
def test_leaderboard_template_equals_lm_eval_yaml(task):
    official = leaderboard_yaml(task)
    tpl = get_template("leaderboard", task)
    for split in ("train", TASKS.get(task).eval_split) if TASKS.get(task).shots else (TASKS.get(task).eval_split,):
        doc = load_docs(TASKS.get(task), split)[0]
        assert tpl.text(doc) == render(official["doc_to_text"], hf_doc(task, doc))
    assert tpl.description == official.get("description", "")
    assert tpl.target_delimiter == official["target_delimiter"]
    assert TASKS.get(task).shots == (official["num_fewshot"] or 0)
    if isinstance(official.get("doc_to_choice"), list):
        assert tpl.choices(doc) == official["doc_to_choice"]
    if official["output_type"] == "generate_until":
        assert list(tpl.stop) == official["generation_kwargs"]["until"]
        train = load_docs(TASKS.get(task), "train")[0]
        assert tpl.target(train) == render(official["doc_to_target"], hf_doc(task, train))


def test_japanese_leaderboard_group_is_lm_evals():
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval (the 'bench' extra) is not installed")
    group = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / "japanese_leaderboard"
                            / "_ja_leaderboard.yaml").read_text("utf-8"))
    assert [f"ja_leaderboard_{t}" for t in GROUPS.get("japanese_leaderboard")] == group["task"]
    assert expand(["jnli", "japanese_leaderboard", "jsts"]) == ["jnli", "jaqket_v2", "jcommonsenseqa",
                                                                "jsquad", "marc_ja", "mgsm", "xlsum",
                                                                "xwinograd", "jsts"]


def test_jp_stable_prompts_have_their_version_shapes():
    doc = load_docs(TASKS.get("jnli"), "validation")[0]
    v2, v3 = get_template("jp-stable-0.2", "jnli"), get_template("jp-stable-0.3", "jnli")
    assert v2.text(doc).endswith("\n関係:") and v2.target_delimiter == ""
    assert v3.text(doc).startswith("### 指示:\n") and v3.text(doc).endswith("### 応答:\n")
    alpaca = get_template("alpaca-ja", "marc_ja")
    assert alpaca.description == "" and alpaca.text(load_docs(TASKS.get("marc_ja"), "validation")[0]).startswith("以下は")


def test_fewshot_draw_matches_lm_eval_and_drops_the_evaluated_doc():
    task = TASKS.get("jnli")
    docs, pool = load_docs(task, "validation")[:5], load_docs(task, "train")
    tpl = get_template("leaderboard", "jnli")
    prompts = build_prompts(docs, pool, tpl, 3, seed=1234)
    rnd = random.Random(1234)
    for doc, prompt in zip(docs, prompts):
        assert prompt.context == fewshot_context(tpl, doc, [pool[i] for i in rnd.sample(range(len(pool)), 3)])
        assert prompt.continuations == ["\n含意", "\n矛盾", "\n中立"] and prompt.doc["label"] == doc["label"]
    # shots from the evaluated split itself: lm-eval draws k + 1 and drops the evaluated example
    same = sample_shots(docs, 2, random.Random(0), docs[0], False, same_split=True)
    assert same == [d for d in random.Random(0).sample(docs, 3) if d != docs[0]][:2] and len(same) == 2


def test_stratified_shots_cover_every_label():
    pool = load_docs(TASKS.get("jnli"), "train")
    shots = sample_shots(pool, 3, random.Random(5), {}, stratified=True)
    assert sorted(s["label"] for s in shots) == [0, 1, 2]


def test_unknown_names_fail_with_the_known_ones():
    with pytest.raises(KeyError, match="did you mean 'jnli'"):
        TASKS.get("jnl")
    with pytest.raises(KeyError, match="leaderboard"):
        TEMPLATES.get("leaderbord")
    with pytest.raises(KeyError, match="did you mean 'jnli'.*groups: japanese_leaderboard"):
        expand(["jnlii"])
    with pytest.raises(InputError, match=r"/nonexistent: no validation file for jnli .*jnli\*/valid-v\*\.json"):
        load_docs(TASKS.get("jnli"), "validation", data_dir="/nonexistent")
