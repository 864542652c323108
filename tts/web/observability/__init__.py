"""What requests and the worker leave behind: one JSON log line, Prometheus metrics."""
