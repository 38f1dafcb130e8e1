"""Reference catalogues (a competitor's, a supplier's): each indexed into its own collection beside ours."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from core.index.compat import require_same_model
from core.common.errors import BadQuery, CatalogError, NotIndexed, StoreError
from core.index.store import ProductStore, open_store

# A reference's collection is our collection's name, this separator, then the reference's name. It always
# extends our name, so it can never be our own collection. Someone else's LENS_COLLECTION could still be spelt
# like one (LENS_COLLECTION is free text), so a reference collection also carries REFERENCE_OF in its metadata:
# one without it, or made for another collection, is never listed, written to or removed as ours.
SEPARATOR = "--ref--"
REFERENCE_OF = "reference_of"  # metadata: the collection this reference belongs to
REFERENCE = "reference"        # metadata: the reference's own name
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass
class ReferenceInfo:
    """One reference catalogue as `reference list` shows it."""

    name: str
    products: int
    model: str
    last_indexed: float | None
    catalog: str

    def as_dict(self) -> dict:
        return {"name": self.name, "products": self.products, "model": self.model,
                "last_indexed": self.last_indexed, "catalog": self.catalog}


def check_name(name: str, collection: str | None = None) -> str:
    """The name if it can name a reference catalogue (lower-case letters, digits, '-' and '_'), else BadQuery."""
    if not isinstance(name, str) or not name:
        raise BadQuery("a reference catalogue needs a name, like competitor-a")
    if any(c in name for c in "/\\") or ".." in name:
        raise BadQuery(f"reference name {name!r} may not contain path characters (/, \\ or ..)")
    if not NAME.fullmatch(name):
        raise BadQuery(f"reference name {name!r} must be 1 to 40 lower-case letters, digits, '-' or '_', "
                       "starting with a letter or digit")
    if collection is not None and name == collection:
        raise BadQuery(f"reference name {name!r} is the name of our own collection: choose another")
    return name


def reference_collection(settings, name: str) -> str:
    """The collection a reference catalogue lives in: our collection's name, SEPARATOR, its name."""
    return f"{settings.collection}{SEPARATOR}{check_name(name, settings.collection)}"


def _ours(meta: dict | None, settings) -> bool:
    return bool(meta) and meta.get(REFERENCE_OF) == settings.collection


def _missing(name: str) -> NotIndexed:
    return NotIndexed(f"no reference catalogue {name!r}: add it with python -m core reference add {name} "
                      "--catalog FILE")


def open_reference(settings, name: str, read_only: bool = True) -> ProductStore:
    """The store of an existing reference catalogue; NotIndexed when there is none by that name."""
    store = open_store(settings, read_only=read_only, collection=reference_collection(settings, name))
    try:
        _require_ours(store, settings, name)
    except BaseException:
        store.close()
        raise
    return store


def _require_ours(store: ProductStore, settings, name: str) -> None:
    """NotIndexed when the reference does not exist; StoreError when the collection is not one of ours."""
    meta = store.meta()
    if meta is None:
        raise _missing(name)
    if not _ours(meta, settings):
        raise StoreError(_clash(store, settings))


def _clash(store: ProductStore, settings) -> str:
    return (f"collection {store.collection!r} exists but is not a reference catalogue of {settings.collection!r} "
            "(another LENS_COLLECTION?): choose another reference name")


def our_meta(settings) -> dict:
    """Our index's metadata (model, dim), read without keeping it open; NotIndexed when there is no index."""
    store = open_store(settings, read_only=True)
    try:
        meta = store.meta()
    finally:
        store.close()
    if meta is None:
        raise not_indexed()
    return meta


def not_indexed() -> NotIndexed:
    """The error for adding or matching a reference before our own catalogue is indexed."""
    return NotIndexed("our catalogue is not indexed yet: run `python -m core index --catalog <csv>` before "
                      "adding or matching a reference catalogue")


def check_model(ours: dict, model: str, dim: int, what: str) -> None:
    """ModelMismatch unless `what` uses our index's model: vectors of two models cannot be compared."""
    require_same_model(ours, model, dim, index="our index", other=what, advice="use that model (LENS_MODEL)")


