"""The SFT stage (to come): instruction data, chat templates, full and LoRA tuning.

For now it holds `jaforge.sft.data`, the loaders for instruction, chat and preference files.
"""
