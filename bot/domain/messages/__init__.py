"""Inbound messages as received from a provider, unique on the provider's message id."""
