"""Stored views: each record rendered once per access tier when it (or what it shows of
another record) changes, and served from storage on every read."""
