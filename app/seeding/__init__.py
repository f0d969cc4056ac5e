"""Loading the seed corpus (`app/seed/`) into the database."""
