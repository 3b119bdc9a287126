"""Domains: one folder each (`models.py`, `service.py`, `jobs.py`), owning their tables and queries.

A domain may import `bot.db`, `bot.config`, other domains' services and the engine's
ports (which it implements). It never imports `api`. Services `flush()` when they need
an id and never `commit()`: the request or job boundary commits.
"""
