"""The Telegram side: webhook or polling, handlers, conversation state, status messages."""
