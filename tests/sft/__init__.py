"""Tests of the SFT stage (a package, so its test_data.py does not clash with tests/test_data.py)."""
