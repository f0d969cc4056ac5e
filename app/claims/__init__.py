"""Quantitative claims: numbers about the labour, each with its quote and claimant."""
