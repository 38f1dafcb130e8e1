"""core/map: the catalogue map. build (compute_map, finish_map) reads products (products), fits a layout on a sample
(sampling, projector, neighbours), names its clusters (clusters) and stores it (storage); job fits UMAP in a process
of its own for the app, overlay places a reference catalogue on it, figure draws it."""
