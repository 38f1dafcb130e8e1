"""The indexer's keyword stage (issue 22): every point written carries its words (the sparse 'keywords' vector,
terms and lookup keys), a payload-only change re-tokenises, an unchanged product is never tokenised again, and an
index made before the keyword index gets its keyword vectors on the next run without a photo embedded again; on
both backends, and through the CLI."""

from __future__ import annotations

import pytest

import core.index.embed_stage
import core.index.indexer
import core.index.keyword_stage
from core.cli import main
from core.common.fields import LOOKUP_KEYS, PAYLOAD_HASH, TERMS
from core.curation.export import export_columns
from core.index.fingerprints import payload_hash
from core.index.indexer import Part, index_catalog
from core.index.keyword_stage import keyword_fields
from core.index.keywords import query_terms, query_weights, terms_in, tokens
from core.index.store import EdgeStore, Sparse, point_id
from core.ingest.catalog import CatalogFile
from tests.conftest import PRODUCTS, write_catalog

JEANS = ("7", "Men", "Apparel", "Bottomwear", "Jeans", "Blue", "Casual", "Levi's 501 Jeans")
ROWS = [*PRODUCTS, JEANS]
SKUS = {"1": "MG-100", "2": "NK-200", "3": "BT-300", "4": "FS-400", "5": "PM-500", "6": "RD-600",
        "7": "TS-0042-RED"}


def _catalog(folder, skus=SKUS, images=True):
    return write_catalog(folder, rows=ROWS, extra_header=["SKU"], extra_values={k: [v] for k, v in skus.items()},
                         images=images)


def _index(catalog, embedder, store, **kw):
    return index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4, **kw)


def _keyword_hits(store, text: str) -> list[str]:
    indices, values = query_weights(query_terms(text))
    return sorted(h.payload["product_id"] for h in store.query(Sparse(indices, values), limit=20))


def _has_keyword_vector(store, pid: str) -> bool:
    vector = store.retrieve([point_id(pid)], with_vectors=True)[0].vectors.get("keywords")
    return vector is not None and len(vector.indices) > 0


@pytest.fixture
def tokenised(monkeypatch):
    """The payloads the indexer tokenised (keyword_fields' calls), by product id."""
    calls = []
    real = core.index.keyword_stage.keyword_fields

    def counting(payload):
        calls.append(payload.get("product_id"))
        return real(payload)

    monkeypatch.setattr(core.index.keyword_stage, "keyword_fields", counting)
    return calls


@pytest.fixture
def decodes(monkeypatch):
    """Photos decoded while indexing (each one the model then embeds)."""
    seen = []
    real = core.index.embed_stage.decode_image
    monkeypatch.setattr(core.index.embed_stage, "decode_image",
                        lambda data, *a, **kw: seen.append(len(data)) or real(data, *a, **kw))
    return seen


def test_every_indexed_product_has_its_keyword_vector_terms_and_lookup_keys(tmp_path, embedder, store):
    catalog = _catalog(tmp_path / "c")
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.keywords_added) == (7, 0)
    assert all(_has_keyword_vector(store, pid) for pid, *_ in ROWS)
    payload = store.retrieve([point_id("7")])[0].payload
    # title, type, category, colour, SKU and id: stemmed, folded, distinct ("Levi's" is one word, "Jeans" is jean)
    assert payload[TERMS] == ["0042", "501", "7", "apparel", "blue", "bottomwear", "jean", "levi", "red", "ts"]
    assert payload[LOOKUP_KEYS] == ["7", "ts-0042-red"]
    document, keys = keyword_fields(payload)
    assert payload[TERMS] == list(document.terms) and keys[LOOKUP_KEYS] == ["7", "ts-0042-red"]
    stored = store.retrieve([point_id("7")], with_vectors=True)[0].vectors["keywords"]
    assert (list(stored.indices), [round(v, 5) for v in stored.values]) == \
        (list(document.indices), [round(v, 5) for v in document.values])
    # the keyword keys feed neither the payload hash (the catalogue's values alone) nor an export's columns
    read = next(p for p in CatalogFile(catalog, catalog.parent / "images").products() if p.product_id == "7")
    assert TERMS not in read.payload and payload[PAYLOAD_HASH] == payload_hash(read.payload)
    assert not {TERMS, LOOKUP_KEYS} & set(export_columns([payload]))
    schema = store.schema()  # no filter, facet or column kind of their own either
    assert not {TERMS, LOOKUP_KEYS} & {*schema.keyword, *schema.number, *schema.text, *schema.flags}
    assert store.keywords_complete is True and store.lacking_keyword_vectors() == 0
    assert _keyword_hits(store, "Levi's jeans") == ["7"]
    assert _keyword_hits(store, "red") == ["1", "7"]  # Mango's red dress, and the jeans' SKU


