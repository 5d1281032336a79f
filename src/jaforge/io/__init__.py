"""Shared file plumbing for every stage: atomic writes, input readers and skip records."""
