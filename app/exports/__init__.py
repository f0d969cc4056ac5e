"""Exports: every record a list matches, streamed in CSV, NDJSON, XLSX or a kind's own formats."""
