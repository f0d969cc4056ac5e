"""The audit trail: who was shown sensitive records, and who wrote what."""
