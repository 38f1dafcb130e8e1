"""The layers written in .importlinter hold, core/ has no flat modules, and no module borrows another's private name."""

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "ingest", "models", "index", "search", "map", "insights", "curation", "cli")


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_the_layer_contract_names_every_package_in_core():
    config = (ROOT / ".importlinter").read_text()
    present = sorted(p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists())
    assert present == sorted(PACKAGES)
    for package in PACKAGES:
        assert f"core.{package}" in config


def test_core_has_no_flat_modules_beside_its_packages():
    flat = sorted(p.name for p in (ROOT / "core").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py"]


def _private_imports(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("core", "app"):
            found += [f"{path.relative_to(root)}: from {node.module} import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_imports_a_private_name_from_another():
    sources = [*ROOT.glob("core/**/*.py"), *ROOT.glob("app/*.py"), *ROOT.glob("pages/*.py"), ROOT / "streamlit_app.py"]
    offences = [line for path in sources for line in _private_imports(path)]
    assert offences == []


def test_no_test_imports_a_private_name_from_the_product():
    # A test that needs a product's private helper is testing an interface: the name is made public instead.
    tests = [*ROOT.glob("tests/*.py"), *ROOT.glob("tests/helpers/*.py")]
    offences = [line for path in tests for line in _private_imports(path)]
    assert offences == []


def test_the_private_name_check_finds_a_borrowed_private_name(tmp_path):
    module = tmp_path / "borrower.py"
    module.write_text("from core.map.projection import _load_projector, CatalogMap\nfrom os import _exit\n")
    assert _private_imports(module, tmp_path) == ["borrower.py: from core.map.projection import _load_projector"]


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every import circle in `graph`: its strongly connected components of more than one module (Tarjan's
    algorithm, iterative so a deep chain cannot overflow Python's stack), each sorted, in a stable order."""
    order, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(module: str) -> tuple[str, object]:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        return module, iter(sorted(graph.find_modules_directly_imported_by(module)))

    for root in sorted(graph.modules):
        if root in order:
            continue
        path = [visit(root)]
        while path:
            module, imported = path[-1]
            for other in imported:
                if other not in order:
                    path.append(visit(other))
                    break
                if other in on_stack:
                    low[module] = min(low[module], order[other])
            else:
                path.pop()
                if path:
                    low[path[-1][0]] = min(low[path[-1][0]], low[module])
                if low[module] == order[module]:  # module roots a component: everything above it on the stack
                    component = []
                    while not component or component[-1] != module:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


def test_no_import_circle_among_core_modules_packages_included():
    # acyclic_siblings compares siblings only; this sees every module, so a package's __init__ importing a child
    # that imports the package back is caught too.
    graph = grimp.build_graph("core", cache_dir=None)
    assert "core.ingest.formats.registry" in graph.find_modules_directly_imported_by("core.ingest.formats")
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_made_up_circle():
    graph = grimp.ImportGraph()
    for importer, imported in [("pkg", "pkg.child"), ("pkg.child", "pkg"),  # a package and its child
                               ("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["a", "b", "c"], ["pkg", "pkg.child"]]
    graph.remove_import(importer="c", imported="a")
    assert import_cycles(graph) == [["pkg", "pkg.child"]]
