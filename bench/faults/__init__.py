"""`python -m bench.faults`: runs the load and fault scenarios of tts.testing.faults at
full length and writes their report."""
