"""Check jaforge's scores against lm-evaluation-harness on the same model, task, prompts and data.

    from jaforge.eval.parity import compare_with_lm_eval
    report = compare_with_lm_eval("runs/lifecycle-tiny/hf", "jnli", shots=3, limit=20,
                                  work_dir="/tmp/parity")
    assert report["same_predictions"] and report["max_abs_diff"] < 1e-4

The jaforge prompt template is rendered with Jinja placeholders in place of the example's fields,
which gives lm-eval a task YAML (`dataset_path: json` over the JGLUE files) with the very same
description, prompt, delimiters and choices; lm-eval then runs its `hf` model on it with
log_samples=True. Choice tasks only (jnli, marc_ja, jcommonsenseqa). Needs `lm-eval`
(`pip install 'jaforge[bench]'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from jaforge.eval import jglue
from jaforge.eval.tasks import data_file
from jaforge.eval.templates import get_template
from jaforge.extras import require

# the raw JGLUE fields as Jinja placeholders, in the shape of jaforge's template docs
PLACEHOLDER_DOCS = {
    "jnli": {"sentence1": "{{ sentence1 }}", "sentence2": "{{ sentence2 }}"},
    "marc_ja": {"sentence": "{{ sentence }}"},
    "jcommonsenseqa": {"question": "{{ question }}",
                       "choices": [f"{{{{ choice{i} }}}}" for i in range(jglue.JCOMMONSENSEQA_CHOICES)]},
}
TARGETS = {
    "jnli": "{{ %r.index(label) }}" % list(jglue.JNLI_LABELS),
    "marc_ja": "{{ %r.index(label) }}" % list(jglue.MARC_JA_LABELS),
    "jcommonsenseqa": "{{ label }}",
}


def lm_eval_task(task: str, template: str, data_dir: Optional[str] = None,
                 split: str = "valid", name: Optional[str] = None) -> dict:
    """An lm-eval task config (YAML as a dict) equal to jaforge's `template` for `task`."""
    if task not in PLACEHOLDER_DOCS:
        raise ValueError(f"parity tasks are {', '.join(PLACEHOLDER_DOCS)}; got '{task}'")
    tpl = get_template(template, task)
    placeholder = PLACEHOLDER_DOCS[task]
    choices = ("{{ [choice0, choice1, choice2, choice3, choice4] }}" if task == "jcommonsenseqa"
               else tpl.choices(placeholder))
    return {
        "task": name or f"jaforge_{task}_{template.replace('-', '_').replace('.', '_')}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"train": str(data_file(task, "train", data_dir)),
                                          "validation": str(data_file(task, split, data_dir))}},
        "training_split": "train", "validation_split": "validation", "test_split": None,
        "fewshot_split": "train", "output_type": "multiple_choice",
        "description": tpl.description, "doc_to_text": tpl.text(placeholder),
        "doc_to_target": TARGETS[task], "doc_to_choice": choices,
        "target_delimiter": tpl.target_delimiter, "fewshot_delimiter": tpl.fewshot_delimiter,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def import_lm_eval():
    """lm_eval, importable under transformers 5 too: lm-eval 0.4.9's multimodal model class
    names `AutoModelForVision2Seq`, which transformers 5 renamed `AutoModelForImageTextToText`."""
    import importlib
    import sys

    require("transformers", "hf", "the lm-eval parity check")
    if importlib.util.find_spec("evaluate") is not None:
        import evaluate  # noqa: F401  (it re-imports transformers: alias the module it leaves behind)
    transformers = sys.modules["transformers"]
    if not hasattr(transformers, "AutoModelForVision2Seq") and hasattr(transformers, "AutoModelForImageTextToText"):
        transformers.AutoModelForVision2Seq = transformers.AutoModelForImageTextToText
    lm_eval = require("lm_eval", "bench", "the lm-eval parity check")
    import lm_eval.evaluator  # noqa: F401  (simple_evaluate is imported lazily by lm_eval)

    return lm_eval