def test_an_unchanged_product_is_never_tokenised_again(tmp_path, embedder, store, tokenised):
    catalog = _catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    assert sorted(tokenised) == ["1", "2", "3", "4", "5", "6", "7"]
    tokenised.clear()
    report = _index(catalog, embedder, store)
    assert (report.unchanged, tokenised) == (7, [])
    rows = [list(r) for r in ROWS]
    rows[1][7] = "Nike Men Blue Polo T-shirt"  # its text changes: embedded again, and tokenised again
    write_catalog(catalog.parent, rows=[tuple(r) for r in rows], extra_header=["SKU"],
                  extra_values={k: [v] for k, v in SKUS.items()}, images=False)
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.unchanged, tokenised) == (1, 6, ["2"])
    assert "polo" in store.retrieve([point_id("2")])[0].payload[TERMS]
    assert _keyword_hits(store, "polo") == ["2"]


def test_a_payload_only_change_re_tokenises_its_product(tmp_path, embedder, store, tokenised, decodes):
    catalog = _catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    assert _keyword_hits(store, "quasar") == [] and _keyword_hits(store, "0042") == ["7"]
    tokenised.clear(), decodes.clear()
    _catalog(tmp_path / "c", {**SKUS, "7": "TS-QUASAR-NAVY"}, images=False)  # the SKU is no part of the text vector
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.updated, report.unchanged, tokenised, decodes) == (0, 1, 6, ["7"], [])
    payload = store.retrieve([point_id("7")])[0].payload
    assert {"quasar", "navi"} <= set(payload[TERMS]) and not {"0042", "red"} & set(payload[TERMS])
    assert payload[LOOKUP_KEYS] == ["7", "ts-quasar-navy"]
    # the sparse vector changed with the payload: the new words find it, the old ones no longer do
    assert _keyword_hits(store, "quasar") == ["7"] and _keyword_hits(store, "navy") == ["7"]
    assert _keyword_hits(store, "0042") == [] and _keyword_hits(store, "red") == ["1"]
    assert store.keywords_complete is True


@pytest.mark.parametrize("stopped_at", ["update_vectors", "overwrite_payload"])
def test_a_rewrite_stopped_between_its_writes_is_redone_by_the_next_run(tmp_path, embedder, store, monkeypatch,
                                                                         stopped_at):
    """The keyword vector is written before the payload that records the new words and hash: a run stopped between
    the two leaves the old hash, so the next run rewrites the product and its words match its vector again."""
    catalog = _catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    _catalog(tmp_path / "c", {**SKUS, "7": "TS-QUASAR-NAVY"}, images=False)

    class Stopped(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stopped()

    with monkeypatch.context() as patch:
        patch.setattr(store, stopped_at, stop)
        with pytest.raises(Stopped):
            _index(catalog, embedder, store)
    store.flush()
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.updated) == (0, 1)
    assert _keyword_hits(store, "quasar") == ["7"] and _keyword_hits(store, "0042") == []
    assert "quasar" in store.retrieve([point_id("7")])[0].payload[TERMS]


def _make_old(store) -> None:
    """Turn an index into one made before issue 22: no keyword vector in the collection, no keyword flags. Its
    points were written with the keyword stage left out (the caller indexes with it disabled), so none has one."""
    if store.backend == "embedded":
        from qdrant_edge import UpdateOperation

        store.shard.update(UpdateOperation.delete_vector_name("keywords"))
        store.shard.flush()
    else:
        store.client.delete_vector_name(store.collection, "keywords")
    store.update_meta(keyword_vectors=None, keywords_complete=None)
    store.flush()


def _without_keyword_stage(monkeypatch) -> None:
    """The indexer as it was before issue 22: points and rewrites written without their words."""
    monkeypatch.setattr(core.index.indexer, "add_keywords", lambda points: None)
    monkeypatch.setattr(core.index.indexer, "keyword_updates", lambda payloads, stored=None: {})
    monkeypatch.setattr(core.index.indexer, "add_missing_keywords", lambda *args: None)


