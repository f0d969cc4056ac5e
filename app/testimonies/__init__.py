"""Testimonies of witnesses, under pseudonyms, with their excerpts."""
