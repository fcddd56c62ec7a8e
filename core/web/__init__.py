"""The HTTP side: the aiohttp server and its health checks (server.py), the body reader every route
uses (body.py), /metrics (metrics.py) and the providers' callbacks (callbacks.py)."""
