"""core/curation."""
