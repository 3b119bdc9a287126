"""The web layer: FastAPI app, dependencies and routes.

Routes parse, authorise, delegate and return; they hold no queries.
"""
