"""Flask blueprints, one module per surface. Route modules import shared helpers from
`tts.web` (context, requests, responses, error_map), never from each other."""
