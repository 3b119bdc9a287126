"""Siyakha's product core: configuration, storage, conversation engine, flows, channels, domains.

`bot` is importable without FastAPI. The web layer lives in `api`, which imports
`bot`; nothing in `bot` imports `api`.
"""
