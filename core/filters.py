"""Backend-neutral filters: include any-of and exclude values per attribute field, plus excluded ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from core.catalog import FILTER_FIELDS
from core.errors import BadQuery, UnknownFilterField


def check_field(name: str) -> str:
    """Return name if it is a filterable field, else raise an error listing the known ones."""
    if name not in FILTER_FIELDS:
        raise UnknownFilterField(f"unknown filter field {name!r}; known fields: {', '.join(FILTER_FIELDS)}")
    return name


def _clean(values: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, vals in (values or {}).items():
        vals = tuple(dict.fromkeys(str(v) for v in vals if str(v) != ""))
        if vals:
            out[check_field(name)] = vals
    return out


@dataclass(frozen=True)
class Filters:
    """include: field -> any of these values; exclude: field -> none of these; exclude_ids: point ids to skip."""

    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, include=None, exclude=None, exclude_ids: Iterable[str] = ()) -> "Filters":
        """Validated constructor: unknown fields raise, empty value lists are dropped."""
        return cls(_clean(include), _clean(exclude), tuple(exclude_ids))

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude or self.exclude_ids)

    def without(self, name: str) -> "Filters":
        """The same filters minus the include on one field (facet counts for that field's choices)."""
        return Filters({k: v for k, v in self.include.items() if k != name}, self.exclude, self.exclude_ids)


def parse_filter_args(args: Iterable[str]) -> dict[str, list[str]]:
    """CLI 'field=v1,v2' strings -> {field: [v1, v2]}; repeated fields accumulate."""
    out: dict[str, list[str]] = {}
    for arg in args or []:
        name, sep, values = arg.partition("=")
        if not sep or not name.strip():
            raise BadQuery(f"filter must look like field=value1,value2, got {arg!r}")
        check_field(name.strip())
        if not any(v.strip() for v in values.split(",")):
            raise BadQuery(f"filter {arg!r} has no value: give at least one, like {name.strip()}=Red")
        out.setdefault(name.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out
