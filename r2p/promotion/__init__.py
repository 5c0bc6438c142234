"""Promotion: the append-only record, the registry aliases and the serving folder (DESIGN §5)."""
