"""Staff: municipal users (admin, officer, triage), their argon2 password hashes and their
API tokens (stored as SHA-256 hashes; the token itself is shown once, at creation).

- `service.py`: users and API tokens. `sessions.py`: dashboard logins (signed cookies
  backed by rows), CSRF tokens, login throttling. `scope.py`: the settlements and wards a
  scoped user may see, as SQL conditions shared by the dashboard and the API.
- `audit.py`: the audit log of staff actions. `queue.py`: the triage queue (filters,
  counts, urgency order). `conversation.py`: a ticket's messages for the ticket page.
  `media.py`: fetching Twilio media with the account's credentials. `jobs.py`: pruning.

May import `bot.db`, `bot.config` and other domains' models and services; never `api`.
Route dependencies that turn a bearer token or a cookie into a user live in
`api/deps.py` and call `service.user_for_token` and `sessions.resolve`.
"""
