"""The Mini App: the page (static/, the page helper's) and its JSON API under /app/api, served by the
one aiohttp server. auth.py says who is asking; the API acts only for that user."""
