"""Page tests with Streamlit's AppTest, the tiny offline CLIP and a small catalogue indexed in a temp data dir."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.curation.boards import BoardStore
from core.curation.export import board_csv
from tests.conftest import PRODUCTS, write_catalog
from tests.helpers.apptest import (
    TIMEOUT, explore as _explore, select_on_map as _select, expected_ids, find_duplicates, group_headings,
    result_ids, shown, start, url
)

ROOT = Path(__file__).resolve().parent.parent
GENDER = {p[0]: p[1] for p in PRODUCTS}


def test_first_run_shows_the_empty_state_and_indexes_the_sample_in_one_click(app_settings):
    at = start()
    assert any("no index yet" in i.value for i in at.info)
    at.button(key="search-sample").click().run()
    assert not at.exception
    assert at.text_input(key="q") is not None
    at.switch_page("pages/catalog.py").run()
    assert {m.label: m.value for m in at.metric}["Products"] == "320"


def test_every_page_renders_the_empty_state_without_errors(app_settings):
    for page in ("pages/catalog.py", "pages/boards.py", "pages/explore.py"):
        at = start(page)
        assert not at.error, page


def test_text_search_renders_results_in_engine_order(indexed):
    at = start(match="meaning")  # CLIP's order alone (by words, product 1 holding "red" and "dress" comes first)
    at.text_input(key="q").input("red dress").run()
    assert not at.exception
    assert result_ids(at) == expected_ids(indexed, "red dress")[:6]
    assert len(result_ids(at)) == 6
    assert url(at, "q") == ["red dress"]


def test_filter_removes_non_matching_results(indexed):
    at = start(q="dress")
    assert {GENDER[p] for p in result_ids(at)} == {"Women", "Men", "Girls"}
    at.sidebar.multiselect(key="f_gender").select("Men").run()
    assert result_ids(at) and {GENDER[p] for p in result_ids(at)} == {"Men"}
    assert url(at, "gender") == ["Men"]
    # the option's label is the value itself (a label with a live count became a new value: issue 9, 1);
    # the counts are in the line under the filter, the chosen value first
    assert at.sidebar.multiselect(key="f_gender").format_func("Men") == "Men"
    assert "**Men 3** · Women 2 · Girls 1" in [c.value for c in at.sidebar.caption]


def test_more_like_this_changes_the_query(indexed):
    at = start(q="dress")
    first = result_ids(at)[0]
    at.button(key=f"results-{first}-like").click().run()
    assert at.session_state["like"] == first and at.session_state["mode"] == "image"
    assert first not in result_ids(at) and len(result_ids(at)) == 5
    assert url(at, "like") == [first] and url(at, "mode") == ["image"]


def test_feedback_is_shown_and_can_be_reset(indexed):
    at = start(q="dress")
    liked = result_ids(at)[1]
    at.button(key=f"results-{liked}-up").click().run()
    assert at.session_state["likes"] == [liked] and liked not in result_ids(at)
    assert any(f":material/thumb_up: {liked}" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Reset feedback"][0].click().run()
    assert at.session_state["likes"] == [] and liked in result_ids(at)


def test_add_to_board_and_export_gives_the_right_csv(indexed):
    at = start(q="dress", match="meaning")  # each card's score line leads with the similarity the board keeps
    at.sidebar.text_input(key="new_board_name").input("Summer picks")
    at.sidebar.button[0].click().run()
    ids = result_ids(at)
    scores = {p: c.value for p in ids for c in at.caption if c.value.endswith(f"#{p}")}
    for pid in ids[:2]:
        at.button(key=f"results-{pid}-board").click().run()
    boards = BoardStore(indexed.data_dir / "boards")
    (board,) = boards.list()
    assert board.name == "Summer picks" and [i.product_id for i in board.items] == ids[:2]
    rows = list(csv.DictReader(io.StringIO(board_csv(board).encode("utf-8").decode("utf-8-sig"))))  # as Excel reads it
    by_id = {p[0]: p for p in PRODUCTS}
    assert [r["product_id"] for r in rows] == ids[:2]
    for row in rows:
        product = by_id[row["product_id"]]
        assert (row["gender"], row["category"], row["colour"], row["title"]) == \
            (product[1], product[2], product[5], product[7])
        assert scores[row["product_id"]].startswith(f"{float(row['score']):.3f}")
    at.switch_page("pages/boards.py").run()
    assert not at.exception
    assert at.download_button(key="board_export").label == "Export CSV"
    assert [b.key for b in at.button if b.label == "Remove"] == [f"board-{p}" for p in ids[:2]]


@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"this is not an image", "not an image file"),
    ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 50, "not an image file"),
    ("empty.webp", b"", "empty"),
    ("huge.png", "bomb", "above the 40 MP cap"),
])
def test_bad_upload_shows_an_error_and_the_page_keeps_working(indexed, name, content, message):
    if content == "bomb":  # 81 megapixels in a few kilobytes: refused before decoding
        from PIL import Image

        buf = io.BytesIO()
        Image.new("1", (9000, 9000)).save(buf, "PNG")
        content = buf.getvalue()
    at = start(mode="image")
    at.file_uploader(key="upload").upload(name, content, "image/png").run()
    assert not at.exception
    assert any(message in shown(e.value) for e in at.error)
    at.segmented_control(key="mode").set_value("text").run()
    at.text_input(key="q").input("dress").run()
    assert not at.exception and len(result_ids(at)) == 6


def test_good_upload_searches_by_image(indexed, tmp_path):
    photo = (tmp_path / "cat/images/Apparel/1.jpg").read_bytes()
    at = start(mode="image")
    at.file_uploader(key="upload").upload("query.jpg", photo, "image/jpeg").run()
    assert not at.exception and result_ids(at)[0] == "1"


def test_query_params_round_trip(indexed):
    at = start(q="red dress", mode="hybrid", w="0.3", fusion="rrf", gender=["Women", "Girls"], diverse="1")
    assert at.session_state["q"] == "red dress" and at.session_state["mode"] == "hybrid"
    assert at.session_state["w"] == 0.3 and at.session_state["fusion"] == "rrf"
    assert at.session_state["f_gender"] == ["Women", "Girls"] and at.session_state["diverse"] is True
    assert url(at, "q") == ["red dress"] and url(at, "gender") == ["Women", "Girls"]
    assert url(at, "w") == ["0.3"] and url(at, "fusion") == ["rrf"]


def test_garbage_query_params_fall_back_to_defaults(indexed):
    at = start(q="dress", mode="telepathy", w="9", gender=["Nobody"])
    assert not at.exception and at.session_state["mode"] == "text" and at.session_state["w"] == 0.5
    assert result_ids(at) == []  # the unknown gender matches nothing, and says so
    assert any("No products match" in w.value for w in at.warning)


def test_catalog_page_shows_status_and_near_duplicates(indexed):
    at = start("pages/catalog.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Products"] == "6" and metrics["Backend"] == "embedded"
    # Issue 9 (5): a group is a heading with counts, never a list of every id (exact groups: the DUP_ROWS tests).
    at.slider(key="dup_threshold").set_value(0.8).run()
    at.button(key="dup_go").click().run()
    assert at.session_state["dup_job"].wait(30)
    at.run()
    assert not at.exception
    headings = [m.value for m in at.markdown if m.value.startswith("**Group ")]
    assert headings and all(" products** · " in h for h in headings)


def test_catalog_page_reports_failed_rows(indexed, tmp_path):
    catalog = write_catalog(tmp_path / "more")
    with open(catalog, "a") as fh:
        fh.write("2,Men,Apparel,Topwear,Tshirts,Blue,Casual,Dup,2.jpg,\n")
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog))
    at.button(key="idx_go").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # Same products from another folder: vectors still valid, image paths changed, so payloads are rewritten.
    assert (metrics["Failed"], metrics["Updated"], metrics["Unchanged"], metrics["Indexed"]) == ("1", "6", "0", "0")
    assert "duplicate ProductId 2" in at.dataframe[-1].value.to_string()  # after the mapping step's preview


def test_catalog_page_rejects_a_missing_csv(indexed):
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input("/no/such/file.csv")
    at.button(key="idx_go").click().run()
    assert any("catalogue file not found: /no/such/file.csv" in shown(e.value) for e in at.error)


def test_explore_offers_to_compute_the_map_then_draws_it(indexed):
    at = _explore(indexed, with_map=False)
    assert any("no map" in i.value for i in at.info)
    at.button(key="map_update").click().run()
    assert not at.exception and not at.info
    assert [e.key for e in at.get("plotly_chart")] == ["map"]
    assert any("Lasso" in c.value for c in at.caption)


def test_explore_renders_stored_coordinates_without_computing(indexed, monkeypatch):
    import core.map.build
    from app import resources
    from core.common.errors import StoreError

    core.map.build.compute_map(resources.store(indexed), indexed.data_dir, indexed.collection)
    calls = []

    def failing_compute(*args, **kwargs):
        calls.append(args)
        raise StoreError("the map could not be computed")

    monkeypatch.setattr(core.map.build, "compute_map", failing_compute)
    at = start("pages/explore.py")
    assert not at.exception and not at.error and not at.info
    assert calls == [] and [e.key for e in at.get("plotly_chart")] == ["map"]  # drawn from the stored map
    at.button(key="map_refit").click().run()  # the one path that computes: the patch is live, its error shown
    assert len(calls) == 1 and not at.exception
    assert [e.value for e in at.error] == ["the map could not be computed"]


def test_selection_opens_a_gallery_and_exports_the_selected_ids(indexed, monkeypatch):
    import core.curation.export

    exported = []
    real = core.curation.export.selection_csv
    monkeypatch.setattr(core.curation.export, "selection_csv", lambda results: exported.append(real(results)) or exported[-1])
    at = _select(_explore(indexed), ["3", "1"])
    assert not at.exception
    assert [s.value for s in at.subheader] == ["2 selected"]
    assert [c.value.rsplit("#", 1)[1] for c in at.caption if "#" in c.value] == ["3", "1"]  # the gallery cards
    rows = list(csv.DictReader(io.StringIO(exported[-1].removeprefix("\ufeff"))))  # the BOM is for Excel
    assert [r["product_id"] for r in rows] == ["3", "1"]
    assert rows[0]["title"] == "Bata Women Brown Sandal"


def test_look_alikes_of_a_selection_open_the_search_page(indexed):
    at = _select(_explore(indexed), ["3", "1"])
    at.button(key="map_lookalike").click().run()
    assert not at.exception
    assert at.session_state["selection"] == ["3", "1"] and at.session_state["mode"] == "image"
    ids = result_ids(at)
    assert ids and not {"1", "3"} & set(ids)
    assert ids == expected_ids(indexed, selection=("3", "1"))[:len(ids)]


def test_add_whole_selection_to_a_board(indexed):
    boards = BoardStore(indexed.data_dir / "boards")
    boards.create("Picks")
    at = _select(_explore(indexed), ["2", "4"])
    at.button(key="map_add_all").click().run()
    assert [i.product_id for i in boards.list()[0].items] == ["2", "4"]


def test_search_survives_a_visit_to_another_page(indexed):
    at = start(q="dress")
    first = result_ids(at)
    at.switch_page("pages/boards.py").run()
    at.switch_page("pages/search.py").run()
    assert at.text_input(key="q").value == "dress" and result_ids(at) == first


def test_selection_keeps_only_products_that_pass_the_filters_and_still_exist(indexed):
    from app import resources

    at = _explore(indexed)
    at.sidebar.multiselect(key="f_gender").select("Women").run()  # Women: 1 and 3
    resources.store(indexed).delete([__import__("core.index.store", fromlist=["point_id"]).point_id("3")])
    _select(at, ["1", "2", "3"])  # 2 is greyed out (Men), 3 was deleted since the map was made
    assert not at.exception
    assert [s.value for s in at.subheader] == ["1 selected"]
    at.button(key="map_lookalike").click().run()
    assert at.session_state["selection"] == ["1"] and not at.error


def test_catalog_page_indexes_an_uploaded_csv_with_its_images_folder(app_settings, tmp_path):
    catalog = write_catalog(tmp_path / "upload")
    at = start("pages/catalog.py")
    at.file_uploader(key="idx_upload").upload("styles.csv", catalog.read_bytes(), "text/csv")
    at.text_input(key="idx_images").input(str(tmp_path / "upload/images"))
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("6", "0", "0")
    assert (app_settings.data_dir / "uploads/styles.csv").read_bytes() == catalog.read_bytes()


class _Upload(io.BytesIO):
    """Stands in for Streamlit's UploadedFile (a BytesIO with a name): what saved_upload reads in chunks."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name = name


