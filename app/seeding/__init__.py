"""Loading the seed corpus (`seed/`) into the database."""