def test_an_index_made_before_gets_its_keyword_vectors_without_embedding_a_photo(tmp_path, embedder, store,
                                                                                  monkeypatch, decodes, tokenised):
    catalog = _catalog(tmp_path / "c")
    with monkeypatch.context() as old:
        _without_keyword_stage(old)
        _index(catalog, embedder, store)
    _make_old(store)
    assert not any(TERMS in h.payload or LOOKUP_KEYS in h.payload for h in store.scroll())
    texts = []
    real = embedder.encode_texts
    monkeypatch.setattr(embedder, "encode_texts", lambda t, **kw: texts.append(len(t)) or real(t, **kw))
    decodes.clear(), tokenised.clear()

    store.ensure(embedder.name, embedder.dim)  # the sparse vector is added in place; the flag waits for the run
    assert (store.keywords_complete, store.lacking_keyword_vectors()) == (False, 7)
    report = _index(catalog, embedder, store)
    assert (report.indexed, report.updated, report.unchanged, report.keywords_added) == (0, 0, 7, 7)
    assert (decodes, texts, report.photo_counts["embedded"]) == ([], [], 0)  # no photo, no text embedded again
    assert sorted(tokenised) == ["1", "2", "3", "4", "5", "6", "7"]
    assert "keyword index: added to 7 products (no photo re-embedded)" in report.notes
    assert report.as_dict()["keywords_added"] == 7 and "keywords" in report.stages
    assert store.keywords_complete is True and store.lacking_keyword_vectors() == 0
    assert all(_has_keyword_vector(store, pid) for pid, *_ in ROWS)
    hit = store.retrieve([point_id("7")], with_vectors=True)[0]
    assert {"image", "text", "photos", "keywords"} <= set(hit.vectors)  # the photo's vectors kept beside it
    assert hit.payload[LOOKUP_KEYS] == ["7", "ts-0042-red"]
    assert _keyword_hits(store, "levi 501") == ["7"]

    tokenised.clear()
    again = _index(catalog, embedder, store)
    assert (again.keywords_added, tokenised, again.notes) == (0, [], [])


INCOMPLETE = ("keyword index: incomplete, some products still lack their keyword vector (another worker's part, or "
              "written by something other than this indexer); the next run adds them")


def test_each_worker_of_a_part_run_adds_keyword_vectors_to_its_own_part(tmp_path, embedder, store, monkeypatch):
    catalog = _catalog(tmp_path / "c")
    with monkeypatch.context() as old:
        _without_keyword_stage(old)
        _index(catalog, embedder, store)
    _make_old(store)
    first = _index(catalog, embedder, store, part=Part(0, 2))  # worker 0 owns six of the seven ids
    assert (first.keywords_added, first.indexed) == (6, 0)
    assert INCOMPLETE in first.notes and "keyword index: added to 6 products (no photo re-embedded)" in first.notes
    assert store.keywords_complete is False and store.lacking_keyword_vectors() == 1
    assert [pid for pid, *_ in ROWS if not _has_keyword_vector(store, pid)] == ["3"]
    second = _index(catalog, embedder, store, part=Part(1, 2))
    assert (second.keywords_added, INCOMPLETE in second.notes) == (1, False)
    assert store.keywords_complete is True and store.lacking_keyword_vectors() == 0


def test_an_older_index_through_the_cli_says_its_keyword_vectors_were_added(settings, tmp_path, embedder,
                                                                             monkeypatch, capsys):
    catalog = _catalog(tmp_path / "c")
    store = EdgeStore(settings.data_dir, settings.collection)
    with monkeypatch.context() as old:
        _without_keyword_stage(old)
        _index(catalog, embedder, store)
    _make_old(store)
    store.close()
    images = str(catalog.parent / "images")
    assert main(["index", "--catalog", str(catalog), "--images", images]) == 0
    out = capsys.readouterr().out
    assert "note: keyword index: added to 7 products (no photo re-embedded)" in out.splitlines()
    assert "0 indexed, 0 updated, 7 unchanged" in out and ", keywords " in out
    assert main(["index", "--catalog", str(catalog), "--images", images, "--json"]) == 0
    assert '"keywords_added": 0' in capsys.readouterr().out
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        assert store.keywords_complete is True and _keyword_hits(store, "TS-0042") == ["7"]
    finally:
        store.close()


@pytest.mark.parametrize("text", [
    "Levi's 501 Jeans", "LEVI`S  jeans__slim_fit", "TS-0042-RED ts-0042-red", "The Top of the Range, a must-have!",
    "x" * 41 + " kept " + "y" * 40, "don't'stop ''quoted'' 12'3", "Café Crème Brûlée, Levi’s", "ﬁne Straße İstanbul",
    "word " * 5000, "", "!!! ... ---", "a an and the"])
def test_tokens_are_the_stems_a_highlight_finds(text):
    # tokens() takes a shorter way for ASCII text (the indexer's keyword stage): the same stems as terms_in's
    assert tokens(text) == [t.stem for t in terms_in(text)]