@pytest.mark.parametrize("name, saved_as", [
    ("", "upload.csv"), (".", "upload.csv"), ("..", "upload.csv"),
    ("a" * 300, "a" * 100), ("b" * 300 + ".csv", "b" * 96 + ".csv"),
    ("../../boards/x.json", "x.json"), ("..\\..\\styles.csv", "styles.csv"), (".hidden.csv", "hidden.csv"),
    ("my styles (2024).csv", "my styles _2024_.csv"), ("é" * 300 + ".csv", "é" * 48 + ".csv"),
])
def test_uploaded_csv_is_saved_under_a_safe_name_inside_the_uploads_folder(settings, name, saved_as):
    from app.upload_saver import saved_upload

    path = saved_upload(_Upload(name, b"id,title\n1,Dress\n"), settings)
    assert path == settings.data_dir / "uploads" / saved_as
    assert path.read_bytes() == b"id,title\n1,Dress\n"
    assert [p.name for p in (settings.data_dir / "uploads").iterdir()] == [saved_as]


def test_a_link_cannot_put_markdown_on_the_page(indexed):
    """`like` comes from a shared URL: its value is shown escaped, as text, wherever it appears."""
    from core.common.safe_text import md

    hostile = "![t](http://127.0.0.1:9/track.png)"
    at = start(mode="image", like=hostile)
    assert [i.value for i in at.info] == [f"Looking like product {md('#' + hostile)}"]
    assert shown(at.info[0].value) == f"Looking like product #{hostile}"
    assert all(hostile not in e.value for e in at.error)  # any error quoting it escapes it too


