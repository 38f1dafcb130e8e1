"""Catalogues in: CSV files in any known format -> products, the photos they name (files, URLs, zips, uploads) and
their colours, and the generated sample catalogues."""
