"""The import graph of minprune: arrows point down the floors, the one circle is deliberate,
and a function-local import of minprune's own modules says why it is local.

Every ``import`` of a minprune module counts, at the top of a file or inside a function: an
import hidden in a function is still an arrow a reader must know about."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).parent.parent / "minprune"

# the floors, lowest first; a module may import from its own floor's units and below
FLOORS = [
    {"checks", "files", "tables", "figure", "timing", "threads", "memory",   # know no model
     "vec", "kernel_cache", "jit"},
    {"autograd"},
    {"nn"},
    {"data", "prune"},
    {"sparse", "tree"},
    {"infer", "io", "viz", "__init__"},                  # __init__: ``from .. import models``
    {"experiments", "bench", "zoo", "course", "reports"},
    {"commands"},
    {"cli", "__main__"},
]
FLOOR = {unit: i for i, units in enumerate(FLOORS) for unit in units}
DELIBERATE_CIRCLES = [{"minprune.autograd.ops", "minprune.autograd.tensor"}]


def _modules():
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(modules):
    """{module: [(target module, line, function-local?, the source line)]}."""
    edges = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        top = {id(node) for node in tree.body}
        found = []
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - (node.level - 1)]
                                + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                targets = [t for t in names if t.split(".")[0] == "minprune"]
            for target in targets:
                while target not in modules:
                    target = target.rsplit(".", 1)[0]
                found.append((target, node.lineno, id(node) not in top,
                              lines[node.lineno - 1]))
        edges[name] = found
    return edges


def _unit(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_arrow_points_up():
    upward = []
    for module, found in _imports(_modules()).items():
        for target, line, _, _ in found:
            a, b = _unit(module), _unit(target)
            assert a in FLOOR and b in FLOOR, f"{a} or {b} has no floor in this test"
            if a != b and FLOOR[b] > FLOOR[a]:
                upward.append(f"{module}:{line} -> {target}")
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_the_only_circle_is_ops_and_tensor():
    graph = {m: {t for t, *_ in found if t != m} for m, found in _imports(_modules()).items()}
    circles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert [set(c) for c in circles] == DELIBERATE_CIRCLES, circles


def test_function_local_imports_say_why():
    """A minprune import inside a function is there for laziness (an optional dependency, a
    heavy subpackage loaded on first use) or to break a deliberate circle; its line says so
    with a ``# lazy:`` comment."""
    silent = [f"{module}:{line}: {text.strip()}"
              for module, found in _imports(_modules()).items()
              for _, line, local, text in found if local and "# lazy:" not in text]
    assert not silent, "function-local imports without a reason:\n" + "\n".join(silent)


def _strongly_connected(graph):
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(component)
    return out
