"""Broadcasts and meeting reminders: officers reach whole settlements in every language.

- `models.py`: the broadcast table, meeting attendance and sent-reminder markers, and the
  API shapes (`BroadcastCreate`, `BroadcastPublic`, `Preview`, ...).
- `audience.py`: who a broadcast reaches (consented, not opted out, filtered), in SQL.
- `service.py`: create, preview, approve, release (enqueue), cancel, progress; meeting
  announcements and reminders; attendance replies. Structured templates (meeting
  announced/moved/cancelled, interruptions, milestones, reminders) are rendered once per
  language with Babel dates by `bot.flows.broadcast_notices`.
- `jobs.py`: `broadcasts.send_due` and `broadcasts.meeting_reminders`.
- `ports.py`: the engine's `MeetingInvitations` port, read from the outbox.

May import `bot.domain.outbox`, `bot.domain.residents`, `bot.domain.settlements`,
`bot.domain.staff`, `bot.content`, `bot.i18n`, `bot.sms`, the pure broadcast notices in
`bot.flows.broadcast_notices` and the engine's messages and ports; never `api`.
"""
