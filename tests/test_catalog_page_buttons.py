"""The Catalog page's two indexing buttons honour the same "Rebuild" and "prune" checkboxes: the sample button too."""

from __future__ import annotations

import pytest

from core.common.errors import LensError
from tests.helpers.apptest import shown, start

SPIED = "stopped by the test after the call was seen"


@pytest.mark.parametrize("box, flag", [("idx_recreate", "recreate"), ("idx_prune", "prune")])
def test_the_sample_button_passes_a_ticked_checkbox_to_the_indexer(indexed, monkeypatch, box, flag):
    import core.index.indexer

    calls = []

    def spy(*args, **kwargs):  # the indexer's entry point: what reached it, then stop (no need to index 320 products)
        calls.append(kwargs)
        raise LensError(SPIED)

    monkeypatch.setattr(core.index.indexer, "index_catalog", spy)
    at = start("pages/catalog.py")
    at.checkbox(key=box).check().run()
    at.button(key="idx_sample").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [SPIED]  # the spy ran: the click did reach the indexer
    other = {"recreate": "prune", "prune": "recreate"}[flag]
    assert [(c[flag], c[other]) for c in calls] == [(True, False)]
