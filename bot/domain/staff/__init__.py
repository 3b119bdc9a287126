"""Staff: municipal users (admin, officer, triage), their argon2 password hashes and their
API tokens (stored as SHA-256 hashes; the token itself is shown once, at creation).

May import `bot.db` and `bot.config`; never `api`. Route dependencies that turn a bearer
token into a user live in `api/deps.py` and call `service.user_for_token`.
"""
