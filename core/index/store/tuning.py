"""Scale settings for both store backends in one place: HNSW, int8 quantisation, memory placement, query
parameters and cluster layout, chosen by catalogue size and overridable through Settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

# From this many points in a segment the engine builds HNSW (and int8 vectors) for it; below it a query is an
# exact scan of float32 vectors, which at 20,000 x 512-d takes a few ms. Both engines measure the threshold in KB
# of vectors per segment, so the point count is turned into KB for the collection's dimension (index_kb).
# The photos multivector counts every row, so with 4 photos per product its HNSW starts at about 5,000 products
# (photo queries also search 'image', exact below INDEX_FROM, and keep the best: README, Every photo of a product).
INDEX_FROM = 20_000
QUANTIZE_FROM = INDEX_FROM   # LENS_QUANTIZATION=auto: int8 once HNSW is built, i.e. from the same size
ON_DISK_FROM = 200_000       # original float32 vectors left on disk (read only to rescore) from this size
QUANTIZATION_MODES = ("auto", "on", "off")
READ_CONSISTENCY = ("majority", "quorum", "all")


@dataclass(frozen=True)
class Overrides:
    """What a user set (LENS_QUANTIZATION, LENS_HNSW_EF, LENS_OVERSAMPLING, LENS_SHARDS, LENS_REPLICAS,
    LENS_WRITE_CONSISTENCY, LENS_READ_CONSISTENCY); None leaves the size-based choice."""

    quantization: str = "auto"
    hnsw_ef: int | None = None
    oversampling: float | None = None
    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    read_consistency: str = "1"      # a replica count ("1" = any replica answers) or majority / quorum / all
    index_from: int | None = None    # tests and benchmarks force the "large" settings on a small set with this

    @classmethod
    def from_settings(cls, settings) -> "Overrides":
        """The overrides a Settings object carries (core.common.config reads and checks the environment)."""
        return cls(quantization=settings.quantization, hnsw_ef=settings.hnsw_ef, oversampling=settings.oversampling,
                   shards=settings.shards, replicas=settings.replicas,
                   write_consistency=settings.write_consistency, read_consistency=settings.read_consistency)


@dataclass(frozen=True)
class Tuning:
    """Every engine setting that matters for scale; store backends translate it, nothing else reads env."""

    tier: str                   # "small", "large" or "huge": what the size chose (shown in stats and benchmarks)
    m: int = 16                 # HNSW edges per node
    ef_construct: int = 128     # HNSW build-time candidates: recall@10 >= 0.98 needs a well-connected graph
    index_from: int = INDEX_FROM
    full_scan_kb: int = 10_000  # a filter keeping fewer vectors' KB than this is scanned exactly (Qdrant default)
    quantize: bool = True       # scalar int8, kept in RAM; originals rescore the oversampled candidates
    quantile: float = 0.99      # clips the 1% outliers so int8 resolution goes to the bulk of the values
    quantized_in_ram: bool = True
    originals_on_disk: bool = False
    hnsw_ef: int = 128          # query-time candidates
    oversampling: float = 2.0   # candidates fetched with int8 scores = limit x this, then rescored exactly
    rescore: bool = True        # always explicit: qdrant-edge-py 0.9.0 without search params did not rescore
    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    read_consistency: str = "1"

    def index_kb(self, dim: int) -> int:
        """index_from points of one float32 vector of `dim`, in KB: the engines' indexing threshold."""
        return max(1, self.index_from * int(dim) * 4 // 1024)

    def as_meta(self) -> dict:
        """The settings an index was created with, kept in its metadata (stats shows them)."""
        return asdict(self)


def tuning_for(points: int | None, overrides: Overrides | None = None) -> Tuning:
    """The settings for a catalogue of `points` products (None: not known yet, so ready to grow).

    Below index_from every segment stays an exact float32 scan; past it the engine builds HNSW and int8 per
    segment, so the choice made at creation keeps working as the catalogue grows. Sizes only decide what must
    be fixed at creation: whether int8 is configured at all (auto) and whether originals live on disk.
    """
    o = overrides or Overrides()
    if o.quantization not in QUANTIZATION_MODES:
        raise ValueError(f"quantization must be one of {QUANTIZATION_MODES}, got {o.quantization!r}")
    index_from = o.index_from or INDEX_FROM
    known = points is not None
    tier = "huge" if known and points >= ON_DISK_FROM else "small" if known and points < index_from else "large"
    quantize = {"on": True, "off": False}.get(o.quantization, not known or points >= min(QUANTIZE_FROM, index_from))
    tuning = Tuning(tier=tier, index_from=index_from, quantize=quantize,
                    originals_on_disk=quantize and known and points >= ON_DISK_FROM,
                    shards=o.shards, replicas=o.replicas, write_consistency=o.write_consistency,
                    read_consistency=o.read_consistency)
    if o.hnsw_ef is not None:
        tuning = replace(tuning, hnsw_ef=o.hnsw_ef)
    if o.oversampling is not None:
        tuning = replace(tuning, oversampling=o.oversampling)
    return tuning
