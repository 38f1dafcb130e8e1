"""Every repository path the docs name (README.md, docs/benchmarks.md, bench/*.py) still exists: files and folders
(`core/index/indexer.py`, `app/`), globs (`tests/*browser*.py`), `python -m` modules, dotted names
(`core.search.query.search`) and tests (`test_boards.py::test_name`). A module that moves takes the docs with it."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOTS = ("core", "app", "pages", "tests", "bench", "docs", "sample", ".streamlit", ".ci")

# Named in the docs, but never in a clone: what benchmarks write (gitignored), the secrets a user adds.
NOT_IN_THE_REPOSITORY = ("bench/out", ".streamlit/secrets.toml")

# A path starts at one of ROOTS, not inside a word, a URL or a longer path; `…`, `<n>` and `{name}` are placeholders.
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./*<>{}…-]*)" % "|".join(re.escape(r) for r in ROOTS))
DOTTED = re.compile(r"(?<![\w.])((?:core|app|tests|bench)(?:\.\w+)+)")
# In bench code app, tests and bench also name variables (`app.pid`): there a name needs two dots to count.
DOTTED_IN_CODE = re.compile(r"(?<![\w.])(core(?:\.\w+)+|(?:app|tests|bench)(?:\.\w+){2,})")
# A test file, bare (it lives in tests/) or not, and `::test_name` after it, or after the last one on the line.
TEST_ID = re.compile(r"(?<![\w/.-])((?:tests/)?test_\w+\.py)|::(\w+)")
RUN_MODULE = re.compile(r"python -m ([\w.<>]+)")
PLACEHOLDER = re.compile(r"[<>{}…]")


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", root / "docs" / "benchmarks.md", *sorted((root / "bench").glob("*.py"))]


def missing_paths(text: str, root: Path = ROOT, code: bool = False) -> list[tuple[int, str]]:
    """(line number, what is named) for every path, `python -m` module, dotted name and test in text that does not
    exist under root."""
    missing = []
    for number, line in enumerate(text.splitlines(), start=1):
        if code:  # "import a\nb.c = 0" in a string: b starts a line of its own
            line = line.replace("\\n", " ")
        for named in PATH.findall(line):
            path = named.rstrip(".,:;")
            if not PLACEHOLDER.search(path) and not _exists(path, root):
                missing.append((number, path))
        run = [module.rstrip(".") for module in RUN_MODULE.findall(line)]
        for module in run:
            if module.split(".")[0] in ROOTS and not PLACEHOLDER.search(module) and not _runnable(module, root):
                missing.append((number, f"python -m {module}"))
        for dotted in (DOTTED_IN_CODE if code else DOTTED).findall(line):
            if dotted not in run and not _resolves(dotted, root):
                missing.append((number, dotted))
        test_file = None
        for file, name in TEST_ID.findall(line):
            if file:
                test_file = root / "tests" / file.removeprefix("tests/")
                if not file.startswith("tests/") and not test_file.is_file():  # a tests/ path is checked above
                    missing.append((number, file))
            elif test_file is not None and test_file.is_file() and name not in _functions(test_file):
                missing.append((number, f"{test_file.name}::{name}"))
    return missing


def _exists(path: str, root: Path) -> bool:
    if any(path == p or path.startswith(p + "/") for p in NOT_IN_THE_REPOSITORY):
        return True
    if "*" in path:
        return any(root.glob(path.rstrip("/")))
    return (root / path).is_dir() if path.endswith("/") else (root / path).exists()


def _runnable(module: str, root: Path) -> bool:
    """`python -m a.b` runs a/b.py, or a/b/__main__.py for a package."""
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()


def _resolves(dotted: str, root: Path) -> bool:
    """The longest prefix that is a module or package must exist, and the next name must be defined in it."""
    parts = dotted.split(".")
    for length in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:length])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            return length == len(parts) or parts[length] in _top_level_names(source)
    return False


def _top_level_names(source: Path) -> set[str]:
    """Names a module defines or imports at its top level (inside top-level if/try blocks too)."""
    names: set[str] = set()
    statements = list(ast.parse(source.read_text(encoding="utf-8")).body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try)):
            statements += node.body + node.orelse + getattr(node, "finalbody", [])
            statements += [s for h in getattr(node, "handlers", []) for s in h.body]
    return names


def _functions(source: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_path_the_docs_name_exists():
    missing = [f"{doc.relative_to(ROOT)}:{number}: {named}"
               for doc in documents()
               for number, named in missing_paths(doc.read_text(encoding="utf-8"), code=doc.suffix == ".py")]
    assert missing == []


def test_the_check_finds_what_is_missing_and_passes_what_exists(tmp_path):
    (tmp_path / "core" / "index").mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "__main__.py").write_text("")
    (tmp_path / "core" / "index" / "__init__.py").write_text("from core.index.plan import Plan\n")
    (tmp_path / "core" / "index" / "indexer.py").write_text("LIMIT = 3\n\ndef index_catalog():\n    pass\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "scale.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_boards.py").write_text("class TestX:\n    def test_b(self):\n        pass\n"
                                                        "def test_a():\n    pass\n")
    text = "\n".join([
        "See `core/index/indexer.py`, `core/index/` and core/index/indexer.py.",           # all exist
        "The old `core/indexer.py` and `core/formats/__init__.py`; results in bench/out/scale-1.",
        "Globs: `core/*/indexer.py` matches, `tests/*browser*.py` does not; `core/…` and `bench/out/<n>` are "
        "placeholders; https://docs.example.org/app/x.py is a URL, not ours; bench.scale is there, bench.old is not.",
        "Run `python -m core`, `python -m bench.scale`, `python -m bench.gone`, `python -m bench.<name>`, `python -m pytest`.",
        "Names: core.index.indexer.index_catalog, core.index.indexer.LIMIT, core.index.Plan, core.index.indexer.gone,"
        " core.embedder.normalise and core.index.",
        "A folder written as `core/index/indexer.py/` is not a folder.",
        "Tests: `test_boards.py::test_a`, `::test_b`, `::test_c`, `tests/test_boards.py::test_gone`, `test_shard.py`,"
        " tests.test_boards.test_a and tests.test_boards.test_d.",
    ])
    assert missing_paths(text, tmp_path) == [
        (2, "core/indexer.py"), (2, "core/formats/__init__.py"),
        (3, "tests/*browser*.py"), (3, "bench.old"),
        (4, "python -m bench.gone"),
        (5, "core.index.indexer.gone"), (5, "core.embedder.normalise"),
        (6, "core/index/indexer.py/"),
        (7, "tests.test_boards.test_d"), (7, "test_boards.py::test_c"), (7, "test_boards.py::test_gone"),
        (7, "test_shard.py"),
    ]
    # in code, `app.pid` is a variable, not a module; two dots still name one
    code = 'app.pid = 1\nx = bench.scale.gone\nwrite("import core.index\\ncore.indexer.LIMIT = 0")\n'
    assert missing_paths(code, tmp_path, code=True) == [(2, "bench.scale.gone"), (3, "core.indexer.LIMIT")]


def test_the_documents_checked_are_the_ones_the_issue_names():
    names = [str(p.relative_to(ROOT)) for p in documents()]
    assert names[:2] == ["README.md", "docs/benchmarks.md"] and "bench/scale.py" in names and len(names) > 10
