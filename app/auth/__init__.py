"""Who is asking: API keys, scopes, disclosure tiers and rate limits."""
