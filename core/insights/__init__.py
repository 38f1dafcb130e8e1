"""What the index says about the catalogue: the label audit and its decisions, model evaluation, reference catalogues
and the gaps against them, colour swatches; above curation, below map."""
