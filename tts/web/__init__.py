"""The HTTP edge, in the order a request crosses it.

middleware/   WSGI layers declared in app.create_app: lifecycle (id, auth, timing,
              records, errors), mount (Socket.IO), hits (tier-1 repeats)
routes/       Flask blueprints and Socket.IO handlers; they import only the shared
              modules here, never each other
context, requests, openai_requests, responses, error_map, headers, exchange
              what routes and layers share
observability/  metrics, the JSON log formatter, the per-request record
"""