def add_reference(settings, name: str, catalog: Path, images: Path | None, embedder, *, format: str = "auto",
                  columns: dict | None = None, fetcher=None, progress=None, stage=None, prune: bool = False):
    """Index a reference catalogue into its own collection (incremental, as `index`); returns the IndexReport.
    progress and stage are index_catalog's callbacks (stage is also told READ while the file is first surveyed).

    Nothing is written before every check passes: our index exists and uses the embedder's model, the file
    is a catalogue with at least one product. A first run that fails before writing a product leaves no
    collection behind.
    """
    from core.ingest.catalog import CatalogFile
    from core.index.indexer import READ, index_catalog
    from core.ingest.catalog import check_inputs

    collection = reference_collection(settings, name)
    check_inputs(catalog, images)
    check_model(our_meta(settings), embedder.name, embedder.dim, f"the model loaded for reference {name!r}")
    if stage is not None:  # the survey below reads the whole file: the progress bar says so, not "loading the model"
        stage(READ)
    survey = CatalogFile(Path(catalog), images, format=format, columns=columns)
    if survey.product_count == 0:
        raise CatalogError(f"reference catalogue {catalog} has no products ({survey.total_rows} row(s), none "
                           "usable): nothing to add")
    store = open_store(settings, collection=collection)
    created = False
    try:
        meta = store.meta()
        if meta is not None and not _ours(meta, settings):
            raise StoreError(_clash(store, settings))
        if meta is None:
            created = True
            store.ensure(embedder.name, embedder.dim, expected_points=survey.product_count,
                         marks={REFERENCE_OF: settings.collection, REFERENCE: name})
        report = index_catalog(catalog, images, embedder, store, batch_size=settings.batch_size, prune=prune,
                               max_pixels=settings.max_pixels, progress=progress, format=format, columns=columns,
                               fetcher=fetcher, stage=stage)
    except BaseException:
        if created:
            _drop_if_empty(store)
        store.close()
        raise
    store.close()
    return report


def _drop_if_empty(store: ProductStore) -> None:
    """After a failed first run: remove the collection unless some products were written (a re-run resumes)."""
    try:
        if store.meta() is not None and store.count() == 0:
            store.drop()
    except Exception:  # the original error matters more; an empty collection left is harmless
        pass


def list_references(settings) -> list[ReferenceInfo]:
    """Every reference catalogue of our collection, by name."""
    out = []
    for collection in _collections(settings):
        name = collection[len(settings.collection) + len(SEPARATOR):]
        if not NAME.fullmatch(name):
            continue
        store = open_store(settings, read_only=True, collection=collection)
        try:
            meta = store.meta()
            if not _ours(meta, settings):
                continue
            count = store.count()
        finally:
            store.close()
        out.append(ReferenceInfo(name, count, meta.get("model", ""), meta.get("last_indexed"),
                                 meta.get("catalog", "")))
    return sorted(out, key=lambda r: r.name)


def _collections(settings) -> list[str]:
    """Names of the store's collections that start with our reference prefix.

    The store is opened for writing (open_store's default), which takes no lock until something is read or
    written: listing must neither wait for nor be refused by another process that holds our own index.
    """
    prefix = f"{settings.collection}{SEPARATOR}"
    store = open_store(settings)
    try:
        names = store.list_collections()
    finally:
        store.close()
    return sorted(n for n in names if n.startswith(prefix))


def remove_reference(settings, name: str) -> None:
    """Delete a reference catalogue's collection; NotIndexed when there is none by that name."""
    store = open_store(settings, collection=reference_collection(settings, name))
    try:
        _require_ours(store, settings, name)
        store.drop()  # as `index --recreate` drops: under the data dir's lock, or the server's delete
    finally:
        store.close()


def describe(info: ReferenceInfo) -> str:
    """One line of `reference list`."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.last_indexed)) if info.last_indexed else "never"
    return f"{info.name}: {info.products:,} products, model {info.model}, indexed {when}, from {info.catalog or '-'}"
