"""What the Explore and Gaps pages share about reference catalogues: listing them, picking one, opening one for
a read, and the matching options the Gaps page last chose (the Explore overlay judges as the Gaps page does).

Reference stores are opened only while they are read and closed at once: an embedded store is one process's at a
time (an OS lock), and a reader held for the server's life would refuse the next `add` of the same reference.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import streamlit as st

from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.index.store import ProductStore, point_id

# "Match within the same": their product is matched only with ours of the same value of one of these.
SAME_FIELDS = ("category", "sub_category", "product_type", "gender", "colour", "usage")
SAVED_THRESHOLD = "gaps_saved_threshold"  # the last threshold chosen on the Gaps page, kept for the Explore overlay
SAVED_SAME = "gaps_saved_same"  # the last "match within the same" field chosen ("": anything), likewise


@st.cache_data(ttl=5, show_spinner=False)
def _references(data_dir: str, collection: str, qdrant_url: str, _config: Settings) -> list:
    from core.insights.reference import list_references

    return list_references(_config)


def references(config: Settings) -> list:
    """The reference catalogues of our collection (ReferenceInfo), read at most every 5 s (a `reference add` or
`remove` from the CLI shows at the next rerun after that), [] on an error."""
    try:
        return _references(str(config.data_dir), config.collection, config.qdrant_url or "", config)
    except LensError as exc:
        st.error(md(f"The reference catalogues cannot be listed: {exc}"))
        return []


def forget_listing() -> None:
    """Read the list again at the next call: one was added from this app."""
    _references.clear()


def pick_reference(found: list, key: str = "gaps_reference", label: str = "Reference catalogue",
                   none: str | None = None) -> str | None:
    """A selectbox of reference names ('none' first when `none` names it); None when nothing is chosen."""
    names = [r.name for r in found]
    if not names:
        return None
    options = ([""] if none else []) + names
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    by_name = {r.name: r for r in found}

    def label_of(name: str) -> str:
        if not name:
            return none or ""
        return f"{name} ({by_name[name].products:,} products)"  # check_name allows only [a-z0-9_-]

    chosen = st.selectbox(label, options, key=key, format_func=label_of)
    return chosen or None


def info_of(found: list, name: str):
    """The ReferenceInfo named `name` among those listed, or None."""
    return next((r for r in found if r.name == name), None)


def stamp_of(config: Settings, name: str):
    """When the reference was last indexed (a cache key for what is computed from it); None when not listed."""
    info = info_of(references(config), name)
    return info.last_indexed if info else None


@contextmanager
def opened(config: Settings, name: str) -> Iterator[ProductStore]:
    """The reference's store, open for the block's reads only (see the module's note)."""
    from core.insights.reference import open_reference

    theirs = open_reference(config, name)
    try:
        yield theirs
    finally:
        theirs.close()


def their_vector(config: Settings, name: str, their_id: str) -> tuple[list[float], str] | None:
    """Their product's stored vector (photo, else text) and its space, read from the reference collection."""
    with opened(config, name) as theirs:
        found = theirs.retrieve([point_id(their_id)], with_vectors=True)
    if not found:
        return None
    vectors = found[0].vectors
    using = "image" if vectors.get("image") is not None else "text"
    return ([float(x) for x in vectors[using]], using) if vectors.get(using) is not None else None
