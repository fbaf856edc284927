"""Fake backend modules for the worker tests; each is imported by name inside a spawned worker."""
