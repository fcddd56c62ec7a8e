"""Talking to Telegram: every Bot API call's middleware (session.py), the shared sending budget
(limiter.py), replies sent after an update's commit (outbox.py) and what belongs to the update being
applied (context.py)."""
