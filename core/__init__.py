"""Reelsmith's runtime: settings, logging, the job queue, supervision and the web server."""
