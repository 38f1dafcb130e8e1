"""`core eval`: a fixed-seed sample of the index's products, each model's vectors for it (the index's from the
store, another model's embedded in memory), and core.insights.evaluation's metrics over them; the store is only read."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from core.index.compat import require_same_model, same_model
from core.insights import evaluation
from core.common.errors import BadQuery, NotIndexed
from core.common.fields import CATEGORY, COLOUR, IMAGE_PATH, PRODUCT_ID, SUB_CATEGORY, TITLE, values_of
from core.common.filters import Filters
from core.ingest.images import open_image
from core.index.store import ProductStore

SEED = 13  # the sample is the same for every model and every run over the same products
LABEL_FIELDS = (COLOUR, SUB_CATEGORY, CATEGORY)
ZERO_SHOT_FIELDS = (CATEGORY, SUB_CATEGORY)
RETRIEVE_CHUNK = 256
DECIMALS = 4


@dataclass
class EvalProduct:
    """One evaluated product: its title, its labels, its photo, and the index's image vector (None: no photo)."""

    product_id: str
    title: str
    image_path: str
    stored_image: np.ndarray | None
    labels: dict[str, list[str]] = field(default_factory=dict)


def sample_products(store: ProductStore, size: int | None = None, seed: int = SEED,
                    show_hidden: bool = False) -> list[EvalProduct]:
    """All the index's products, or `size` of them drawn with a fixed seed from the ids in sorted order (so the
    draw does not depend on the engine's order); in product id order. Draft and archived products are left out
    unless show_hidden: the catalogue evaluated is the one customers search."""
    if size is not None and size < 1:
        raise BadQuery(f"--sample must be at least 1, got {size}")
    store.require_meta()
    ids = sorted((str(h.payload.get(PRODUCT_ID)), h.id)
                 for h in store.scroll(Filters().visible(show_hidden), payload_keys=[PRODUCT_ID]))
    if not ids:
        raise NotIndexed("the index has no products to evaluate: index a catalogue first")
    if size is not None and size < len(ids):
        ids = sorted(random.Random(seed).sample(ids, size))
    products = []
    for start in range(0, len(ids), RETRIEVE_CHUNK):  # vectors as arrays chunk by chunk: lists of floats are big
        hits = {h.id: h for h in store.retrieve([point for _, point in ids[start:start + RETRIEVE_CHUNK]],
                                                with_vectors=True)}
        for product_id, point in ids[start:start + RETRIEVE_CHUNK]:
            hit = hits[point]
            image = hit.vectors.get("image")
            products.append(EvalProduct(
                product_id, str(hit.payload.get(TITLE) or "").strip(), str(hit.payload.get(IMAGE_PATH) or ""),
                None if image is None else np.asarray(image, dtype=np.float32),
                {f: values_of(hit.payload.get(f)) for f in LABEL_FIELDS}))
    return products


def require_index_model(meta: dict, embedder) -> None:
    """The loaded model must be the index's (meta: its metadata), or its texts and the stored photos do not compare."""
    require_same_model(meta, embedder.name, embedder.dim,
                       advice="set LENS_MODEL to the index's model, or name other models with --model to embed the "
                              "sample with them in memory")


def stored_gallery(products: list[EvalProduct]) -> tuple[np.ndarray, list[int]]:
    """The index's image vectors of the products with a photo, and which product each row is."""
    members = [i for i, p in enumerate(products) if p.stored_image is not None]
    if not members:
        return np.zeros((0, 0), dtype=np.float32), []
    return np.stack([products[i].stored_image for i in members]), members


def embedded_gallery(products: list[EvalProduct], embedder, max_pixels: int,
                     batch_size: int = 32) -> tuple[np.ndarray, list[int]]:
    """Image vectors from another model for the products the index has a photo of, decoded now from the photo
    files; a photo that no longer decodes leaves its product out, counted as one without a photo."""
    wanted = [i for i, p in enumerate(products) if p.stored_image is not None and p.image_path]

    def load(i: int):
        return open_image(products[i].image_path, max_pixels, draft_size=embedder.image_size)

    members, parts = [], []
    for batch in embedder.stream_images(wanted, load, batch_size=batch_size):
        members.extend(batch.items)
        if len(batch):
            parts.append(batch.vectors)
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32), []
    return np.concatenate(parts), members


