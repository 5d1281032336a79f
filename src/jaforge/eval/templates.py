"""Prompt templates of the JGLUE tasks, by name: how an example becomes a prompt and its choices.

    from jaforge.eval.templates import get_template
    tpl = get_template("leaderboard", "jnli")
    tpl.text(doc), tpl.choices(doc), tpl.target(doc)

A few-shot prompt is assembled the way lm-evaluation-harness 0.4 does it (see
`jaforge.eval.tasks.fewshot_context`): description, then per shot
text + target_delimiter + target + fewshot_delimiter, then the example's text; each choice is
scored as the continuation target_delimiter + choice.

- `leaderboard` (default): EleutherAI lm-eval `japanese_leaderboard` (full-width `：`, Alpaca-style
  description header, target delimiter "\n") for its eight tasks, and JSTS in the same style.
- `jp-stable-0.2`, `jp-stable-0.3`: the prompt versions of Stability-AI's jp-stable harness
  (Fintan-style prompts; Japanese-Alpaca "### 指示:" prompts); targets follow the prompt directly.
  JCommonsenseQA 0.2 is the harness's recommended 0.2.1 variant (0.2 scores choice texts while
  showing choice numbers).
- `alpaca-ja`: the Japanese Alpaca format that instruction-tuned models (the LoRA-tuning paper)
  were trained on — every shot and the question are each a complete prompt with its preamble.

Docs are the task-normalised dicts of `jaforge.eval.tasks` (labels as choice indices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from jaforge.registry import Registry, did_you_mean

ALPACA_PREAMBLE = "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"
JNLI_CHOICES = ["含意", "矛盾", "中立"]
MARC_JA_CHOICES = ["ポジティブ", "ネガティブ"]
JSTS_CHOICES = ["0", "1", "2", "3", "4", "5"]


@dataclass(frozen=True)
class PromptTemplate:
    text: Callable[[dict], str]
    """The example as a prompt (without its answer)."""
    choices: Optional[Callable[[dict], list[str]]] = None
    """The answer strings of a choice task; None for generation tasks."""
    description: str = ""
    target_delimiter: str = "\n"
    fewshot_delimiter: str = "\n\n"
    stop: tuple[str, ...] = ()
    """Stop strings of a generation task."""

    def target(self, doc: dict) -> str:
        """The gold answer string (a shot's answer in the prompt)."""
        if self.choices is not None:
            return self.choices(doc)[doc["label"]]
        return doc["answers"][0]


TEMPLATES: Registry[dict[str, PromptTemplate]] = Registry("prompt template")


def get_template(name: str, task: str) -> PromptTemplate:
    """The template `name` of `task`; unknown names fail with the known ones."""
    per_task = TEMPLATES.get(name)
    if task not in per_task:
        raise KeyError(f"prompt template '{name}' has no prompt for task '{task}'"
                       f"{did_you_mean(task, list(per_task))} it has: {', '.join(per_task)}")
    return per_task[task]


def jsquad_paragraph(doc: dict) -> str:
    """The paragraph of a JSQuAD context ("title [SEP] paragraph" in the release)."""
    return doc["context"].split("[SEP]")[-1].strip()


def dash_list(items: list[str]) -> str:
    return "".join(f"- {item}\n" for item in items)


def _fixed(choices: list[str]) -> Callable[[dict], list[str]]:
    return lambda doc: list(choices)


def _own_choices(doc: dict) -> list[str]:
    return list(doc["choices"])


# --- EleutherAI japanese_leaderboard -----------------------------------------------------------

_LB = dict(description=ALPACA_PREAMBLE + "\n\n", target_delimiter="\n", fewshot_delimiter="\n\n")
TEMPLATES.register("leaderboard")({
    "jnli": PromptTemplate(
        lambda d: ("### 指示：\n与えられた前提と仮説の関係を回答してください。\n\n出力は以下から選択してください：\n"
                   f"含意\n矛盾\n中立\n\n### 入力：\n前提：{d['sentence1']}\n仮説：{d['sentence2']}\n\n### 応答："),
        _fixed(JNLI_CHOICES), **_LB),
    "marc_ja": PromptTemplate(
        lambda d: ("### 指示：\n以下の製品レビューを、ポジティブまたはネガティブの感情クラスのいずれかに分類してください。"
                   f"\n\n### 入力：\n{d['sentence']}\n\n### 応答："),
        _fixed(MARC_JA_CHOICES), **_LB),
    "jcommonsenseqa": PromptTemplate(
        lambda d: (f"### 指示：\n出力は以下から選択してください：\n{dash_list(d['choices'])}\n### 入力：\n"
                   f"{d['question']}\n\n### 応答："),
        _own_choices, **_LB),
    "jsquad": PromptTemplate(
        lambda d: ("### 指示：\n与えられた文脈から、質問に対する答えを抜き出してください。\n\n### 入力：\n"
                   f"文脈：{jsquad_paragraph(d)}\n質問：{d['question']}\n\n### 応答："),
        None, stop=("\n\n",), **_LB),
    "jaqket_v2": PromptTemplate(
        lambda d: ("### 指示：\n与えられた文脈から、質問に対する答えを抜き出してください。\n\n### 入力：\n"
                   f"文脈：{chr(10).join(c['text'] for c in d['contexts'])}\n質問：{d['question']}\n\n### 応答："),
        None, stop=("\n\n",), **_LB),
    "mgsm": PromptTemplate(
        lambda d: ("### 指示：\n与えられた問題に対して、ステップごとに答えを導き出してください。\n\n### 入力：\n"
                   f"{d['question'].replace('問題：', '')}\n\n### 応答："),
        None, stop=("\n\n",), **_LB),
    "xlsum": PromptTemplate(
        lambda d: f"### 指示：\n与えられたニュース記事を要約してください。\n\n### 入力：\nニュース記事：{d['text']}\n\n### 応答：",
        None, stop=("\n\n",), **_LB),
    # lm-eval scores each whole sentence after an empty context (no description, no delimiter)
    "xwinograd": PromptTemplate(lambda d: "", lambda d: [d["sentence1"].strip(), d["sentence2"].strip()],
                                target_delimiter=""),
    # not in lm-eval's group: jaforge's prompt in the same style, the score read as a choice 0–5
    "jsts": PromptTemplate(
        lambda d: ("### 指示：\n2つの文の意味がどれくらい近いかを、0（まったく異なる）から5（同じ意味）の整数で"
                   "回答してください。\n\n出力は以下から選択してください：\n0\n1\n2\n3\n4\n5\n\n### 入力：\n"
                   f"文1：{d['sentence1']}\n文2：{d['sentence2']}\n\n### 応答："),
        _fixed(JSTS_CHOICES), **_LB),
    # jaforge's translation tasks: the parallel-text stage's template up to the target, one line
    **{task: PromptTemplate(lambda d: d["prompt"], None, target_delimiter=" ", stop=("\n",))
       for task in ("translation_en_ja", "translation_ja_en")},
})

# --- jp-stable prompt version 0.2 (Fintan prompts) ----------------------------------------------

_JS = dict(target_delimiter="", fewshot_delimiter="\n\n")
TEMPLATES.register("jp-stable-0.2")({
    "jnli": PromptTemplate(
        lambda d: f"前提:{d['sentence1']}\n仮説:{d['sentence2']}\n関係:", _fixed(JNLI_CHOICES),
        description=("前提と仮説の関係を含意、矛盾、中立の中から回答してください。\n\n制約:\n"
                     "- 前提から仮説が、論理的知識や常識的知識を用いて導出可能である場合は含意と出力\n"
                     "- 前提と仮説が両立しえない場合は矛盾と出力\n- そのいずれでもない場合は中立と出力\n\n"), **_JS),
    "marc_ja": PromptTemplate(
        lambda d: f"製品レビュー:{d['sentence']}\nセンチメント:", _fixed(["positive", "negative"]),
        description="製品レビューをnegativeかpositiveのいずれかのセンチメントに分類してください。出力は小文字化してください。 \n\n",
        **_JS),
    "jcommonsenseqa": PromptTemplate(
        lambda d: f"質問：{d['question']}\n選択肢：\n{dash_list(d['choices']).rstrip(chr(10))}\n回答：",
        _own_choices, description="与えられた選択肢の中から、最適な答えを選んでください。 \n\n", **_JS),
    "jsquad": PromptTemplate(
        lambda d: f"文章:{jsquad_paragraph(d)}\n質問:{d['question']}\n回答:", None, stop=("\n",),
        description="質問に対する回答を文章から一言で抽出してください。回答は名詞で答えてください。\n\n", **_JS),
})

# --- jp-stable prompt version 0.3 and Alpaca-ja (instruction, input) ------------------------------

_INSTRUCTIONS: dict[str, Callable[[dict], tuple[str, str]]] = {
    "jnli": lambda d: ("与えられた前提と仮説の関係を回答してください。\n\n出力は以下から選択してください：\n"
                       + "\n".join(JNLI_CHOICES), f"前提：{d['sentence1']}\n仮説：{d['sentence2']}"),
    "marc_ja": lambda d: ("以下の製品レビューを、ポジティブまたはネガティブの感情クラスのいずれかに分類してください。",
                          d["sentence"]),
    "jcommonsenseqa": lambda d: ("与えられた選択肢の中から、最適な答えを選んでください。出力は以下から選択してください：\n"
                                 + dash_list(d["choices"]).rstrip("\n"), d["question"]),
    "jsquad": lambda d: ("与えられた文脈から、質問に対する答えを抜き出してください。",
                         f"文脈：{jsquad_paragraph(d)}\n質問：{d['question']}"),
}
_CHOICES = {"jnli": _fixed(JNLI_CHOICES), "marc_ja": _fixed(MARC_JA_CHOICES),
            "jcommonsenseqa": _own_choices, "jsquad": None}


def instruction_block(instruction: str, input_text: str) -> str:
    """### 指示 / ### 入力 / ### 応答 with half-width colons, as the jp-stable 0.3 prompts write it."""
    return f"### 指示:\n{instruction}\n\n### 入力:\n{input_text}\n\n### 応答:\n"


def alpaca_ja_prompt(instruction: str, input_text: str = "") -> str:
    """One complete Japanese-Alpaca prompt (the no-input variant when `input_text` is empty)."""
    if not input_text:
        return ("以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n"
                f"### 指示:\n{instruction}\n\n### 応答:\n")
    return f"{ALPACA_PREAMBLE}\n\n{instruction_block(instruction, input_text)}"


def _instruction_templates(text_of, description: str) -> dict[str, PromptTemplate]:
    return {task: PromptTemplate((lambda f: lambda d: text_of(*f(d)))(pair), _CHOICES[task],
                                 description=description, stop=("\n",) if task == "jsquad" else (),
                                 **_JS)
            for task, pair in _INSTRUCTIONS.items()}


TEMPLATES.register("jp-stable-0.3")(_instruction_templates(instruction_block, ALPACA_PREAMBLE + "\n\n"))
TEMPLATES.register("alpaca-ja")(_instruction_templates(alpaca_ja_prompt, ""))