# ---- Catalog page: near-duplicates a page at a time, in the background (issue 9: 5) ---------------------------

# Products sharing a type and colour get the very same drawn photo: exact duplicates, so the groups are known.
DUP_GROUPS = [[str(i) for i in range(10, 18)], ["20", "21"], ["30", "31"], ["40", "41"], ["50", "51"], ["60", "61"]]


def test_near_duplicates_show_a_page_of_groups_largest_first_with_a_few_photos(dup_indexed):
    from app.duplicates_panel import GROUPS_PER_PAGE, PHOTOS

    at = find_duplicates(start("pages/catalog.py"))
    assert not at.exception and (GROUPS_PER_PAGE, PHOTOS) == (5, 6)
    assert group_headings(at) == ["**Group 1: 8 products** · 28 pairs · closest 10 ~ 11 at 1.000",
                                  "**Group 2: 2 products** · 1 pairs · closest 20 ~ 21 at 1.000",
                                  "**Group 3: 2 products** · 1 pairs · closest 30 ~ 31 at 1.000",
                                  "**Group 4: 2 products** · 1 pairs · closest 40 ~ 41 at 1.000",
                                  "**Group 5: 2 products** · 1 pairs · closest 50 ~ 51 at 1.000"]
    assert any("6 groups · 18 products at or above 1.000" in c.value for c in at.caption)
    assert len(at.image) == 6 + 4 * 2  # a few photos of the big group, both of each pair
    assert [e.label for e in at.expander] == ["2 more products"]  # closed: its photos are not drawn
    at.number_input(key="dup_page").set_value(2).run()
    assert group_headings(at) == ["**Group 6: 2 products** · 1 pairs · closest 60 ~ 61 at 1.000"]
    from app import resources
    from core.search.duplicates import near_duplicates

    assert [g.product_ids for g in near_duplicates(resources.store(dup_indexed), 0.9999)] == DUP_GROUPS


