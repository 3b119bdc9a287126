"""HTTP routes, one module per surface (webhooks, health, simulator, staff, v1, open311)."""
