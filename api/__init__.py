"""The web layer: FastAPI app, dependencies and routes. Routes parse, authorise, delegate, return."""
