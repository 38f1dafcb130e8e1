"""Indexing on both store backends: happy path, incremental runs, bad images, prune, interruption, model changes."""

import io

import numpy as np
import pytest
from PIL import Image

from core.common.errors import ModelMismatch
from core.index.indexer import index_catalog
from core.index.store import point_id
from tests.conftest import PRODUCTS, write_catalog


def _index(catalog, embedder, store, **kw):
    return index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4, **kw)


def test_happy_path_indexes_every_product_with_both_vectors(catalog, embedder, store):
    report = _index(catalog, embedder, store)
    assert (report.total, report.indexed, report.unchanged, report.text_only, report.failed) == (6, 6, 0, 0, [])
    assert store.count() == 6
    hit = store.retrieve([point_id("1")], with_vectors=True)[0]
    assert hit.payload["title"] == "Mango Women Red Dress" and hit.payload["price"] == 10.0
    assert hit.payload["text_only"] is False
    # issue 21: beside the hero's and the text's vectors, the photos multivector; its one row is the hero's vector;
    # issue 22: and the keyword index's sparse vector
    assert set(hit.vectors) == {"image", "text", "photos", "keywords"}
    assert np.allclose(hit.vectors["photos"], [hit.vectors["image"]], atol=1e-6)
    for vector in (hit.vectors["image"], hit.vectors["text"]):
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
    image = Image.open(catalog.parent / "images/Apparel/1.jpg").convert("RGB")
    assert np.allclose(hit.vectors["image"], embedder.encode_images([image])[0], atol=2e-2)
    meta = store.meta()
    assert meta["model"] == embedder.name and meta["dim"] == embedder.dim and meta["last_indexed"]


def test_second_run_embeds_nothing(catalog, embedder, store, monkeypatch):
    _index(catalog, embedder, store)
    calls = []
    real = embedder.encode_texts
    monkeypatch.setattr(embedder, "encode_texts", lambda texts, **kw: calls.append(len(texts)) or real(texts, **kw))
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.unchanged) == (0, 6)
    assert calls == []
    assert store.count() == 6


def test_changed_title_and_changed_image_are_re_embedded_only(catalog, embedder, store):
    _index(catalog, embedder, store)
    text = catalog.read_text().replace("Nike Men Blue T-shirt", "Nike Men Blue Polo T-shirt")
    catalog.write_text(text)
    Image.new("RGB", (50, 50), (0, 255, 0)).save(catalog.parent / "images/Footwear/3.jpg")
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.unchanged) == (2, 4)
    assert store.retrieve([point_id("2")])[0].payload["title"] == "Nike Men Blue Polo T-shirt"


def test_bad_images_are_indexed_text_only_with_reasons(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    images = tmp_path / "c/images"
    (images / "Apparel/1.jpg").write_bytes(b"")                                   # zero bytes
    (images / "Apparel/2.jpg").write_bytes(b"<html>not an image</html>")          # non-image
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, "JPEG")
    (images / "Footwear/3.jpg").write_bytes(good.getvalue()[:150])                 # truncated
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, "PNG")
    (images / "Accessories/4.jpg").write_bytes(bomb.getvalue())                    # decompression bomb
    (images / "Apparel/5.jpg").unlink()                                            # missing
    report = _index(catalog, embedder, store)
    assert (report.total, report.indexed, report.text_only) == (6, 6, 5)
    assert store.count() == 6
    reasons = {p.product_id: p.reason for p in report.failed}
    assert set(reasons) == {"1", "2", "3", "4", "5"}
    assert "empty (0 bytes)" in reasons["1"]
    assert "not an image file" in reasons["2"]
    assert "corrupt or truncated" in reasons["3"]
    assert "above the 40 MP cap" in reasons["4"]
    assert "image file not found" in reasons["5"]
    assert all(r.startswith("indexed text-only: ") for r in reasons.values())
    hit = store.retrieve([point_id("1")], with_vectors=True)[0]
    assert set(hit.vectors) == {"text", "keywords"} and hit.payload["text_only"] is True
    # The next run changes nothing but still reports the same text-only rows.
    again = _index(catalog, embedder, store)
    assert (again.indexed, again.unchanged, again.text_only) == (0, 6, 5)
    assert {p.product_id: p.reason for p in again.failed} == reasons


def test_fixed_image_is_picked_up_on_the_next_run(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    path = tmp_path / "c/images/Apparel/1.jpg"
    good = path.read_bytes()
    path.write_bytes(b"")
    assert _index(catalog, embedder, store).text_only == 1
    path.write_bytes(good)
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.text_only) == (1, 0)
    assert set(store.retrieve([point_id("1")], with_vectors=True)[0].vectors) == {"image", "text", "photos",
                                                                                  "keywords"}


