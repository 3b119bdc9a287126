"""Channels translate provider payloads to the engine's messages and back; they never decide
what to say. They may import `bot.engine.messages`, `bot.phones` and provider libraries
(twilio), never `bot.flows` or `api`."""
