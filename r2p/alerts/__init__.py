"""Alerts: every outcome routed to the people it concerns, once, with what to do (DESIGN §6)."""
