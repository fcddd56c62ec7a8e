"""What a person reads: the texts per language, the keyboards, and how a generation's status is shown.

The Telegram handlers and the pipeline both draw their words and buttons from here; it imports
neither of them."""
