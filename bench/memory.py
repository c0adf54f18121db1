#!/usr/bin/env python3
"""Where Envoy's resident memory goes, per module: /proc/PID/smaps by kind of mapping.

Starts one Envoy per configuration (one worker, --disable-hot-restart, free ports on
127.0.0.1, the bootstrap of bench/bench.py), waits for /ready, sends a few requests, waits for
the memory to settle, then reads /proc/PID/smaps, smaps_rollup and Envoy's admin
/memory/tcmalloc. Every Envoy started here is stopped by PID. `make bench-memory` runs it.
Configurations (--runs Envoys each, one after another):

  baseline     Envoy, no wasm filter
  passthrough  the empty proxy-wasm module (bench/passthrough)
  edge-bench   edge-auth with the bench configuration (4 keys, one API client, 1024 cache)
  edge-min     edge-auth with one API key client and nothing else
  NAME=PATH    (--extra) another .wasm with the bench configuration (no configuration if NAME
               starts with "passthrough")

Mapping kinds:
  file         file-backed (the Envoy binary, libc, ...)
  reserved     anonymous mappings inside a contiguous anonymous run of >= 4 GiB: V8's wasm
               linear memories (each an 8 GiB reservation with its guard region; their Rss is
               the touched linear memory), V8's wasm code-space reservations and the thread
               stacks that land between them (--detail lists each mapping)
  exec anon    executable anonymous memory outside those runs (V8's compiled wasm code)
  anon         any other anonymous memory: tcmalloc's spans (Envoy's and V8's malloc), ...
  brk          [heap], if any
The tcmalloc rows come from Envoy's admin /memory/tcmalloc (Google tcmalloc's own counters):
"in use" is live malloc memory, the "free" rows are memory freed but kept by the allocator.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

GIB = 2**30
MIB = 2**20


def read_smaps(pid):
    """[(start, end, perms, path, {field: kB})] of /proc/PID/smaps."""
    maps = []
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                start, end = (int(x, 16) for x in head[0].split("-"))
                path = " ".join(head[5:]) if len(head) > 5 else ""
                current = (start, end, head[1], path, {})
                maps.append(current)
            elif head[0].endswith(":") and len(head) >= 2 and head[1].isdigit():
                current[4][head[0][:-1]] = int(head[1])
    return maps


def classify(maps):
    """Rss and size (kB) per kind, and the runs of >= 4 GiB found."""
    kinds = {}
    regions = []  # (start, size, rss kB) of each contiguous anonymous run >= 4 GiB
    # Contiguous anonymous runs (no path, or an [anon:...] name).
    run = []

    def flush():
        if run and run[-1][1] - run[0][0] >= 4 * GIB:
            rss = sum(m[4].get("Rss", 0) for m in run)
            regions.append((run[0][0], run[-1][1] - run[0][0], rss, len(run)))
            for m in run:
                m[4]["_kind"] = "reserved"
        run.clear()

    for m in maps:
        anon = m[3] == "" or m[3].startswith("[anon:")
        if anon and run and run[-1][1] == m[0]:
            run.append(m)
        else:
            flush()
            if anon:
                run.append(m)
    flush()
    for m in maps:
        fields = m[4]
        kind = fields.get("_kind")
        if kind is None:
            path = m[3]
            if path == "[heap]":
                kind = "brk"
            elif path.startswith("[stack") or path in ("[vvar]", "[vdso]", "[vsyscall]"):
                kind = "stack/vdso"
            elif path and not path.startswith("[anon:"):
                kind = "file"
            elif "x" in m[2]:
                kind = "exec anon"
            else:
                kind = "anon"
        k = kinds.setdefault(kind, {"rss": 0, "size": 0, "n": 0})
        k["rss"] += fields.get("Rss", 0)
        k["size"] += m[1] - m[0]
        k["n"] += 1
    return kinds, regions


# The lines of Envoy's admin /memory/tcmalloc (Google tcmalloc's stats page) reported.
TCMALLOC_LINES = {
    "Bytes in use by application": "in use",
    "Bytes in page heap freelist": "page heap free",
    "Bytes in central cache freelist": "central cache free",
    "Bytes in transfer cache freelist": "transfer cache free",
    "Bytes in thread cache freelists": "thread cache free",
    "Bytes in malloc metadata": "metadata",
    "Actual memory used (physical + swap)": "total",
    "Actual memory used at peak": "peak total",
    "Estimated in-use at peak": "peak in use",
}


def tcmalloc(admin_port):
    """Bytes per line of TCMALLOC_LINES."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/memory/tcmalloc", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line.startswith("MALLOC:"):
            continue
        rest = line[len("MALLOC:"):].strip().lstrip("+=").strip()
        number, _, label = rest.partition(" ")
        label = label.split(")", 1)[-1].strip() if ")" in label else label.strip()
        if label in TCMALLOC_LINES and number.isdigit():
            out[TCMALLOC_LINES[label]] = int(number)
    return out


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            head = line.split()
            if head and head[0].endswith(":") and len(head) >= 2 and head[1].isdigit():
                out[head[0][:-1]] = int(head[1])
    return out


