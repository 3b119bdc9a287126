"""Reports: tickets opened and resolved per week, times to acknowledge and resolve, SLA share,
and CSV export safe to open in a spreadsheet.

May import `bot.domain.tickets`, `bot.domain.settlements` and `bot.domain.staff.scope`;
never `api`. Weeks start on Monday, Africa/Johannesburg time.
"""
