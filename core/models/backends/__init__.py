"""One module per kind of model behind an Embedder (sentence_transformers, open_clip), and the photo sizing both
share (preprocess)."""
