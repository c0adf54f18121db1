#!/usr/bin/env python3
"""Builds the edge-auth Wasm OCI image, reproducibly and without a container daemon.

    python3 dist/oci_image.py --wasm edge_auth.wasm --version 0.1.0 --layout DIR [--tag TAG]
                              [--archive FILE.tar] [--digest-file FILE]

Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
to DIR: `oci-layout`, `index.json` (the manifest, named TAG, default the version) and
`blobs/sha256/...`. With --archive, also the same layout as one tar file (skopeo's and podman's
`oci-archive:` transport). Prints the manifest digest, the name Istio, Envoy Gateway and
registries pin an image by.

Image variant: the "compat" Wasm image that Istio's WasmPlugin and Envoy Gateway's
EnvoyExtensionPolicy both pull: an OCI image manifest with one gzipped tar layer holding a
single file, `plugin.wasm`, and an ordinary image config. It is the variant `docker build`
of `FROM scratch / COPY plugin.wasm ./` gives, so any registry and image tool handles it.

Reproducible: the same .wasm and version give the same bytes and so the same digests. Every
timestamp is 0 (tar mtime, gzip header), owners are 0/0 without names, modes are fixed, the
gzip header carries no file name, JSON is written with sorted keys and no spaces, and no
creation date is recorded. Python standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
# The file name Istio's and Envoy Gateway's image fetchers look for in the layer.
PLUGIN_FILE = "plugin.wasm"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def tar_entry(name, data=None):
    """A TarInfo with fixed metadata: a file (data given) or a directory."""
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = len(data)
        info.mode = 0o644
    return info


def tar_bytes(entries):
    """An uncompressed ustar archive of (name, bytes or None for a directory), in that order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tar_entry(name, data)
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buffer.getvalue()


def gzip_bytes(data):
    buffer = io.BytesIO()
    # filename="" and mtime=0: nothing of the build machine or time in the gzip header.
    with gzip.GzipFile(filename="", fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def build(wasm, version, tag):
    """The image's blobs ({digest: bytes}), its index.json bytes and the manifest digest."""
    layer_tar = tar_bytes([(PLUGIN_FILE, wasm)])
    layer = gzip_bytes(layer_tar)
    config = canonical_json(
        {
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": sha256(layer), "size": len(layer)}],
            "annotations": {
                "org.opencontainers.image.title": "edge-auth",
                "org.opencontainers.image.description": "edge-auth proxy-wasm HTTP filter for Envoy",
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.licenses": "Apache-2.0",
            },
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
    )
    blobs = {sha256(data): data for data in (layer, config, manifest)}
    return blobs, index, sha256(manifest)


def layout_files(blobs, index):
    """The layout as (relative path, bytes or None for a directory), in archive order."""
    files = [
        ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index),
        ("blobs", None),
        ("blobs/sha256", None),
    ]
    for digest in sorted(blobs):
        files.append(("blobs/sha256/" + digest.split(":", 1)[1], blobs[digest]))
    return files


def write_layout(directory, files):
    if os.path.exists(directory) and os.listdir(directory):
        raise SystemExit(f"{directory} exists and is not empty; remove it first")
    os.makedirs(directory, exist_ok=True)
    for name, data in files:
        path = os.path.join(directory, name)
        if data is None:
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as out:
                out.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wasm", required=True, help="the .wasm module")
    parser.add_argument("--version", required=True, help="the release version (Cargo.toml)")
    parser.add_argument("--tag", help="the tag in index.json (default: the version)")
    parser.add_argument("--layout", required=True, help="directory for the OCI image layout")
    parser.add_argument("--archive", help="also write the layout as this tar file")
    parser.add_argument("--digest-file", help="also write the manifest digest to this file")
    args = parser.parse_args()

    with open(args.wasm, "rb") as f:
        wasm = f.read()
    if not wasm.startswith(b"\0asm"):
        raise SystemExit(f"{args.wasm} is not a WebAssembly module")
    tag = args.tag or args.version
    blobs, index, digest = build(wasm, args.version, tag)
    files = layout_files(blobs, index)
    write_layout(args.layout, files)
    if args.archive:
        with open(args.archive, "wb") as out:
            out.write(tar_bytes(files))
    if args.digest_file:
        with open(args.digest_file, "w") as out:
            out.write(digest + "\n")
    print(f"OCI image layout {args.layout} (tag {tag}, module {sha256(wasm)})")
    print(f"manifest digest: {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
