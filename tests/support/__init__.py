"""Shared test helpers (the tests folder is not a package; conftest puts this on sys.path)."""
