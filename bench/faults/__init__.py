"""Load and fault runs against real gunicorn, one module per scenario family;
`python -m bench.faults` (this package's __main__) runs them and writes the report."""
