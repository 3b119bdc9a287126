"""Conversation flows: onboarding, the main menu and each of its options, account keywords.

A flow is a function taking a `bot.engine.turn.Turn`: it reads the message, the resident
and the ports, adds message ids to the reply, emits effects and sets the next step. Flows
are pure: they may import the stdlib, rapidfuzz, `bot.content`, `bot.i18n`, `bot.names`,
`bot.sms` and `bot.engine` (messages, ports, effects, turn), and never a web framework,
ORM, Twilio, `bot.channels`, `bot.domain`, `bot.db`, `bot.config` or `api`. No
user-facing text here: only message ids from `content/*.yaml`.
"""
