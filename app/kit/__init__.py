"""Shared plumbing: pagination, errors, partial dates, citations, vocabularies."""
