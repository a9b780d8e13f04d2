#!/usr/bin/env python3
"""Finds cycles between the top-level modules of a crate (by default rivetkit-runtime).

A module's dependencies are the `crate::` paths its code names: `use crate::x::...` (nested use
trees included) and inline `crate::x::...`; a name the crate root re-exports (`crate::Ctx`,
`use crate::{ActorError, Ctx}`) counts as a dependency on the module that defines it. Comments
are ignored, so doc links do not count. A directory module (`x/mod.rs` and its files) is one
module.

Prints each group of modules that depend on each other in a ring (a strongly connected
component), with the dependencies inside it and every pair of modules that use each other, and
exits 1 if there is one; exits 0 otherwise. `--edges` also prints every module's dependencies,
`--all` every elementary cycle (there may be hundreds).

    scripts/module-cycles.py [--edges] [--all] [crate-src-dir]
"""

import re
import sys
from pathlib import Path

DEFAULT_SRC = Path(__file__).resolve().parent.parent / "crates/rivetkit-runtime/src"


def strip_comments(code: str) -> str:
    """The code without comments and string literals (which could hold `crate::`)."""
    out = []
    i, n = 0, len(code)
    while i < n:
        if code.startswith("//", i):
            end = code.find("\n", i)
            i = n if end < 0 else end
        elif code.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if code.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif code.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif code[i] == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
            i += 1
            out.append('""')
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def use_tree_heads(tree: str) -> list[str]:
    """The first path segment of every path in a use tree body, e.g. `{a::b, c, d::{e, f}}`."""
    tree = tree.strip()
    if not tree.startswith("{"):
        return [re.split(r"::|\s+as\s+", tree, maxsplit=1)[0].strip()]
    heads, depth, item = [], 0, ""
    for char in tree[1:-1] + ",":
        if char == "," and depth == 0:
            if item.strip():
                heads.append(re.split(r"::|\s+as\s+", item.strip(), maxsplit=1)[0].strip())
            item = ""
            continue
        depth += char == "{"
        depth -= char == "}"
        item += char
    return heads


def module_files(src: Path) -> dict[str, list[Path]]:
    modules = {}
    for path in sorted(src.iterdir()):
        if path.is_file() and path.suffix == ".rs" and path.name not in ("lib.rs", "main.rs"):
            modules[path.stem] = [path]
        elif path.is_dir():
            modules[path.name] = sorted(path.rglob("*.rs"))
    return modules


def root_reexports(lib: str, modules: set[str]) -> dict[str, str]:
    """Names the crate root re-exports, with the module each comes from."""
    names = {}
    for match in re.finditer(r"\bpub\s+use\s+(\w+)::([^;]+);", lib):
        module, tree = match.group(1), match.group(2)
        if module not in modules:
            continue
        for item in use_tree_heads(tree if tree.strip().startswith("{") else "{" + tree + "}"):
            names[item] = module
    return names


def dependencies(src: Path) -> dict[str, set[str]]:
    modules = module_files(src)
    lib = strip_comments((src / "lib.rs").read_text())
    reexports = root_reexports(lib, set(modules))

    def target(head: str) -> str | None:
        if head in modules:
            return head
        return reexports.get(head)

    deps = {}
    for module, files in modules.items():
        found = set()
        for path in files:
            code = strip_comments(path.read_text())
            for match in re.finditer(r"\buse\s+crate::(\{)?", code):
                start = match.end() - (1 if match.group(1) else 0)
                end = code.index(";", start)
                heads = use_tree_heads(code[start:end])
                found.update(filter(None, map(target, heads)))
            for match in re.finditer(r"(?<!use )\bcrate::(\w+)", code):
                if (dep := target(match.group(1))) is not None:
                    found.add(dep)
        found.discard(module)
        deps[module] = found
    return deps


def rings(deps: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(deps[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(deps):
        if node not in index:
            visit(node)
    return sorted(found)


def cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each starting at its alphabetically smallest module."""
    found = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for dep in sorted(deps[node]):
            if dep == start:
                found.append(path + [start])
            elif dep > start and dep not in path:
                walk(start, dep, path + [dep])

    for start in sorted(deps):
        walk(start, start, [start])
    return found


def main() -> int:
    args = sys.argv[1:]
    show_edges, show_all = "--edges" in args, "--all" in args
    args = [arg for arg in args if arg not in ("--edges", "--all")]
    src = Path(args[0]) if args else DEFAULT_SRC
    deps = dependencies(src)
    if show_edges:
        for module in sorted(deps):
            print(f"{module} -> {', '.join(sorted(deps[module])) or '(nothing)'}")
    found = rings(deps)
    for ring in found:
        print(f"cycle among {len(ring)} modules: {', '.join(ring)}")
        for module in ring:
            inside = sorted(deps[module] & set(ring))
            print(f"    {module} -> {', '.join(inside)}")
    mutual = [(a, b) for a in sorted(deps) for b in sorted(deps[a]) if a < b and a in deps[b]]
    for a, b in mutual:
        print(f"mutual: {a} <-> {b}")
    if show_all:
        for cycle in cycles(deps):
            print("cycle: " + " -> ".join(cycle))
    if found:
        print(f"{len(cycles(deps))} elementary cycle(s) between the modules of {src}")
        return 1
    print(f"no cycle between the {len(deps)} modules of {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
