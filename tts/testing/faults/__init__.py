"""Load and fault scenarios against real gunicorn, one module per scenario family.

Each scenario drives a running `GunicornServer` and returns an `Outcome`: its
figures and the expectations it broke. tests/test_faults.py runs short versions and
asserts they passed; `python -m bench.faults` runs the full ones and writes the report.
"""
