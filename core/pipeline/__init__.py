"""The generation pipeline: every step a job of the queue, so nothing waits minutes in a coroutine.

confirm (bot) ─▶ generation.prompt ─▶ generation.submit ─▶ generation.poll ⟲ ─▶ generation.deliver
                 OpenAI writes it     image to the         the record until    download, send the
                 from the idea and    provider, create     done (a callback    video, finish the
                 the 9:16 photo       the task (waits      wakes it early)     status message
                 (fallback: the       while the provider
                 user's own words)    is down)
generation.watchdog: waiting too long (QUEUE_WAIT_LIMIT) refunds; so does rendering past the deadline
(GENERATION_TIMEOUT from acceptance), after which a video still arriving is delivered free.
generation.adopt: a create's answer was lost; the task's callback names it, a record read confirms it,
and the generation goes on rendering it instead of creating (and paying for) another.
provider.probe: while a provider is down, asks it with backoff; provider.balance: watches its credit.
"""

PROMPT = "generation.prompt"
SUBMIT = "generation.submit"
POLL = "generation.poll"
DELIVER = "generation.deliver"
WATCHDOG = "generation.watchdog"
ADOPT = "generation.adopt"  # a callback named the task of a create whose answer was lost
PROBE = "provider.probe"
MODEL_PROBE = "model.probe"  # an hour after a model was withdrawn: offered again (core/pipeline/models.py)
BALANCE = "provider.balance"
ALERT = "admin.alert"
HOUSEKEEPING = "bot.housekeeping"


def job_key(kind: str, subject: int | str) -> str:
    """The unique key of the one unfinished job of ``kind`` about ``subject`` (a generation, a provider)."""
    return f"{kind}:{subject}"