def evaluate(products: list[EvalProduct], gallery: np.ndarray, members: list[int], embedder) -> dict:
    """The issue's protocol on one model's gallery: title -> image, label -> product, zero-shot classification."""
    row = {product: r for r, product in enumerate(members)}
    titled = [i for i in members if products[i].title]
    title_to_image = None
    if titled:
        queries = embedder.encode_texts([products[i].title for i in titled])
        title_to_image = evaluation.single_relevant(queries, gallery, np.array([row[i] for i in titled]))
    label_to_product = {}
    for name in LABEL_FIELDS:
        labels = sorted({v for i in members for v in products[i].labels[name]})
        if not labels:
            label_to_product[name] = None  # the catalogue has no such field, or no photo carries it
            continue
        relevant = np.array([[label in products[i].labels[name] for i in members] for label in labels])
        label_to_product[name] = evaluation.multi_relevant(_texts(embedder, labels), gallery, relevant)
    zero_shot = {}
    for name in ZERO_SHOT_FIELDS:
        single = [i for i in members if len(products[i].labels[name]) == 1]  # a product with two labels is ambiguous
        labels = sorted({products[i].labels[name][0] for i in single})
        if not labels:
            zero_shot[name] = None
            continue
        truth = np.array([labels.index(products[i].labels[name][0]) for i in single])
        zero_shot[name] = evaluation.zero_shot(_texts(embedder, labels), gallery[[row[i] for i in single]], truth)
    return _rounded({"model": embedder.name, "products": len(products), "without_photo": len(products) - len(members),
                     "title_to_image": title_to_image, "label_to_product": label_to_product, "zero_shot": zero_shot})


def _texts(embedder, texts: list[str]) -> np.ndarray:
    return np.asarray(embedder.encode_texts(texts), dtype=np.float32).reshape(len(texts), -1)


def _rounded(value):
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def evaluate_models(meta: dict, embedders: list, products: list[EvalProduct], max_pixels: int,
                    batch_size: int = 32) -> list[dict]:
    """One result per model: the index's (meta: its metadata) from its stored image vectors, others in memory."""
    results = []
    for embedder in embedders:
        if same_model(meta, embedder.name, embedder.dim):
            gallery, members = stored_gallery(products)
        else:
            gallery, members = embedded_gallery(products, embedder, max_pixels, batch_size)
        results.append(evaluate(products, gallery, members, embedder))
    return results


ROWS = ([("title -> image", "title_to_image", None, m) for m in ("r@1", "r@10", "mrr")]
        + [(f"{f} -> product", "label_to_product", f, m) for f in LABEL_FIELDS for m in ("p@1", "p@10", "mrr")]
        + [(f"zero-shot {f}", "zero_shot", f, m) for f in ZERO_SHOT_FIELDS for m in ("accuracy", "macro_f1")])


def table(results: list[dict]) -> str:
    """The results as text: one row per metric, one column per model; '-' where a metric has nothing to measure."""
    def cell(result, group, name, metric):
        part = result[group] if name is None else (result[group] or {}).get(name)
        return "-" if part is None else f"{part[metric]:.3f}"

    names = [r["model"] if len(r["model"]) <= 28 else "..." + r["model"][-25:] for r in results]
    width = max(8, *(len(n) for n in names))
    lines = [f"{'':<34}" + "".join(f"{n:>{width + 2}}" for n in names)]
    for label, group, name, metric in ROWS:
        lines.append(f"{label + ' ' + metric:<34}" + "".join(f"{cell(r, group, name, metric):>{width + 2}}"
                                                            for r in results))
    for label, key in (("products", "products"), ("  without a photo (skipped)", "without_photo")):
        lines.append(f"{label:<34}" + "".join(f"{r[key]:>{width + 2},}" for r in results))
    return "\n".join(lines)
