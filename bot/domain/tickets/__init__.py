"""Tickets: residents' reports and questions, from the chat or Open311, and their follow-up.

`models.py` the ticket and ticket_event tables, the API schemas and Open311's shapes;
`service.py` every query and change (open, add, status, reply, note, link duplicates,
de-identify); `references.py` report numbers; `sla.py` due times and SLA state;
`notify.py` what the resident is told, through the outbox; `ports.py` the engine's
TicketDesk; `jobs.py` the scheduled jobs (`tickets.flag_breaches`,
`tickets.close_unanswered`, `tickets.end_unanswered_waits`).

May import `bot.db`, `bot.config`, `bot.content`, `bot.i18n`, the pure report notices in
`bot.flows.report_notices`, the residents, staff and outbox domains, and the engine's ports
and effects. Never `api`.
"""