def test_a_big_group_draws_the_rest_of_its_photos_only_when_opened(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    job = at.session_state["dup_job"]
    at.session_state[f"dup-{job.id}-1-open"] = True
    at.run()
    assert not at.exception and len(at.image) == 8 + 4 * 2
    ids = [c.value.rsplit("#", 1)[-1] for c in at.caption if "\\#" in c.value]
    assert ids[:8] == [str(i) for i in range(10, 18)]


def test_near_duplicates_are_found_in_the_background_and_nothing_polls_once_done(dup_indexed, monkeypatch):
    import threading

    from app import duplicates_panel
    from core.search import duplicates

    release, polls = threading.Event(), []
    real = duplicates.find_pairs

    def slow(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(duplicates, "find_pairs", slow)
    monkeypatch.setattr(duplicates_panel, "_wait", polls.append)
    at = start("pages/catalog.py")
    at.slider(key="dup_threshold").set_value(0.9999)
    at.button(key="dup_go").click().run()  # returns while the search still runs
    job = at.session_state["dup_job"]
    assert not at.exception and not job.done and group_headings(at) == [] and polls == [job]
    release.set()
    assert job.wait(30)
    at.run()
    assert len(group_headings(at)) == 5 and polls == [job]  # drawn, and no poll registered for the idle page


def test_near_duplicates_are_dropped_once_the_index_changes(dup_indexed):
    from app import resources

    at = find_duplicates(start("pages/catalog.py"))
    assert len(group_headings(at)) == 5
    store = resources.store(dup_indexed)
    store.update_meta(last_indexed=store.meta()["last_indexed"] + 1)
    at.run()
    assert group_headings(at) == [] and not at.exception
    assert [i.value for i in at.info] == ["The index has changed since near-duplicates were last found: find them again."]


# ---- Catalog page: honest indexing messages (issue 9: 10) ------------------------------------------------------

def _progress_bars(at: AppTest) -> list:
    return at.get("progress")


def test_an_upload_with_wrong_columns_shows_its_error_alone_under_its_own_name(app_settings):
    at = start("pages/catalog.py")
    at.file_uploader(key="idx_upload").upload("styles.csv", b"ProductId,ProductTitle\n1,x\n", "text/csv")
    at.button(key="idx_go").click().run()
    assert not at.exception and len(at.error) == 1 and "missing required column(s) Gender" in shown(at.error[0].value)
    assert not at.warning and _progress_bars(at) == []


def test_an_empty_upload_is_named_as_the_user_named_it(app_settings):
    at = start("pages/catalog.py")
    at.file_uploader(key="idx_upload").upload("empty.csv", b"", "text/csv")
    at.button(key="idx_go").click().run()
    assert [shown(e.value) for e in at.error] == ["catalogue is empty or has no header row: empty.csv"]


def test_a_failed_run_clears_the_previous_report(indexed, tmp_path):
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(write_catalog(tmp_path / "again")))
    at.button(key="idx_go").click().run()
    assert "Rows" in [m.label for m in at.metric]
    at.text_input(key="idx_csv").input(str(tmp_path / "gone.csv"))
    at.button(key="idx_go").click().run()
    assert "Rows" not in [m.label for m in at.metric] and len(at.error) == 1


def test_a_folder_given_as_the_catalogue_is_called_a_folder(indexed, tmp_path):
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(tmp_path))
    at.button(key="idx_go").click().run()
    assert [shown(e.value) for e in at.error] == [f"the catalogue path is a folder, not a CSV file: {tmp_path}"]


