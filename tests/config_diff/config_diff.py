#!/usr/bin/env python3
"""Differential check of configuration errors: the field path of every error, old parser against new.

Every shipped configuration (envoy/*.json, the whole configurations in docs/*.md, the valid seeds of
fuzz/corpus/configuration) is mutated deterministically: each field deleted, each value replaced by
values of every JSON type and by bad values, an unknown field added to each object, each key
repeated, the document cut off at many offsets, its punctuation broken. Both `edge-auth check`
binaries read every mutation; the field path each error names must be the same (the wording of the
message may differ). `make config-diff` builds the old binary from BASE and runs this.

    config_diff.py OLD_BINARY NEW_BINARY [--limit N] [--work DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "invalid configuration: "
# serde's messages that contain ": " themselves (a message with no field starts with one of them).
BARE = ("invalid type: ", "invalid value: ", "invalid length ")


def seeds():
    """(name, text) of every shipped configuration."""
    found = []
    envoy = os.path.join(ROOT, "envoy")
    for name in sorted(os.listdir(envoy)):
        if name.endswith(".json"):
            found.append(("envoy/" + name, open(os.path.join(envoy, name)).read()))
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            text = open(os.path.join(docs, name)).read()
            for i, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S)):
                found.append((f"docs/{name}#{i}", block))
    corpus = os.path.join(ROOT, "fuzz", "corpus", "configuration")
    for name in sorted(os.listdir(corpus)):
        found.append(("fuzz/corpus/configuration/" + name, open(os.path.join(corpus, name), errors="replace").read()))
    # Whole configurations only: objects naming a credential source.
    whole = []
    for name, text in found:
        try:
            doc = load(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(doc, Obj) and any(k in ("providers", "api_keys") for k, _ in doc.pairs):
            whole.append((name, doc))
    return whole


def dump(value, indent=0):
    """JSON text of a value whose objects are lists of (key, value) pairs (duplicates kept)."""
    pad = "  " * (indent + 1)
    if isinstance(value, Obj):
        if not value.pairs:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in value.pairs]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + dump(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    return json.dumps(value)


class Obj:
    """A JSON object as ordered pairs."""

    def __init__(self, pairs):
        self.pairs = pairs


def load(text):
    return json.loads(text, object_pairs_hook=lambda pairs: Obj(list(pairs)))


# Replacements of a value: every JSON type, and values refused for their meaning.
TYPED = [12345, -1, 1.5, "x", True, False, None, [], Obj([]), [1], ["x"], Obj([("zz", 1)])]
BAD = ["", " ", "not a url", "http://", "/", "\u00e9", 0, 4294967296, 18446744073709551616, 100000000, 3600]


def paths(value, at=()):
    """Every (path, value) below value, the document itself first."""
    yield at, value
    if isinstance(value, Obj):
        for i, (_, v) in enumerate(value.pairs):
            yield from paths(v, at + (i,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, at + (i,))


def clone(value):
    if isinstance(value, Obj):
        return Obj([(k, clone(v)) for k, v in value.pairs])
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def parent_of(doc, at):
    """(container, index) of the value at path `at`."""
    node = doc
    for step in at[:-1]:
        node = node.pairs[step][1] if isinstance(node, Obj) else node[step]
    return node, at[-1]


def replace(doc, at, new):
    doc = clone(doc)
    container, i = parent_of(doc, at)
    if isinstance(container, Obj):
        container.pairs[i] = (container.pairs[i][0], new)
    else:
        container[i] = new
    return doc


def mutations(doc):
    """(kind, text) of every mutation of one document."""
    base = dump(doc)
    out = []
    for at, value in list(paths(doc)):
        if at:
            container, i = parent_of(doc, at)
            if isinstance(container, Obj):
                d = clone(doc)
                c, _ = parent_of(d, at)
                key = c.pairs[i][0]
                del c.pairs[i]
                out.append(("delete", dump(d)))
                d = clone(doc)
                c, _ = parent_of(d, at)
                c.pairs.insert(i + 1, (key, clone(c.pairs[i][1])))
                out.append(("duplicate", dump(d)))
            else:
                d = clone(doc)
                c, _ = parent_of(d, at)
                del c[i]
                out.append(("delete-element", dump(d)))
            for new in TYPED:
                out.append(("type", dump(replace(doc, at, clone(new)))))
            for new in BAD:
                if type(new) is type(value) or (isinstance(value, int) and isinstance(new, int)):
                    out.append(("value", dump(replace(doc, at, new))))
        if isinstance(value, Obj):
            d = clone(doc)
            if at:
                c, i = parent_of(d, at)
                target = c.pairs[i][1] if isinstance(c, Obj) else c[i]
            else:
                target = d
            target.pairs.append(("unknown_zz", 1))
            out.append(("unknown", dump(d)))
    # Cut off at many offsets, and broken punctuation.
    step = max(1, len(base) // 60)
    for cut in range(0, len(base), step):
        out.append(("truncate", base[:cut]))
    for pattern, repl in ((",\n", "\n"), (": ", " "), ("}", "},"), ("]", "],"), ("\"", "'")):
        starts = [m.start() for m in re.finditer(re.escape(pattern), base)]
        for s in starts[:: max(1, len(starts) // 8)]:
            out.append(("syntax", base[:s] + repl + base[s + len(pattern):]))
    return out


def field_of(stderr, file):
    """The field path an error names ("" for the document), or None when the configuration is valid."""
    line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    head = f"{file}: {PREFIX}"
    if not line.startswith(head):
        return None
    message = line[len(head):]
    if message.startswith(BARE) or ": " not in message:
        return ""
    field = message.split(": ", 1)[0]
    return field if " " not in field else ""


def check(binary, file):
    result = subprocess.run([binary, "check", file], capture_output=True, text=True)
    if result.returncode == 0:
        return "valid", ""
    return field_of(result.stderr, file), result.stderr.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--limit", type=int, default=0, help="every k-th mutation only, to make at most about N")
    parser.add_argument("--work", default=os.path.join(ROOT, "target", "config-diff"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    cases = []
    seed_list = []
    for name, doc in seeds():
        # Only configurations the old parser accepts: one mutation, one error.
        path = os.path.join(args.work, "seed.json")
        with open(path, "w") as f:
            f.write(dump(doc))
        if check(args.old, path)[0] == "valid":
            seed_list.append((name, doc))
        else:
            print(f"seed {name} skipped: the old parser refuses it")
    for name, doc in seed_list:
        for kind, text in mutations(doc):
            cases.append((name, kind, text))
    if args.limit and len(cases) > args.limit:
        cases = cases[:: len(cases) // args.limit + 1]
    files = []
    for n, (name, kind, text) in enumerate(cases):
        path = os.path.join(args.work, f"{n:05d}-{kind}.json")
        with open(path, "w") as f:
            f.write(text)
        files.append(path)
    with ThreadPoolExecutor(4) as pool:
        old = list(pool.map(lambda f: check(args.old, f), files))
        new = list(pool.map(lambda f: check(args.new, f), files))
    same = 0
    explained = 0
    differ = []
    kinds = {}
    for (name, kind, _), path, (of, om), (nf, nm) in zip(cases, files, old, new):
        kinds.setdefault(kind, [0, 0])[0] += 1
        if of == nf:
            same += 1
            kinds[kind][1] += 1
        elif of == "valid" and nf == "" and nm.endswith(": trailing characters"):
            # Deliberate: text after the document (`{...},`) was ignored by the old parser.
            explained += 1
        else:
            differ.append((path, name, kind, om, nm))
    print(f"seeds: {len(seed_list)}; mutations: {len(cases)}; identical field paths (or both valid): {same}; "
          f"text after the document, accepted before and refused now: {explained}; other differences: {len(differ)}")
    for kind, (n, s) in sorted(kinds.items()):
        print(f"  {kind:15} {n:6} mutations, {s:6} identical")
    for path, name, kind, om, nm in differ[:200]:
        print(f"DIFFERENT {path} ({name}, {kind})\n  old: {om}\n  new: {nm}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
