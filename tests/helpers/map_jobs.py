"""Background map jobs under test: wait for a condition with a deadline, hold a fit at a gate."""

from __future__ import annotations

import time

from core.map import job as map_job

FIT_SECONDS = 900  # a deadline, not a measure: the first fit on a machine compiles UMAP (minutes on 2 busy cores)


def wait_for(condition, seconds: float = 60, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"no {what} within {seconds} s")


def fit_of(settings):
    return map_job.fit_state(settings.data_dir, settings.collection, "image")


def held_at_gate(settings):
    fit = fit_of(settings)
    return fit if fit is not None and fit.running and fit.stage == "waiting" else None