def test_the_catalog_page_offers_the_sample_once_and_knows_where_it_is(app_settings):
    at = start("pages/catalog.py")
    assert [b.label for b in at.button if "sample" in b.label.lower()] == ["Index the sample catalogue"]
    assert [i.value for i in at.info] == ["There is no index yet. Index the bundled sample catalogue (320 products) to "
                                          "try Catalog Lens, or index your own catalogue below."]


def test_the_catalogue_source_tab_is_a_widget_that_keeps_its_choice(indexed, tmp_path):
    at = start("pages/catalog.py")
    assert at.session_state["idx_source"] == "CSV on this machine"  # stateful: the browser keeps the open tab
    at.session_state["idx_source"] = "Upload a CSV"
    at.file_uploader(key="idx_upload").upload("styles.csv", write_catalog(tmp_path / "u").read_bytes(), "text/csv")
    at.button(key="idx_go").click().run()
    assert not at.exception and at.session_state["idx_source"] == "Upload a CSV"


def test_the_sidebar_board_count_follows_products_added_later_in_the_same_run(app_settings):
    """Explore's "Add all" adds after the sidebar is drawn: the count line under the picker must follow."""
    from core.curation.boards import BoardStore

    BoardStore(app_settings.data_dir / "boards").create("Picks")

    def script():
        import streamlit as st

        from app import board_panel, resources
        from core.search.query import Result

        config = resources.settings()
        board_id = board_panel.board_picker(config)
        if st.button("Add all", key="add_all"):
            board_panel.add_products_to_board(config, board_id, [Result(p, 0.5, f"P{p}", "", {}) for p in "123"])

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert [c.value for c in at.sidebar.caption] == ["0 products on this board"]
    at.button(key="add_all").click().run()
    assert [c.value for c in at.sidebar.caption] == ["3 products on this board"]
    assert at.sidebar.selectbox(key="active_board").format_func(at.sidebar.selectbox(key="active_board").value) == "Picks"


