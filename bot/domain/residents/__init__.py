"""Residents: one row per person (E.164 phone), language, settlement, consent, opt-out."""
