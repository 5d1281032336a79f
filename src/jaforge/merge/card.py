"""The merged model's README.md: Hub metadata (license, base_model, tags, language) and the recipe.

    write_card(out_dir, title="ties merge", inputs=["runs/a", "runs/b"], recipe=yaml_text,
               method="ties", paper="https://arxiv.org/abs/2306.01708", license_from=Path("runs/base"))
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import yaml

from jaforge.io.atomic import write_text

LICENSE_LINE = re.compile(r"^license:\s*(\S+)\s*$", re.MULTILINE)


def input_license(model_dir: Optional[Path]) -> str:
    """The license in an input's own model card front matter; 'other' when it states none."""
    card = model_dir / "README.md" if model_dir else None
    if card is None or not card.exists():
        return "other"
    text = card.read_text("utf-8", errors="replace")
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    match = LICENSE_LINE.search(front)
    return match.group(1) if match else "other"


def card_text(title: str, inputs: list[str], recipe: str, method: str, paper: str = "",
              license_name: str = "other", summary: str = "") -> str:
    metadata = {"license": license_name, "base_model": list(dict.fromkeys(inputs)),
                "tags": ["merge", "jaforge"], "language": ["ja"], "library_name": "transformers"}
    cited = f" ([paper]({paper}))" if paper else ""
    listed = "\n".join(f"- `{m}`" for m in dict.fromkeys(inputs))
    return (f"---\n{yaml.safe_dump(metadata, allow_unicode=True, sort_keys=False)}---\n\n# {title}\n\n"
            f"Merged with `jaforge` by **{method}**{cited} from:\n\n{listed}\n\n"
            + (f"{summary}\n\n" if summary else "")
            + f"## Recipe\n\n```yaml\n{recipe.rstrip()}\n```\n\n"
            "Load it with `transformers.AutoModelForCausalLM.from_pretrained(<this directory>)`.\n")


def write_card(out_dir: Path, title: str, inputs: list[str], recipe: str, method: str, paper: str = "",
               license_from: Optional[Path] = None, summary: str = "") -> Path:
    return write_text(out_dir / "README.md", card_text(title, inputs, recipe, method, paper,
                                                       input_license(license_from), summary))
