"""Sources, their relay chains, archived texts, quotes and citations."""
