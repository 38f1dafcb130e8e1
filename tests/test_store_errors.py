"""Engine errors become StoreErrors for every public store method, listed nowhere; domain errors pass unchanged."""

from __future__ import annotations

import pytest

from core.common.errors import NotIndexed, StoreError
from core.index.store import EdgeStore, ServerStore


class EngineFault(Exception):
    """What an engine or client library raises: not one of ours."""


class ProbedEdgeStore(EdgeStore):
    """An embedded store with public methods that no list of method names could know about."""

    def tally(self) -> int:
        raise EngineFault("segment 7 is unreadable")

    def walk(self):
        yield "first"
        raise EngineFault("the scroll cursor expired")

    def domain(self) -> None:
        raise NOT_INDEXED

    @property
    def gauge(self) -> int:  # a property is not a method: left as it is
        raise EngineFault("read from a property")


NOT_INDEXED = NotIndexed("there is no index yet")


def test_a_public_method_added_to_a_subclass_has_its_engine_errors_wrapped(tmp_path):
    store = ProbedEdgeStore(tmp_path)
    with pytest.raises(StoreError) as err:
        store.tally()
    assert str(err.value) == "embedded store failed (tally): segment 7 is unreadable"
    assert isinstance(err.value.__cause__, EngineFault)


def test_a_generator_method_added_to_a_subclass_wraps_the_error_it_raises_mid_iteration(tmp_path):
    walk = ProbedEdgeStore(tmp_path).walk()
    assert next(walk) == "first"
    with pytest.raises(StoreError, match=r"^embedded store failed \(walk\): the scroll cursor expired$"):
        next(walk)


def test_a_domain_error_passes_through_unchanged(tmp_path):
    with pytest.raises(NotIndexed) as err:
        ProbedEdgeStore(tmp_path).domain()
    assert err.value is NOT_INDEXED


def test_properties_and_the_error_explainer_are_not_wrapped(tmp_path):
    store = ProbedEdgeStore(tmp_path)
    with pytest.raises(EngineFault):
        store.gauge
    assert store.explain(EngineFault("as text")) == "as text"


def test_inherited_public_methods_are_wrapped_in_each_store(tmp_path):
    store = ServerStore.connect(":memory:")
    store.client.close = lambda: None

    def fails(*args, **kwargs):
        raise EngineFault("the server went away")

    store.client.scroll = fails  # scroll's paging is the base class's, the page read the server's
    with pytest.raises(StoreError, match=r"^server \(:memory:\) store failed \(scroll\): the server went away$"):
        list(store.scroll())
    store.client.create_collection = fails  # ensure is written once, in the base class; the engine call it makes
    with pytest.raises(StoreError, match=r"^server \(:memory:\) store failed \(ensure\): the server went away$"):
        store.ensure("hand-made", 4)
    store.close()
