"""Clicking Index on the Catalog page shows the progress bar at once, saying "Loading the model…" while the model
loads; the finished report gives the run's duration and why each product was embedded.

The model load is held open by the test itself: the model folder's modules.json is a named pipe that the test
fills only after it has seen the bar, so what is asserted is an event, not a race with the clock."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from pathlib import Path

from core.index.indexer import EMBED, PLAN, PUBLISH, READ, index_catalog
from core.index.store import EdgeStore
from tests.conftest import serve_app, write_catalog
from tests.helpers.browser import idle as _idle, visible_text as _visible_text, wait as _wait
from tests.helpers.catalog_upload import metrics as _metrics


class HeldFile:
    """A file that is a named pipe: its first reader waits until release(); every later reader gets it at once."""

    def __init__(self, path: Path):
        self.path, self.content = path, path.read_bytes()
        path.unlink()
        os.mkfifo(path)
        self.opened, self._released, self._stopped = threading.Event(), threading.Event(), False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped:
            with open(self.path, "wb") as fh:  # blocks until a reader opens the pipe
                if self._stopped:
                    return
                self.opened.set()
                self._released.wait(timeout=300)
                fh.write(self.content)
            self._wait_reader_closed()

    def _wait_reader_closed(self) -> None:
        """A second writer before the reader's end of file would add a second copy to what it reads."""
        while not self._stopped:
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no reader left
                    return
                raise
            time.sleep(0.01)

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self._stopped = True
        self._released.set()
        try:  # a reader of our own ends a writer's wait for one
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass
        self._thread.join(timeout=10)


def _progress_text(driver) -> str:
    return " ".join(e.text for e in driver.find_elements("css selector", '[data-testid="stProgress"]'))


def test_the_bar_says_loading_the_model_while_it_loads_and_the_report_gives_the_duration(settings, browser,
                                                                                         tmp_path):
    model = tmp_path / "model"
    shutil.copytree(settings.model, model)
    held = HeldFile(model / "modules.json")  # the model loader reads it first
    catalog = write_catalog(tmp_path / "cat")
    try:
        with serve_app(settings.with_overrides(model=str(model))) as url:
            from selenium.webdriver.common.keys import Keys

            browser.get(url + "/catalog")
            wait = _wait(browser, 120)
            wait.until(lambda d: d.find_elements("css selector", ".st-key-idx_csv input"))
            _idle(browser)
            for key, value in (("idx_csv", str(catalog)), ("idx_images", str(catalog.parent / "images"))):
                field = browser.find_element("css selector", f".st-key-{key} input")
                field.send_keys(value)
                field.send_keys(Keys.ENTER)
                _idle(browser)
            assert not held.opened.is_set()  # the page itself never loads the model before Index is clicked
            browser.find_element("css selector", ".st-key-idx_go button").click()

            assert held.opened.wait(timeout=120), "the app never started to load the model"
            # The model load is now held: the bar must already be on the page, saying so, with no report yet.
            wait.until(lambda d: "Loading the model…" in _progress_text(d))
            assert "Duration" not in _metrics(browser)
            held.release()

            wait.until(lambda d: "Duration" in _metrics(d))
            _idle(browser)
            metrics = _metrics(browser)
            assert metrics["Indexed"] == "6"
            seconds, unit = metrics["Duration"].split(" ")
            assert unit == "s" and float(seconds) > 0
            text = _visible_text(browser)
            assert "Where the time went: model " in text
            assert "Embedded because new product: 6" in text
            assert _progress_text(browser) == ""  # the bar is gone once the report is there
    finally:
        held.stop()


def test_index_catalog_names_each_stage_before_it_starts_and_counts_after_embed(settings, embedder, tmp_path):
    catalog = write_catalog(tmp_path / "cat")
    events = []
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4,
                      stage=events.append, progress=lambda done, total: events.append((done, total)))
    finally:
        store.close()
    assert events == [READ, PLAN, EMBED, (0, 6), (4, 6), (6, 6), PUBLISH]