def run_lm_eval(model_dir: str, task: str, template: str, shots: int, work_dir: str | Path,
                limit: Optional[int] = None, data_dir: Optional[str] = None, batch_size: int = 1,
                seed: int = 1234) -> list[dict]:
    """lm-eval's per-example (context, per-choice log-likelihoods), in document order."""
    import yaml

    lm_eval = import_lm_eval()
    from lm_eval.tasks import TaskManager

    config = lm_eval_task(task, template, data_dir)
    include = Path(work_dir) / "lm_eval_tasks"
    include.mkdir(parents=True, exist_ok=True)
    (include / f"{config['task']}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    # a one-task group: lm-eval 0.4.9 fails to log a bare task from outside its own tasks folder
    group = {"group": f"{config['task']}_group", "task": [config["task"]], "metadata": {"version": 1.0}}
    (include / f"{group['group']}.yaml").write_text(yaml.safe_dump(group), "utf-8")
    out = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(model_dir), "dtype": "float32"},
        tasks=[group["group"]], num_fewshot=shots, limit=limit, batch_size=batch_size, device="cpu",
        task_manager=TaskManager(include_path=str(include)), log_samples=True,
        fewshot_random_seed=seed, random_seed=0, numpy_random_seed=0, torch_random_seed=0)
    samples = sorted(out["samples"][config["task"]], key=lambda s: s["doc_id"])
    return [{"context": s["arguments"][0][0] if isinstance(s["arguments"], list)
             else s["arguments"]["gen_args_0"]["arg_0"],
             "logliks": [float(r[0]) for r in s["filtered_resps"]], "gold": s["target"]}
            for s in samples]


def run_jaforge(model_dir: str, task: str, template: str, shots: int,
                limit: Optional[int] = None, data_dir: Optional[str] = None, seed: int = 1234,
                tokenizer: Optional[str] = None, batch_size: int = 16) -> list[dict]:
    """jaforge's per-example (context, per-choice log-likelihoods), in document order."""
    from jaforge.eval.backends import load_backend
    from jaforge.eval.runner import evaluate_tasks

    backend = load_backend(model_dir, tokenizer=tokenizer)
    report = evaluate_tasks(backend, [task], shots, template, data_dir, limit=limit, seed=seed,
                            batch_size=batch_size)
    return [{"context": s["prompt"], "logliks": s["loglik"], "gold": s["gold"]}
            for s in report.tasks[task].samples]


def compare(ours: list[dict], theirs: list[dict]) -> dict:
    """Largest log-likelihood difference, and the examples whose prompt or prediction differ."""
    if len(ours) != len(theirs):
        raise AssertionError(f"{len(ours)} jaforge examples vs {len(theirs)} lm-eval examples")
    diffs = [abs(a - b) for o, t in zip(ours, theirs) for a, b in zip(o["logliks"], t["logliks"])]
    argmax = lambda xs: max(range(len(xs)), key=xs.__getitem__)  # noqa: E731
    return {"examples": len(ours), "max_abs_diff": max(diffs),
            "prompt_mismatches": [i for i, (o, t) in enumerate(zip(ours, theirs)) if o["context"] != t["context"]],
            "prediction_mismatches": [i for i, (o, t) in enumerate(zip(ours, theirs))
                                      if argmax(o["logliks"]) != argmax(t["logliks"])],
            "same_predictions": all(argmax(o["logliks"]) == argmax(t["logliks"]) for o, t in zip(ours, theirs))}


def compare_with_lm_eval(model_dir: str, task: str, shots: int, work_dir: str | Path,
                         template: str = "leaderboard", limit: Optional[int] = None,
                         data_dir: Optional[str] = None) -> dict:
    """Run both on the same inputs and `compare` them."""
    theirs = run_lm_eval(model_dir, task, template, shots, work_dir, limit, data_dir)
    ours = run_jaforge(model_dir, task, template, shots, limit, data_dir)
    return compare(ours, theirs)


def build_tiny_llama(directory: str | Path, texts: list[str], vocab_size: int = 320,
                     max_length: int = 512, d_model: int = 32, n_layer: int = 2,
                     init_std: float = 0.3, seed: int = 0) -> Path:
    """A random LlamaForCausalLM with a byte-level BPE trained on `texts`, saved as a Hugging Face
    directory (config.json, model.safetensors, tokenizer.json; BOS added by default). A large
    `init_std` spreads the choices' log-likelihoods so that predictions are not near-ties."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    transformers = require("transformers", "hf", "building a tiny Llama")
    directory = Path(directory)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", 1)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                unk_token="<unk>", pad_token="<pad>")
    fast.save_pretrained(str(directory))
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=d_model, intermediate_size=2 * d_model,
        num_hidden_layers=n_layer, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=max_length, initializer_range=init_std, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(seed)
    transformers.LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory


def jaforge_copy(hf_dir: str | Path, directory: str | Path) -> Path:
    """The same weights as a jaforge model directory (via jaforge.model.import_hf), tokenizer beside."""
    import shutil

    from jaforge.model import import_hf, save_model

    model, cfg = import_hf(hf_dir)
    save_model(model, cfg, directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(hf_dir) / name).exists():
            shutil.copy(Path(hf_dir) / name, Path(directory) / name)
    return Path(directory)
