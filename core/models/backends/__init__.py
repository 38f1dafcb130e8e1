"""core/models/backends."""
