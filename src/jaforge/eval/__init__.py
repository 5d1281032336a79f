"""The eval stage (to come): tasks, scorers, perplexity and generation over jaforge and HF models.

For now it holds `jaforge.eval.jglue`, the loaders for the JGLUE task files.
"""