def test_prune_deletes_only_products_gone_from_the_csv(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    write_catalog(tmp_path / "c", rows=PRODUCTS[:4])
    kept = _index(catalog, embedder, store)
    assert (kept.pruned, store.count()) == (0, 6)
    pruned = _index(catalog, embedder, store, prune=True)
    assert (pruned.pruned, store.count()) == (2, 4)
    assert store.retrieve([point_id("5"), point_id("6")]) == []


def test_interrupted_run_keeps_written_batches_and_resumes(catalog, embedder, store):
    def interrupt_after_first_batch(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _index(catalog, embedder, store, progress=interrupt_after_first_batch)
    assert store.count() == 4
    resumed = _index(catalog, embedder, store)
    assert (resumed.indexed, resumed.unchanged) == (2, 4)
    assert store.count() == 6


def test_other_model_is_refused_until_recreate(catalog, embedder, store):
    _index(catalog, embedder, store)
    store.update_meta(model="another-model")
    with pytest.raises(ModelMismatch, match="--recreate"):
        _index(catalog, embedder, store)
    report = _index(catalog, embedder, store, recreate=True)
    assert (report.indexed, store.count(), store.meta()["model"]) == (6, 6, embedder.name)


def test_progress_callback_reports_each_batch(catalog, embedder, store):
    seen = []
    _index(catalog, embedder, store, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 6), (4, 6), (6, 6)]


def test_stray_quote_never_lets_prune_delete_products(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    lines = catalog.read_text().splitlines()
    lines[2] = lines[2].replace("Nike Men", '"Nike Men', 1)  # an unclosed quote swallows every later row
    catalog.write_text("\n".join(lines) + "\n")
    report = _index(catalog, embedder, store, prune=True)
    assert report.pruned == 0 and store.count() == 6
    assert report.warnings and "--prune skipped" in report.warnings[0]


def test_attribute_change_outside_the_text_rewrites_the_payload_without_embedding(tmp_path, embedder, store,
                                                                                   monkeypatch):
    values = {r[0]: ["10"] for r in PRODUCTS}
    catalog = write_catalog(tmp_path / "c", extra_header=["Price"], extra_values=values)
    _index(catalog, embedder, store)
    before = store.retrieve([point_id("3")], with_vectors=True)[0]
    write_catalog(tmp_path / "c", extra_header=["Price"], extra_values=dict(values, **{"3": ["99"]}), images=False)
    monkeypatch.setattr(embedder, "encode_texts", lambda *a, **k: pytest.fail("nothing should be embedded"))
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.updated, report.unchanged) == (0, 1, 5)
    after = store.retrieve([point_id("3")], with_vectors=True)[0]
    assert after.payload["price"] == 99.0 and after.payload["fingerprint"] == before.payload["fingerprint"]
    assert np.allclose(after.vectors["image"], before.vectors["image"])


def test_recreate_refuses_while_another_process_holds_the_embedded_index(tmp_path, catalog, embedder):
    from core.common.errors import StoreError
    from core.index.store import EdgeStore

    holder = EdgeStore(tmp_path / "shared")
    _index(catalog, embedder, holder)
    other = EdgeStore(tmp_path / "shared")
    with pytest.raises(StoreError, match="open in another process"):
        _index(catalog, embedder, other, recreate=True)
    assert holder.count() == 6  # nothing was deleted under the holder
    holder.close()
    assert _index(catalog, embedder, other, recreate=True).indexed == 6
    other.close()


def test_recreate_recovers_from_unreadable_metadata(tmp_path, catalog, embedder):
    from core.common.errors import StoreError
    from core.index.store import EdgeStore

    store = EdgeStore(tmp_path / "s")
    _index(catalog, embedder, store)
    store.close()
    (tmp_path / "s/products/lens.json").write_text("{not json")
    with pytest.raises(StoreError, match="--recreate"):
        _index(catalog, embedder, EdgeStore(tmp_path / "s"))
    fresh = EdgeStore(tmp_path / "s")
    assert _index(catalog, embedder, fresh, recreate=True).indexed == 6
    fresh.close()


def test_missing_images_folder_is_a_clear_error(catalog, embedder, store, tmp_path):
    from core.common.errors import CatalogError

    with pytest.raises(CatalogError, match="images folder not found"):
        index_catalog(catalog, tmp_path / "nope", embedder, store)
