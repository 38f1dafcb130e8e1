"""core/map."""
