#!/usr/bin/python3
"""Checks that no two of the master's files call each other in a loop.

Reads the symbol tables of the master's objects (nm): a file that uses a
function another file defines depends on it. Calls made through a pointer
(the callbacks a pool hands its executors, a connection's handler) are not
links, which is the point: events go up through pointers, calls go down.
Prints the graph with --graph; exits 1 and names each loop found.

Usage: scripts/check-calls.py [--graph] OBJECT...
"""
import subprocess
import sys
from pathlib import Path


def symbols(obj):
    """(defined, used) global function and data names of one object file."""
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True, check=True).stdout
    defined = {line.split()[-1] for line in out.splitlines() if line.strip()}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True).stdout
    used = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return defined, used


def loops(graph):
    """The strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(args):
    show = "--graph" in args
    objects = [a for a in args if a != "--graph"]
    if not objects:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    owner, uses = {}, {}
    for obj in objects:
        name = Path(obj).stem
        defined, used = symbols(obj)
        for sym in defined:
            owner[sym] = name
        uses[name] = used
    graph = {name: {owner[s] for s in used if s in owner and owner[s] != name} for name, used in uses.items()}
    if show:
        for name in sorted(graph):
            print(f"{name}: {' '.join(sorted(graph[name]))}")
    found = loops(graph)
    for part in found:
        print(f"loop among: {' '.join(part)}", file=sys.stderr)
        for a in part:
            for b in sorted(graph[a] & set(part)):
                calls = sorted(s for s in uses[a] if owner.get(s) == b)
                print(f"  {a} -> {b}: {' '.join(calls)}", file=sys.stderr)
    if not found:
        print(f"call graph: {len(graph)} files, no loop")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
