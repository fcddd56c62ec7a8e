"""Fake servers of the services the bot calls, speaking their real wire formats."""
