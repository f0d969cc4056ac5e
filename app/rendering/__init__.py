"""Rendering: each record's stored views, their counts and its search documents kept in step
with the records, in the transaction that writes them."""
