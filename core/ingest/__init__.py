"""core/ingest."""
