"""Backend-neutral filters: keyword any-of/none-of, number ranges and excluded ids."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from core.common.errors import BadQuery, UnknownFilterField
from core.common.fields import FIELD_NAME, HIDDEN_STATUSES, STATUS, Schema

Bounds = tuple  # (low or None, high or None), both inclusive


def check_field(name: str) -> str:
    """Return name if it can be a payload field name (lower snake_case), else a clear error."""
    if not FIELD_NAME.match(name):
        raise UnknownFilterField(f"{name!r} is not a field name: use the lower-case names that `facets` lists, "
                                 "like colour or brand")
    return name


def _clean(values: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, vals in (values or {}).items():
        # status is stored in lower case whatever the feed's case, so status=Archived means archived
        vals = tuple(dict.fromkeys(str(v).lower() if name == STATUS else str(v) for v in vals if str(v) != ""))
        if vals:
            out[check_field(name)] = vals
    return out


def _clean_ranges(ranges: Mapping[str, Bounds] | None) -> dict[str, Bounds]:
    out = {}
    for name, (low, high) in (ranges or {}).items():
        low = None if low is None else float(low)
        high = None if high is None else float(high)
        if any(v is not None and not math.isfinite(v) for v in (low, high)):
            raise BadQuery(f"range for {name} must use finite numbers")
        if low is not None and high is not None and low > high:
            raise BadQuery(f"range for {name} is empty: {low:g} is above {high:g}")
        if low is not None or high is not None:
            out[check_field(name)] = (low, high)
    return out


@dataclass(frozen=True)
class Filters:
    """include: field -> any of these values; exclude: field -> none of these; ranges: field -> (low, high);
    exclude_ids: point ids to skip; lacking: fields a product must not have (no price, say); every: field -> every one
    of these values (a product holding all the query's words: core.index.keywords' terms)."""

    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude_ids: tuple[str, ...] = ()
    ranges: Mapping[str, Bounds] = field(default_factory=dict)
    lacking: tuple[str, ...] = ()
    every: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, include=None, exclude=None, exclude_ids: Iterable[str] = (), ranges=None) -> "Filters":
        """Validated constructor: bad field names and empty ranges raise, empty value lists are dropped."""
        return cls(_clean(include), _clean(exclude), tuple(exclude_ids), _clean_ranges(ranges))

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude or self.exclude_ids or self.ranges or self.lacking or self.every)

    def without(self, name: str) -> "Filters":
        """The same filters minus the include and range on one field (that field's own counts and bounds)."""
        return Filters({k: v for k, v in self.include.items() if k != name}, self.exclude, self.exclude_ids,
                       {k: v for k, v in self.ranges.items() if k != name}, self.lacking, self.every)

    def plus(self, *, exclude_ids: Iterable[str] = (), ranges: Mapping[str, Bounds] | None = None,
             lacking: Iterable[str] = (), every: Mapping[str, Iterable[str]] | None = None) -> "Filters":
        """These filters narrowed further (more excluded ids, a range, fields that must be absent, values a
        field must all hold)."""
        merged = dict(self.every)
        for name, values in (every or {}).items():
            merged[name] = tuple(dict.fromkeys((*merged.get(name, ()), *map(str, values))))
        return Filters(self.include, self.exclude, (*self.exclude_ids, *exclude_ids),
                       {**self.ranges, **(ranges or {})}, (*self.lacking, *lacking),
                       {k: v for k, v in merged.items() if v})

    @property
    def names_status(self) -> bool:
        """True when these filters say something about status (status=draft, or -status=active): then they decide."""
        return STATUS in self.include or STATUS in self.exclude

    def visible(self, show_hidden: bool = False) -> "Filters":
        """The default view: draft and archived products left out, unless show_hidden or an explicit status filter
        says otherwise. Products with no status (older indexes, feeds without one) always stay in."""
        if show_hidden or self.names_status:
            return self
        return Filters(self.include, {**self.exclude, STATUS: HIDDEN_STATUSES}, self.exclude_ids, self.ranges,
                       self.lacking, self.every)

    def check(self, schema: Schema) -> "Filters":
        """Raise a clear error for a field this index does not have, or that is the wrong kind for the filter."""
        for name in (*self.include, *self.exclude):
            if name not in schema.keyword and not (name == STATUS and self.exclude.get(STATUS) == HIDDEN_STATUSES):
                raise UnknownFilterField(f"unknown filter field {name!r}; this index's filter fields: "
                                         f"{', '.join(schema.keyword)}")
        for name in self.ranges:
            if name not in schema.number:
                raise UnknownFilterField(f"{name!r} is not a number field, so it has no range; number fields: "
                                         f"{', '.join(schema.number) or 'none in this index'}")
        return self


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


def parse_range_args(args: Iterable[str]) -> dict[str, Bounds]:
    """CLI 'price=10:50' strings -> {price: (10.0, 50.0)}; either bound may be left out ('price=:50')."""
    out: dict[str, Bounds] = {}
    for arg in args or []:
        name, sep, bounds = arg.partition("=")
        low, colon, high = bounds.partition(":")
        if not sep or not colon or not name.strip():
            raise BadQuery(f"range must look like field=low:high (either bound optional), got {arg!r}")
        try:
            parsed = tuple(float(v) if v.strip() else None for v in (low, high))
        except ValueError:
            raise BadQuery(f"range {arg!r}: bounds must be numbers, like price=10:50") from None
        if parsed == (None, None):
            raise BadQuery(f"range {arg!r} has no bound: give a low, a high or both, like price=10:50")
        out[check_field(name.strip())] = parsed
    _clean_ranges(out)
    return out


def whole_number_fields(store, names: Iterable[str]) -> tuple[str, ...]:
    """The number fields among `names` whose every stored value is a whole number (stock, a year, a count):
    shown as 5, never 5.0, and slid by whole steps. One pass over the index; a field no product has is left out."""
    names = tuple(names)
    whole = {name: False for name in names}  # False until a value is seen, None once a fraction is
    for hit in store.scroll(payload_keys=list(names)):
        for name in names:
            value = (hit.payload or {}).get(name)
            if whole[name] is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                whole[name] = True if float(value).is_integer() else None
    return tuple(name for name in names if whole[name])