def test_likes_and_dislikes_travel_in_the_link_both_ways(indexed):
    at = start(q="dress", likes=["2", "2"], dislikes=["3", "2"])  # a liked id wins over the same id disliked
    assert at.session_state["likes"] == ["2"] and at.session_state["dislikes"] == ["3"]
    assert url(at, "likes") == ["2"] and url(at, "dislikes") == ["3"]
    assert "2" not in result_ids(at) and "3" not in result_ids(at)
    at.button(key=f"results-{result_ids(at)[0]}-down").click().run()
    assert url(at, "dislikes") == ["3", at.session_state["dislikes"][-1]] and len(url(at, "dislikes")) == 2
    [b for b in at.button if b.label == "Reset feedback"][0].click().run()
    assert url(at, "likes") == [] and url(at, "dislikes") == []


def test_a_shared_hybrid_link_says_its_results_use_the_text_only(indexed):
    at = start(q="dress", mode="hybrid")
    assert [i.value for i in at.info if i.value.startswith("No photo yet")] == [
        "No photo yet, so these results use the text only. Add a photo (a shared link cannot carry an uploaded "
        "one), or pick “More like this” on a result."]


def test_an_uploaded_photo_is_said_to_be_missing_from_the_link(indexed, tmp_path):
    at = start(mode="hybrid", q="dress")
    at.file_uploader(key="upload").upload("query.jpg", (tmp_path / "cat/images/Apparel/1.jpg").read_bytes(),
                                          "image/jpeg").run()
    notes = [c.value for c in at.caption if c.value.startswith(":material/link_off:")]
    assert notes == [":material/link_off: The uploaded photo is not in this page's link: whoever opens it will be "
                     "asked for a photo and sees text-only results until then."]
    assert not [i for i in at.info if i.value.startswith("No photo yet")]


def test_looking_like_a_product_shows_its_photo_and_title_beside_the_query(indexed):
    at = start(mode="image", like="1")
    assert [i.value for i in at.info] == ["Looking like product \\#1 · Mango Women Red Dress"]
    # the query's own photo, then one per result card (product 1 itself is not among its look-alikes)
    assert len(at.get("image")) == 1 + len(result_ids(at)) and "1" not in result_ids(at)
