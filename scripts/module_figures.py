"""Module sizes and long functions of a checkout: python scripts/module_figures.py [ROOT]."""

import ast
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "src" / "softreg"
sizes, longf = [], []
for p in sorted(root.rglob("*.py")):
    text = p.read_text()
    n = len(text.splitlines())
    sizes.append((n, str(p.relative_to(root))))
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > 60:
                longf.append((length, f"{p.relative_to(root)}:{node.name}"))
sizes.sort(reverse=True)
print("modules:", len(sizes), "lines:", sum(n for n, _ in sizes))
print("largest five:", ", ".join(f"{f} {n}" for n, f in sizes[:5]))
print("functions over 60 lines:", len(longf), sorted(longf, reverse=True))
