"""Settlements with their milestones and meetings, and the CSV importer that keeps them current."""
