"""Outbox: every proactive message (ticket updates, broadcasts, reminders) and its delivery.

`models.py` holds the `outbox` table; `service.py` enqueues (inside the caller's
transaction), claims, records send results and status callbacks, and answers queries;
`routing.py` decides at send time how a row may reach its resident (WhatsApp window,
templates, SMS fallback, consent and opt-outs), without I/O; `ports.py` is the
provider interface the worker's sender implements; `ratelimit.py` the token bucket;
`delivery.py` one delivery pass (claim, route, send, record); `jobs.py` the scheduled
jobs; `budget.py` how long staff words may be where they may go by SMS (checked when
written, by the domains that take them). May import `bot.db`, `bot.config`, `bot.sms`
and the residents domain, never `api` or `bot.channels` (the worker passes a sender in).
"""
