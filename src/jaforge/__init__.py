"""jaforge: a Japanese-first toolkit for building large language models end to end.

Stages (corpus, tokenizer, pretrain, explore, sft, merge, eval) are run with the
`jaforge` command; see `jaforge --help`.
"""

__version__ = "0.1.0"
