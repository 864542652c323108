"""The HTTP edge: errors, request parsing, logging and the OpenAPI document."""
