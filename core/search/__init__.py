"""Reading the index: text, image and hybrid search with filters and facets (query) and near-duplicate groups
(duplicates); above index, below curation and the app."""
