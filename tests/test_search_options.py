"""The Search page's Options (issue 9, defect 8): only controls that apply, settings that reach the search, why an
option is off, and scores a merchandiser can read."""

from __future__ import annotations

import re

from tests.helpers.apptest import result_ids, start



def sliders(at) -> set[str]:
    return {s.key for s in at.slider}


def score_captions(at) -> list[str]:
    """The score part of each result card's caption ("" when it has none)."""
    score = re.compile(r"(rank \d+ · )?-?\d\.\d{3} similarity|rank \d+|")
    return [score.match(c.value).group(0) for c in at.caption if re.search(r"#\d+$", c.value)]


def test_rrf_hides_the_text_weight_it_would_ignore(indexed):
    weighted = start(q="dress", mode="hybrid", like="1")
    assert "w" in sliders(weighted)
    rrf = start(q="dress", mode="hybrid", like="1", fusion="rrf")
    assert not rrf.exception and "w" not in sliders(rrf)
    rrf.radio(key="fusion").set_value("weighted").run()
    assert "w" in sliders(rrf) and rrf.slider(key="w").value == 0.5


def test_diversity_slider_appears_with_diverse_and_reaches_the_search(indexed):
    at = start(q="dress")
    plain = result_ids(at)
    assert "diversity" not in sliders(at)
    at.toggle(key="diverse").set_value(True).run()
    assert at.slider(key="diversity").value == 0.5
    at.slider(key="diversity").set_value(0.0).run()
    assert result_ids(at) == plain  # diversity 0 is relevance order
    at.slider(key="diversity").set_value(1.0).run()
    varied = result_ids(at)
    assert sorted(varied) == sorted(plain) and varied != plain and varied[0] == plain[0]
    at.toggle(key="diverse").set_value(False).run()
    at.toggle(key="diverse").set_value(True).run()
    assert at.slider(key="diversity").value == 1.0  # remembered while hidden


def test_the_page_says_why_diverse_is_off_with_product_texts(indexed):
    at = start(q="dress", diverse="1", match="meaning")  # by words and meaning, MMR re-ranks the fused list
    assert not [c for c in at.caption if "Diverse results are off" in c.value]
    at.toggle(key="text_vectors").set_value(True).run()
    assert [c.value for c in at.caption if "Diverse results are off" in c.value] == [
        ":material/info: Diverse results are off: “also match product texts” ranks two lists by position, and "
        "diversity needs one similarity list. Turn that off to use it."]


def test_after_feedback_cards_show_the_rank_and_the_same_similarity_to_the_query(indexed):
    at = start(q="dress", match="meaning")  # ordered by similarity first (by words, a matched card says why instead)
    before = dict(zip(result_ids(at), score_captions(at)))
    assert all(re.fullmatch(r"-?\d\.\d{3} similarity", s) for s in before.values()), before
    disliked = result_ids(at)[0]
    at.button(key=f"results-{disliked}-down").click().run()
    after = dict(zip(result_ids(at), score_captions(at)))
    # The query did not change, so neither did each product's similarity to it; the order is the feedback's.
    assert list(after.values()) == [f"rank {i} · {before[p]}" for i, p in enumerate(after, 1)]
    assert set(after) == set(before) - {disliked}


def test_fused_lists_show_the_rank_not_the_rrf_score(indexed):
    at = start(q="dress", mode="hybrid", like="1", fusion="rrf", min="0.05")
    assert score_captions(at) == [f"rank {i}" for i in range(1, len(result_ids(at)) + 1)]
