"""The merchandiser's fixes that every index run re-applies to the catalogue's values until the source has them:
the audit's label changes and the accepted enrichments (core.insights.enrich_decisions), as one hook."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.insights.audit_decisions import AuditDecisions


def catalogue_fixes(data_dir: Path) -> Callable[[str, dict], bool]:
    """The relabel hook index_catalog takes: fix(product_id, payload) applies this data folder's fixes, as they
    stand now, to one product's values (in place) and says whether any changed."""
    audit = AuditDecisions(data_dir).relabeller()
    return audit
