"""Organizations: publishers, claimants and operators."""
