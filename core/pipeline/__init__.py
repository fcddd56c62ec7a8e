"""The generation pipeline: every step a job of the queue, so nothing waits minutes in a coroutine.

confirm (bot) ─▶ generation.prompt ─▶ generation.submit ─▶ generation.poll ⟲ ─▶ generation.deliver
                 OpenAI writes it     photo to KIE,        record-info until    download, send the
                 (fallback: the       create the task      done (a KIE callback video, finish the
                 user's own words)                         wakes it early)      status message
generation.watchdog: at the deadline, fails and refunds whatever is still unfinished.
"""

PROMPT = "generation.prompt"
SUBMIT = "generation.submit"
POLL = "generation.poll"
DELIVER = "generation.deliver"
WATCHDOG = "generation.watchdog"
ALERT = "admin.alert"
HOUSEKEEPING = "bot.housekeeping"
