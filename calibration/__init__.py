"""Calibration: colour card detection and colour correction, scale, flat-field.

Pure array maths, no file or database I/O (enforced by tests/test_layering.py): photos come
in as arrays, results go out as frozen dataclasses; storage of station profiles is the
ledger's job.
"""
