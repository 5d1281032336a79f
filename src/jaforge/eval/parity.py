"""Run jaforge's tasks through lm-evaluation-harness on the same model and files, and compare.

    from jaforge.eval.parity import run_lm_eval, run_jaforge, compare
    theirs = run_lm_eval("runs/lifecycle-tiny/hf", ["jnli", "mgsm"], work_dir="/tmp/parity", limit=20)
    lm = lm_eval_model("my-1b", batch_size=32, device="cuda", dtype="bfloat16")   # or an HFLM
    ours = run_jaforge("runs/lifecycle-tiny/hf", ["jnli", "mgsm"], limit=20)
    report = compare(ours["jnli"], theirs["jnli"])   # max_abs_diff, prompt/prediction mismatches

lm-eval runs its own `japanese_leaderboard` task YAMLs (prompts, shots, filters, metrics,
`!function` utilities), each `include`d with only the data source replaced: the files jaforge
reads, written in the layout of the Hugging Face dataset the YAML names (JGLUE labels as class
indices, JSQuAD flattened, JAQKET's first five passages as kumapo/JAQKET v2.0 keeps them, MGSM's
TSV as rows). JSTS, absent from lm-eval, gets a YAML written here from jaforge's prompt. lm-eval
runs its `hf` model in float32 with log_samples=True. Needs `lm-eval` (the `bench` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from jaforge import model as jaforge_model
from jaforge.io.records import read_records
from jaforge.errors import InputError
from jaforge.eval import jglue, leaderboard_data
from jaforge.eval.backends import Backend
from jaforge.eval.loading import load_backend
from jaforge.eval.config import GenerationConfig
from jaforge.eval.runner import evaluate_tasks
from jaforge.eval.tasks import TASKS, data_file, expand
from jaforge.eval.templates import JSTS_CHOICES, get_template
from jaforge.extras import require

LEADERBOARD_METRICS = {"jaqket_v2": "exact_match,whitespaces", "jcommonsenseqa": "acc,none",
                       "jnli": "acc,none", "jsquad": "exact_match,whitespaces", "marc_ja": "acc,none",
                       "mgsm": "acc,none", "xlsum": "rouge2,whitespaces", "xwinograd": "acc,none",
                       "jsts": "acc,none"}


def import_lm_eval():
    """lm_eval, importable under transformers 5 too: lm-eval 0.4.9's multimodal model class
    names `AutoModelForVision2Seq`, which transformers 5 renamed `AutoModelForImageTextToText`."""
    require("transformers", "hf", "the lm-eval parity check")
    if importlib.util.find_spec("evaluate") is not None:
        import evaluate  # noqa: F401  (it re-imports transformers: alias the module it leaves behind)
    transformers = sys.modules["transformers"]
    if not hasattr(transformers, "AutoModelForVision2Seq") and hasattr(transformers, "AutoModelForImageTextToText"):
        transformers.AutoModelForVision2Seq = transformers.AutoModelForImageTextToText
    lm_eval = require("lm_eval", "bench", "the lm-eval parity check")
    importlib.import_module("lm_eval.evaluator")  # lm_eval imports simple_evaluate's module lazily
    return lm_eval


def official_yaml(task: str) -> Path:
    lm_eval = import_lm_eval()
    return Path(lm_eval.__file__).parent / "tasks" / "japanese_leaderboard" / f"ja_leaderboard_{task}.yaml"


# --- the files in the Hugging Face datasets' layouts -------------------------------------------

def _raw(path: Path) -> list[dict]:
    return [record for _, record in read_records(path)]


def _with_label_index(labels: Sequence[str]):
    return lambda path: [{**r, "label": list(labels).index(r["label"])} for r in _raw(path)]


def _jsquad_rows(path: Path) -> list[dict]:
    return [{"id": q.id, "title": q.title, "context": q.context, "question": q.question,
             "answers": {"text": [t for t, _ in q.answers], "answer_start": [s for _, s in q.answers]},
             "is_impossible": False} for q in jglue.load_jsquad(path) if q.answers]


def _jaqket_rows(path: Path) -> list[dict]:
    return [{"qid": q.qid, "question": q.question,
             "answers": {"text": q.answers, "answer_start": [-1] * len(q.answers)},
             "ctxs": {key: [c[key] for c in q.contexts] for key in ("id", "title", "text", "score", "has_answer")}}
            for q in leaderboard_data.load_jaqket_v2(path) if q.answerable]


def _mgsm_rows(path: Path) -> list[dict]:
    # "" for the test split's missing answers: `datasets` infers one column type for all splits
    return [{"question": p.question, "answer": p.answer or "", "answer_number": p.answer_number,
             "equation_solution": p.equation_solution or ""} for p in leaderboard_data.load_mgsm(path)]


HF_LAYOUT = {"jnli": _with_label_index(jglue.JNLI_LABELS), "marc_ja": _with_label_index(jglue.MARC_JA_LABELS),
             "jcommonsenseqa": _raw, "jsts": _raw, "jsquad": _jsquad_rows, "jaqket_v2": _jaqket_rows,
             "mgsm": _mgsm_rows, "xlsum": _raw, "xwinograd": _raw}


def write_hf_layout(task: str, data_dir: Optional[str], out: Path) -> dict[str, str]:
    """The task's splits as JSON lines in the HF dataset's layout: split name → file."""
    files = {}
    for split in TASKS.get(task).files:
        try:
            source = data_file(TASKS.get(task), split, data_dir)
        except InputError:  # a split the data does not have is not offered to lm-eval either
            continue
        path = out / task / f"{split}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = HF_LAYOUT[task](source)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        files[split] = str(path)
    return files


def jsts_yaml() -> dict:
    """lm-eval's view of jaforge's JSTS prompt: a multiple-choice task over the ratings 0–5."""
    tpl = get_template("leaderboard", "jsts")
    text = tpl.text({"sentence1": "{{ sentence1 }}", "sentence2": "{{ sentence2 }}"})
    return {"dataset_path": "json", "output_type": "multiple_choice", "training_split": "train",
            "validation_split": "validation", "test_split": None, "fewshot_split": "train", "num_fewshot": 3,
            "description": tpl.description, "doc_to_text": text, "doc_to_choice": list(JSTS_CHOICES),
            "doc_to_target": "{{ (label + 0.5) | int }}", "target_delimiter": tpl.target_delimiter,
            "fewshot_delimiter": tpl.fewshot_delimiter,
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0}}


def lm_eval_task(task: str, files: dict[str, str], name: str) -> dict:
    """The task YAML (as a dict) lm-eval runs: its own, reading `files`."""
    base = jsts_yaml() if task == "jsts" else {"include": str(official_yaml(task)), "dataset_path": "json",
                                               "dataset_name": None}
    splits = {"training_split": "train" if "train" in files else None,
              "validation_split": "validation" if "validation" in files else None,
              "test_split": "test" if "test" in files else None}
    return {**base, **splits, "task": name, "dataset_kwargs": {"data_files": files}}


# --- the two runs ---------------------------------------------------------------------------------

def lm_eval_tasks(tasks: Sequence[str], work_dir: str | Path, data_dir: Optional[str] = None):
    """Write lm-eval's task YAMLs for `tasks` (each also as a one-task group: lm-eval 0.4.9 fails to
    log a bare task from outside its own tasks folder) and index them: lm-eval's TaskManager."""
    import yaml

    import_lm_eval()
    from lm_eval.tasks import TaskManager

    work = Path(work_dir)
    include = work / "lm_eval_tasks"
    include.mkdir(parents=True, exist_ok=True)
    for task in expand(tasks):
        name = f"jaforge_parity_{task}"
        config = lm_eval_task(task, write_hf_layout(task, data_dir, work / "lm_eval_data"), name)
        (include / f"{name}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        group = {"group": f"{name}_group", "task": [name], "metadata": {"version": 1.0}}
        (include / f"{name}_group.yaml").write_text(yaml.safe_dump(group), "utf-8")
    return TaskManager(include_path=str(include))


def lm_eval_model(model_dir: str, batch_size: int | str = 1, device: str = "cpu", dtype: str = "float32",
                  max_length: Optional[int] = None):
    """lm-eval's `hf` model (HFLM) on the directory, as `--model hf --model_args …` builds it."""
    import_lm_eval()
    from lm_eval.models.huggingface import HFLM

    extra = {"max_length": max_length} if max_length else {}
    return HFLM(pretrained=str(model_dir), batch_size=batch_size, device=device, dtype=dtype, **extra)


def run_lm_eval(model, tasks: Sequence[str], work_dir: str | Path, limit: Optional[int] = None,
                data_dir: Optional[str] = None, batch_size: int | str = 1, max_gen_toks: int = 32,
                device: str = "cpu", dtype: str = "float32", task_manager=None) -> dict[str, dict]:
    """lm-eval's samples and scores per jaforge task name: {"samples": [...], "score": …}. `model`
    is a model directory or an lm-eval model (`lm_eval_model`); `task_manager` one from
    `lm_eval_tasks` (made here when not given)."""
    lm_eval = import_lm_eval()
    task_manager = task_manager or lm_eval_tasks(tasks, work_dir, data_dir)
    names = {task: f"jaforge_parity_{task}" for task in expand(tasks)}
    model_arg = {"model": "hf", "model_args": {"pretrained": str(model), "dtype": dtype},
                 "batch_size": batch_size, "device": device} if isinstance(model, (str, Path)) else {"model": model}
    out = lm_eval.simple_evaluate(
        **model_arg, tasks=[f"{name}_group" for name in names.values()], limit=limit,
        gen_kwargs={"max_gen_toks": max_gen_toks}, task_manager=task_manager, log_samples=True,
        bootstrap_iters=0)
    return {task: {"samples": [_sample(s) for s in sorted(out["samples"][name], key=lambda s: s["doc_id"])],
                   "score": float(out["results"][name][LEADERBOARD_METRICS[task]])}
            for task, name in names.items()}


def _sample(s: dict) -> dict:
    arguments = s["arguments"]
    first = arguments[0] if isinstance(arguments, list) else arguments["gen_args_0"]
    context = first[0] if isinstance(first, (list, tuple)) else first["arg_0"]
    if isinstance(s["resps"][0][0], (list, tuple)):   # log-likelihoods (ll, is_greedy) per choice
        return {"context": context, "logliks": [float(r[0]) for r in s["filtered_resps"]]}
    return {"context": context, "output": s["resps"][0][0]}


def run_jaforge(model, tasks: Sequence[str], limit: Optional[int] = None,
                data_dir: Optional[str] = None, batch_size: int = 16, max_gen_toks: int = 32,
                tokenizer: Optional[str] = None, device: str = "cpu", dtype: str = "float32") -> dict[str, dict]:
    """jaforge's samples and scores in `run_lm_eval`'s shape; `model` a directory or a Backend."""
    backend = model if isinstance(model, Backend) else load_backend(model, device=device, tokenizer=tokenizer,
                                                                    dtype=dtype)
    report = evaluate_tasks(backend, tasks, data_dir=data_dir, limit=limit, batch_size=batch_size,
                            generation=GenerationConfig(max_new_tokens=max_gen_toks))
    parity_score = {"jsts": "acc"}
    return {name: {"samples": [{"context": s["prompt"], **({"logliks": s["loglik"]} if "loglik" in s
                                                          else {"output": s["prediction"]})}
                               for s in r.samples],
                   "score": r.metrics[parity_score.get(name, r.headline)]}
            for name, r in report.tasks.items()}


def compare(ours: dict, theirs: dict) -> dict:
    """Prompts, per-choice log-likelihoods (largest difference) and predictions, or generated
    texts, example by example; and the task scores."""
    a, b = ours["samples"], theirs["samples"]
    if len(a) != len(b):
        raise AssertionError(f"{len(a)} jaforge examples vs {len(b)} lm-eval examples")
    argmax = lambda xs: max(range(len(xs)), key=xs.__getitem__)  # noqa: E731
    report = {"examples": len(a), "score": (ours["score"], theirs["score"]),
              "prompt_mismatches": [i for i, (o, t) in enumerate(zip(a, b)) if o["context"] != t["context"]]}
    if "logliks" in b[0]:
        report["max_abs_diff"] = max(abs(x - y) for o, t in zip(a, b) for x, y in zip(o["logliks"], t["logliks"]))
        report["prediction_mismatches"] = [i for i, (o, t) in enumerate(zip(a, b))
                                           if argmax(o["logliks"]) != argmax(t["logliks"])]
    else:
        report["output_mismatches"] = [i for i, (o, t) in enumerate(zip(a, b)) if o["output"] != t["output"]]
    report["same"] = (not report["prompt_mismatches"] and not report.get("prediction_mismatches")
                      and not report.get("output_mismatches") and report.get("max_abs_diff", 0.0) < 1e-4
                      and abs(ours["score"] - theirs["score"]) < 1e-9)
    return report


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

    model, cfg = jaforge_model.import_hf(hf_dir)
    jaforge_model.save_model(model, cfg, directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(hf_dir) / name).exists():
            shutil.copy(Path(hf_dir) / name, Path(directory) / name)
    return Path(directory)
