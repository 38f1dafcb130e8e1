"""Products into vectors into a store: the indexing pipeline (read -> plan -> embed -> write -> prune -> publish), the
one model check (compat) and the vector store (store/); above ingest and models, below search."""
