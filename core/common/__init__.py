"""core/common."""
