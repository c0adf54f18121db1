#!/usr/bin/env python3
"""Generates tests/data/es256_edge_vectors.json (and, with `p384`, es384_edge_vectors.json):
ES256/ES384 cases that random signatures never reach, for the differential tests of
crates/edge-auth-crypto/src/ec/ (tests/core/es256.rs, es384.rs), in the spirit of Wycheproof.

Run once at authoring time (needs Python `cryptography`); the output is committed. The curve
arithmetic below is plain affine Python (independent of both verifiers under test); every
vector's expected answer is also checked here against OpenSSL through `cryptography`.

  - x(R) >= n: a public key made so that R = u1*G + u2*Q has an x-coordinate in [n, p), so
    r = x(R) - n. Valid (x(R) mod n == r). The same with r = x(R) itself is refused (r >= n).
  - R = infinity: a key Q = -(e/r)*G makes u1*G + u2*Q the point at infinity for every s:
    refused.
  - Q = G and Q = -G (private key 1 and n-1), valid and high-s signatures.
"""
import hashlib
import json
import secrets
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

CURVES = {
    "p256": dict(
        P=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        N=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        B=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        G=(0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
           0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5),
        size=32, curve=ec.SECP256R1(), hash=hashes.SHA256(), digest=hashlib.sha256,
        message=b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4KFIpID49IG4ifQ",
        out="tests/data/es256_edge_vectors.json"),
    "p384": dict(
        P=2**384 - 2**128 - 2**96 + 2**32 - 1,
        N=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        B=0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        G=(0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
           0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F),
        size=48, curve=ec.SECP384R1(), hash=hashes.SHA384(), digest=hashlib.sha384,
        message=b"eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ4KFIpID49IG4ifQ",
        out="tests/data/es384_edge_vectors.json"),
}
CURVE = CURVES[sys.argv[1] if len(sys.argv) > 1 else "p256"]
P, N, B, G = CURVE["P"], CURVE["N"], CURVE["B"], CURVE["G"]


def add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0]:
        if (a[1] + b[1]) % P == 0:
            return None
        lam = (3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def mul(k, point):
    result = None
    for bit in bin(k % N)[2:]:
        result = add(result, result)
        if bit == "1":
            result = add(result, point)
    return result


def neg(point):
    return (point[0], (-point[1]) % P)


def sqrt(a):
    # p = 3 mod 4 (both curves)
    root = pow(a, (P + 1) // 4, P)
    return root if root * root % P == a % P else None


def to_hex(n):
    return n.to_bytes(CURVE["size"], "big").hex()


def openssl_verifies(q, message, r, s):
    if r <= 0 or s <= 0 or r >= N or s >= N:
        return False
    key = ec.EllipticCurvePublicNumbers(q[0], q[1], CURVE["curve"]).public_key()
    try:
        key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(CURVE["hash"]))
        return True
    except InvalidSignature:
        return False


def main():
    vectors = []

    def push(comment, q, message, r, s, valid):
        assert openssl_verifies(q, message, r, s) == valid, comment
        vectors.append({"comment": comment, "x": to_hex(q[0]), "y": to_hex(q[1]),
                        "message": message.hex(), "signature": to_hex(r) + to_hex(s), "valid": valid})

    message = CURVE["message"]
    e = int.from_bytes(CURVE["digest"](message).digest(), "big") % N
    # x(R) in [n, p): R = (n + t, y) for the first t that gives a point.
    t = 1
    while sqrt((pow(N + t, 3, P) - 3 * (N + t) + B) % P) is None:
        t += 1
    x_r = N + t
    R = (x_r, sqrt((pow(x_r, 3, P) - 3 * x_r + B) % P))
    for _ in range(3):
        s = secrets.randbelow(N - 1) + 1
        r = x_r - N
        # s*R = e*G + r*Q  =>  Q = r^-1 (s*R - e*G)
        Q = mul(pow(r, -1, N), add(mul(s, R), neg(mul(e, G))))
        push("x(R) >= n: r = x(R) - n verifies", Q, message, r, s, True)
        push("x(R) >= n: r = x(R) itself (r >= n) is refused", Q, message, x_r, s, False)
        push("x(R) >= n: n - s (R negated, same x) also verifies", Q, message, r, N - s, True)
    # R = infinity
    for _ in range(3):
        r = secrets.randbelow(N - 1) + 1
        s = secrets.randbelow(N - 1) + 1
        Q = neg(mul(e * pow(r, -1, N), G))
        push("u1*G + u2*Q is the point at infinity", Q, message, r, s, False)
    # Q = G and Q = -G, with RFC 6979-independent random nonces.
    for d, name in ((1, "Q = G"), (N - 1, "Q = -G"), (2, "Q = 2G")):
        Q = mul(d, G)
        for _ in range(4):
            k = secrets.randbelow(N - 1) + 1
            r = mul(k, G)[0] % N
            s = pow(k, -1, N) * (e + r * d) % N
            push(f"{name}: valid", Q, message, r, s, True)
            push(f"{name}: high s (n - s) is also valid", Q, message, r, N - s, True)
            push(f"{name}: s + 1", Q, message, r, (s + 1) % N or 1, False)
        # Nonce 1 and n-1: R = G or -G, so the sum may pass through Q itself.
        for k in (1, N - 1, 2):
            r = mul(k, G)[0] % N
            s = pow(k, -1, N) * (e + r * d) % N
            push(f"{name}: nonce {k if k < 3 else 'n-1'}", Q, message, r, s, True)
    with open(CURVE["out"], "w") as f:
        generator = "tests/data/gen_es256_edge_vectors.py" + (" p384" if CURVE["size"] == 48 else "")
        json.dump({"generator": generator, "vectors": vectors}, f, indent=1)
        f.write("\n")
    print(f"{len(vectors)} vectors")


if __name__ == "__main__":
    main()