def poke(port, count):
    """`count` GET requests; the answer does not matter (200 or 401)."""
    for _ in range(count):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{bench.PATH}", timeout=5) as r:
                r.read()
        except urllib.error.HTTPError as e:
            e.read()
        except OSError:
            pass


def minimal_config():
    return json.dumps({
        "api_keys": {"basic": True, "clients": [{"id": bench.API_CLIENT, "secret_sha256": "00" * 32}]},
        "rules": [{"path_prefix": "/"}],
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envoy", default=os.environ.get("ENVOY_BIN"))
    parser.add_argument("--wasm", default=os.environ.get("EDGE_AUTH_WASM"))
    parser.add_argument("--passthrough", default=os.environ.get("PASSTHROUGH_WASM"))
    parser.add_argument("--extra", action="append", default=[], help="NAME=PATH: another .wasm, bench configuration")
    parser.add_argument("--only", default="", help="comma-separated configuration names (default: all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="Envoy --concurrency (CPUs 0,1 when > 1)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after the requests")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--release", action="store_true",
                        help="bootstrap memory_allocator_manager: tcmalloc returns free pages to the OS every 0.5 s")
    parser.add_argument("--detail", action="store_true", help="print every mapping with Rss >= 256 kB")
    args = parser.parse_args()

    bench.ensure_cryptography()
    keys = bench.Keys()
    jwks = keys.jwks()
    configs = {
        "baseline": [],
        "passthrough": [bench.wasm_filter("passthrough", os.path.abspath(args.passthrough), None)],
        "edge-bench": [bench.wasm_filter("edge-auth", os.path.abspath(args.wasm), bench.edge_auth_config(jwks, 1024))],
        "edge-min": [bench.wasm_filter("edge-auth", os.path.abspath(args.wasm), minimal_config())],
    }
    for extra in args.extra:
        name, path = extra.split("=", 1)
        plugin = None if name.startswith("passthrough") else bench.edge_auth_config(jwks, 1024)
        configs[name] = [bench.wasm_filter(name.split("-")[0], os.path.abspath(path), plugin)]
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only.split(",")}

    if args.release:
        plain = bench.envoy_yaml

        def releasing(admin_port, listener_port, http_filters):
            config = json.loads(plain(admin_port, listener_port, http_filters))
            config["memory_allocator_manager"] = {"bytes_to_release": 64 * MIB, "memory_release_interval": "0.5s"}
            return json.dumps(config, indent=1)
        bench.envoy_yaml = releasing

    workdir = tempfile.mkdtemp(prefix="edge-auth-memory-")
    results = {name: [] for name in configs}
    try:
        for run in range(args.runs):
            for name, filters in configs.items():
                envoy = bench.Envoy(name, args.envoy, filters, workdir, cpu="0" if args.workers == 1 else "0,1",
                                    workers=args.workers)
                try:
                    envoy.wait_ready()
                    poke(envoy.port, args.requests)
                    time.sleep(args.settle)
                    maps = read_smaps(envoy.pid)
                    kinds, regions = classify(maps)
                    roll = rollup(envoy.pid)
                    tc = tcmalloc(envoy.admin_port)
                    results[name].append({"kinds": kinds, "regions": regions, "rollup": roll, "tc": tc,
                                          "rss": envoy.rss_mib()})
                    if args.detail and run == 0:
                        print(f"--- {name}: mappings with Rss >= 256 kB")
                        for m in maps:
                            if m[4].get("Rss", 0) >= 256:
                                print(f"  {m[0]:x} {(m[1]-m[0])/MIB:12.1f} MiB {m[2]} rss {m[4]['Rss']/1024:7.1f} "
                                      f"{m[4].get('_kind', '')} {m[3]}")
                        for r in regions:
                            print(f"  region {r[0]:x} {r[1]/GIB:.1f} GiB rss {r[2]/1024:.2f} MiB in {r[3]} mappings")
                finally:
                    envoy.stop()
            print(f"memory: run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    all_kinds = sorted({k for rs in results.values() for r in rs for k in r["kinds"]})
    names = list(results)
    print("| MiB (median of %d) | %s |" % (args.runs, " | ".join(names)))
    print("|---|" + "---|" * len(names))

    def med(name, f):
        return statistics.median(f(r) for r in results[name])

    def spread(name):
        values = [r["rss"] for r in results[name]]
        return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    print("| RSS (statm; min–max) | " + " | ".join(spread(n) for n in names) + " |")
    for kind in all_kinds:
        print(f"| {kind} | " + " | ".join(
            f"{med(n, lambda r: r['kinds'].get(kind, {}).get('rss', 0) / 1024):.1f}" for n in names) + " |")
    print("| runs of >= 4 GiB (count) | " + " | ".join(
        f"{med(n, lambda r: len(r['regions'])):.0f}" for n in names) + " |")
    for field in ("Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean"):
        print(f"| rollup {field} | " + " | ".join(
            f"{med(n, lambda r: r['rollup'].get(field, 0) / 1024):.1f}" for n in names) + " |")
    for field in TCMALLOC_LINES.values():
        print(f"| tcmalloc {field} | " + " | ".join(
            f"{med(n, lambda r: r['tc'].get(field, 0) / MIB):.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
