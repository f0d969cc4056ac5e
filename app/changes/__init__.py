"""Writes and their history: revisions, the change feed, idempotent requests, bulk import."""
