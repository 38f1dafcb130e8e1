"""core/insights."""
