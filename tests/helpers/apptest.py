"""Driving a page with Streamlit's AppTest: start it for some settings, read what it shows and which products."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.models.embedder import load_embedder
from tests.conftest import ROOT

APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 60


def start(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def url(at: AppTest, key: str) -> list[str]:
    """All values of one query parameter after the run."""
    value = at.query_params.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def result_ids(at: AppTest) -> list[str]:
    """Product ids of the rendered result cards, in order (from their "More like this" buttons)."""
    return [b.key.split("-")[1] for b in at.button
            if b.key and b.key.startswith("results-") and b.key.endswith("-like")]


def expected_ids(settings, query: str = "", selection: tuple = ()) -> list[str]:
    """The answer worked out by hand, not by core.search.query: cosine of the query to every stored photo vector,
    best first (a selection's query is the normalised mean of its photo vectors, and it is left out)."""
    import numpy as np

    from app import resources

    store = resources.store(settings)  # the app's own cached store: an embedded shard opens once per process
    stored = {h.payload["product_id"]: np.asarray(h.vectors["image"]) for h in store.scroll(with_vectors=["image"])}
    if selection:
        vector = np.mean([stored[p] for p in selection], axis=0)
    else:
        vector = load_embedder(settings.model, "cpu").encode_texts([query])[0]
    vector = vector / np.linalg.norm(vector)
    scores = {p: float(np.dot(v / np.linalg.norm(v), vector)) for p, v in stored.items() if p not in selection}
    return sorted(scores, key=lambda p: -scores[p])


def shown(markdown: str) -> str:
    """The text a Markdown source displays: backslash escapes resolved, safe_text's word joiners dropped."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def explore(settings, with_map=True) -> AppTest:
    if with_map:
        from app import resources
        from core.map.build import compute_map

        compute_map(resources.store(settings), settings.data_dir, settings.collection)
    return start("pages/explore.py")


def select_on_map(at: AppTest, ids: list[str]) -> AppTest:
    """What a lasso selection on the Plotly chart sends back: points carrying the product id as customdata."""
    at.session_state["map"] = {"selection": {"points": [{"customdata": [p, ""]} for p in ids],
                                             "point_indices": list(range(len(ids))), "box": [], "lasso": []}}
    return at.run()


DUP_ROWS = ([(str(i), "Women", "Apparel", "Dress", "Dresses", "Red", "Party", f"Red dress {i}") for i in range(10, 18)]
            + [(f"{k}{j}", "Men", "Apparel", "Topwear", kind, colour, "Casual", f"{colour} {kind} {j}")
               for k, kind, colour in [(2, "Tshirts", "Blue"), (3, "Sandals", "Brown"), (4, "Watches", "Black"),
                                       (5, "Shorts", "Yellow"), (6, "Shirts", "White")] for j in (0, 1)])


def find_duplicates(at: AppTest, threshold: float = 0.9999) -> AppTest:
    at.slider(key="dup_threshold").set_value(threshold)
    at.button(key="dup_go").click().run()
    assert at.session_state["dup_job"].wait(30)
    return at.run()


def group_headings(at: AppTest) -> list[str]:
    return [shown(m.value) for m in at.markdown if m.value.startswith("**Group ")]
