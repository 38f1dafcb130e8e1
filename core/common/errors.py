"""Domain errors: each carries a message that tells a merchandiser or operator how to fix the problem."""


class LensError(Exception):
    """Base class for errors shown to users as one line, never as a traceback."""


class ConfigError(LensError):
    """A setting has an invalid value."""


class CatalogError(LensError):
    """The catalogue file cannot be used at all (missing file, missing columns, not a CSV)."""


class ImageRejected(LensError):
    """An image cannot be used; the message is the per-row reason."""


class IncompleteImage(ImageRejected):
    """The file is an image whose data stops short or is damaged (a cut-off download or upload)."""


class ModelLoadError(LensError):
    """The embedding model cannot be loaded."""


class ModelMismatch(LensError):
    """The collection was built with another model or dimension."""


class StoreError(LensError):
    """The vector store cannot be opened or used."""


class IndexBusy(StoreError):
    """Another process owns the embedded index (holds its lock); a read-only command may read its published copy."""


class NotIndexed(LensError):
    """There is no index yet."""


class UnknownFilterField(LensError):
    """A filter names a field that is not filterable."""


class UnknownProduct(LensError):
    """A product id is not in the index."""


class BadQuery(LensError):
    """A search request is incomplete or out of range."""
