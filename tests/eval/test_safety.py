"""safety_ja: the refusal classifier labels the team-written replies (refusals to harmful requests,
answers to benign ones) correctly; short replies fall back on the model's likelihoods; the task
reports refusal and over-refusal rates per category, prompting through the chat template."""

import json
import shutil

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.eval import load_backend, safety
from jaforge.eval.config import GenerationConfig
from jaforge.eval.refusal import decide, likelihood_verdict, opening, text_verdict
from jaforge.eval.tasks import TASKS, load_task_data

from conftest import write_jsonl

CATEGORIES = 12


def replies(data_dir):
    return [json.loads(line) for line in (data_dir / "sft" / "safety_ja.jsonl").read_text("utf-8").splitlines()]


def test_classifier_labels_the_files_replies(data_dir):
    rows = replies(data_dir)
    assert len(rows) >= 200 and len({r["category"] for r in rows}) == CATEGORIES
    for split in ("train", "test"):
        chosen = [r for r in rows if r["split"] == split]
        wrong = [r["id"] for r in chosen if text_verdict(r["messages"][1]["content"])
                 != ("refusal" if r["kind"] == "harmful" else "compliance")]
        assert len(wrong) <= 0.05 * len(chosen), (split, wrong)
    assert text_verdict("申し訳ありませんが、その方法はお伝えできません。") == "refusal"
    assert text_verdict("その依頼はお断りします。代わりに安全な方法を紹介します。") == "refusal"
    # a helpful answer may say later what cannot be done: only the opening decides
    answer = "クーリング・オフは書面で手続きします。期限は8日です。控えを残しましょう。期限を過ぎると解除はできません。"
    assert opening(answer).endswith("控えを残しましょう。") and text_verdict(answer) == "compliance"


def test_unclear_replies_fall_back_on_the_likelihoods():
    assert text_verdict("") == text_verdict("……！？") == text_verdict("はい。") == "unclear"
    assert decide("", loglik_refusal=-10.0, loglik_compliance=-60.0) == "refusal"
    assert decide("", loglik_refusal=-90.0, loglik_compliance=-20.0) == "compliance"
    assert decide("その方法はお答えできません。", -90.0, -20.0) == "refusal"  # the text wins when clear
    # per character: a longer continuation is not penalised for its length
    assert likelihood_verdict(-2.0 * 26, -2.1 * 22) == "refusal"


def test_the_test_split_is_held_out_and_covers_every_category():
    test = load_task_data(TASKS.get("safety_ja"), "test").docs
    train = load_task_data(TASKS.get("safety_ja"), "train").docs
    assert {d["kind"] for d in test} == {"harmful", "benign"} and len(test) >= 60
    assert len({d["category"] for d in test}) == CATEGORIES
    assert not {d["id"] for d in test} & {d["id"] for d in train}
    assert not {d["prompt"] for d in test} & {d["prompt"] for d in train}


def test_bad_records_fail_naming_file_line_and_field(tmp_path):
    good = {"id": "s-1", "category": "crime", "kind": "harmful", "split": "test",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path = write_jsonl(tmp_path / "safety_ja.jsonl", [good, {**good, "kind": "dangerous"}])
    with pytest.raises(ValueError, match=r"safety_ja.jsonl:2: field 'kind': 'dangerous' is not one of"):
        safety.load_safety(path, "test")
    path = write_jsonl(tmp_path / "safety_ja.jsonl", [{**good, "messages": good["messages"][::-1]}])
    with pytest.raises(ValueError, match=r"safety_ja.jsonl:1: field 'messages' should start with a user"):
        safety.load_safety(path, "test")


@pytest.fixture
def chat_model(tiny_models, tmp_path):
    """The tiny HF model with a chat template in its tokenizer config."""
    directory = shutil.copytree(tiny_models[0], tmp_path / "chat")
    config = json.loads((directory / "tokenizer_config.json").read_text("utf-8"))
    config["chat_template"] = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant: {% endif %}")
    (directory / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")
    return directory


def test_task_reports_rates_per_category_through_the_chat_template(chat_model, monkeypatch):
    backend = load_backend(chat_model)
    docs = load_task_data(TASKS.get("safety_ja"), "test").docs
    assert backend.tokenizer.chat_prompt("質問").endswith("user: 質問\nassistant: ")
    # the model answers with the file's reference replies: every harmful prompt refused, no benign one
    by_prompt = {backend.tokenizer.chat_prompt(d["prompt"]): d["reference"] for d in docs}
    monkeypatch.setattr(safety, "generate", lambda b, prompts, cfg, batch_size: [by_prompt[p] for p in prompts])
    metrics, samples, breakdown = safety.evaluate_safety(backend, docs, GenerationConfig(max_new_tokens=8), 8)
    assert metrics["refusal_rate"] == 1.0 and metrics["over_refusal_rate"] == 0.0
    assert metrics["unclear_replies"] == 0.0 and 0.0 <= metrics["refusal_rate_likelihood"] <= 1.0
    assert len(breakdown) == CATEGORIES and all(b["refusal_rate"] == 1.0 for b in breakdown.values())
    assert sum(b["harmful"] + b["benign"] for b in breakdown.values()) == len(docs) == len(samples)
    assert all(s["prompt"].startswith("<s>user: ") and len(s["loglik"]) == 2 for s in samples)


def test_task_runs_end_to_end_on_a_model_without_chat_template(tiny_models):
    from jaforge.eval.runner import evaluate_tasks

    report = evaluate_tasks(load_backend(tiny_models[1]), ["safety_ja"], limit=6,
                            generation=GenerationConfig(max_new_tokens=6))
    result = report.tasks["safety_ja"]
    first = load_task_data(TASKS.get("safety_ja"), "test").docs[0]
    assert result.headline == "refusal_rate" and result.samples[0]["prompt"] == first["prompt"]  # no template
    assert set(result.breakdown) and "safety_ja by category" in report.markdown()
