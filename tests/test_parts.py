"""`index --part i/n` (old name `--shard`): workers share a catalogue with no overlap and no gap; prune is refused
with a part."""

import subprocess
import sys

import pytest

from core.common.errors import CatalogError
from core.index.indexer import Part, index_catalog
from core.index.store import ServerStore
from tests.conftest import ROOT, write_catalog


def test_parts_partition_product_ids_with_no_overlap_and_no_gap():
    ids = [f"SKU-{i}" for i in range(5000)] + ["", "ü-ñ", "a" * 300]
    for count in (1, 2, 3, 8):
        owners = [[i for i in range(count) if Part(i, count).owns(pid)] for pid in ids]
        assert all(len(o) == 1 for o in owners)
        if count > 1:  # a fair split: every worker gets its share, within 10 %
            sizes = [sum(o == [i] for o in owners) for i in range(count)]
            assert max(sizes) < 1.1 * len(ids) / count < 1.2 * min(sizes)


def test_the_share_does_not_depend_on_the_process():
    """A stable hash, not Python's salted hash(): two processes must agree on every worker's share."""
    code = "from core.index.indexer import Part; print([Part(1, 3).owns(f'p{i}') for i in range(200)])"
    runs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and "True" in runs.pop()


@pytest.mark.parametrize("text", ["", "1", "2/2", "-1/2", "a/b", "1/0", "1/2/3"])
def test_bad_part_arguments_say_what_is_expected(text):
    with pytest.raises(CatalogError, match="i/n with 0 <= i < n"):
        Part.parse(text)


def test_workers_together_index_exactly_the_catalogue_into_one_store(tmp_path, embedder):
    rows = [(str(i), "Women", "Apparel", "Dress", "Dresses", "Red", "Party", f"Dress {i}") for i in range(40)]
    catalog = write_catalog(tmp_path / "c", rows=rows)
    store = ServerStore.connect(":memory:")  # one shared store, as a cluster would be
    reports = [index_catalog(catalog, catalog.parent / "images", embedder, store, part=Part(i, 3))
               for i in range(3)]
    assert sum(r.indexed for r in reports) == 40 and all(r.indexed + r.other_parts == 40 for r in reports)
    assert all(0 < r.indexed < 40 for r in reports)
    # --json names it other_parts, and still other_shards for scripts written before --part
    assert [(r.as_dict()["other_parts"], r.as_dict()["other_shards"]) for r in reports] == [
        (40 - r.indexed, 40 - r.indexed) for r in reports]
    stored = sorted(h.payload["product_id"] for h in store.scroll(payload_keys=["product_id"]))
    assert stored == sorted(str(i) for i in range(40))
    again = index_catalog(catalog, catalog.parent / "images", embedder, store)  # without a part: nothing to do
    assert (again.unchanged, again.indexed) == (40, 0)
    with pytest.raises(CatalogError, match="--prune cannot run with --part"):
        index_catalog(catalog, catalog.parent / "images", embedder, store, part=Part(0, 3), prune=True)
    with pytest.raises(CatalogError, match="--recreate cannot run with --part"):
        index_catalog(catalog, catalog.parent / "images", embedder, store, part=Part(2, 3), recreate=True)
    assert store.count() == 40  # nothing dropped
    store.close()


@pytest.mark.parametrize("flag", ["--part", "--shard"])  # --shard: the old name, still accepted
def test_the_cli_refuses_prune_with_a_part_before_loading_the_model(tmp_path, flag):
    catalog = write_catalog(tmp_path / "c")
    out = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog), flag, "0/2",
                          "--prune"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "", "LENS_DATA_DIR": str(tmp_path / "d"), "LENS_MODEL": str(tmp_path / "none")})
    assert out.returncode == 2 and "--prune cannot run with --part" in out.stderr and "Traceback" not in out.stderr
