#!/usr/bin/env python3
"""Generates tests/data/rsa_vectors.json: known-answer vectors for crates/edge-auth-crypto/src/rsa.rs.

Run once at authoring time (needs Python `cryptography`); the output is committed so the
tests need no Python. Signatures come from OpenSSL (through `cryptography`), an independent
implementation. Negative cases follow Wycheproof's spirit: each breaks exactly one rule.
"""
import json
import math
import secrets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

HASHES = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}
DIGEST_INFO = {  # RFC 8017 section 9.2 note 1
    "SHA256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def be(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big").hex()


def raw_sign(priv, em: bytes) -> bytes:
    """Textbook RSA on a hand-made encoded message: for malformed-padding cases."""
    numbers = priv.private_numbers()
    n = numbers.public_numbers.n
    k = (n.bit_length() + 7) // 8
    return pow(int.from_bytes(em, "big"), numbers.d, n).to_bytes(k, "big")


def pkcs1_em(k, hash_name, digest, prefix=None, ps_byte=0xFF, lead=b"\x00\x01"):
    t = (DIGEST_INFO[hash_name] if prefix is None else prefix) + digest
    return lead + bytes([ps_byte]) * (k - len(t) - 3) + b"\x00" + t


def probable_prime(bits):
    while True:
        c = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if all(pow(secrets.randbelow(c - 3) + 2, c - 1, c) == 1 for _ in range(40)) and all(c % p for p in (3, 5, 7, 11, 13)):
            return c


def odd_size_key(e, bits):
    """OpenSSL rounds odd key sizes down; build one of exactly `bits` bits (PSS emLen < k case)."""
    while True:
        p, q = probable_prime(bits // 2 + 1), probable_prime(bits // 2)
        n = p * q
        if n.bit_length() != bits or math.gcd(e, (p - 1) * (q - 1)) != 1:
            continue
        d = pow(e, -1, (p - 1) * (q - 1))
        numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n))
        return numbers.private_key()


def main():
    vectors = []
    keys = []
    message = b"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiJhbGljZSJ9"
    for bits, e in [(2048, 65537), (3072, 65537), (2049, 65537), (2056, 3)]:
        priv = rsa.generate_private_key(public_exponent=e, key_size=bits) if bits % 8 == 0 else odd_size_key(e, bits)
        assert priv.key_size == bits, bits
        pub = priv.public_key().public_numbers()
        k = (pub.n.bit_length() + 7) // 8
        keys.append({"n": be(pub.n), "e": be(pub.e), "bits": pub.n.bit_length()})
        key = len(keys) - 1
        for hash_name, h in HASHES.items():
            for scheme in ["PKCS1", "PSS"]:
                if scheme == "PKCS1":
                    pad = padding.PKCS1v15()
                else:
                    pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
                sig = priv.sign(message, pad, h)
                case = {"key": key, "hash": hash_name, "scheme": scheme, "msg": message.hex()}
                vectors.append({**case, "sig": sig.hex(), "valid": True, "comment": "valid"})
                for bit in [0, 8 * k - 1]:
                    bad = bytearray(sig)
                    bad[bit // 8] ^= 1 << (bit % 8)
                    vectors.append({**case, "sig": bytes(bad).hex(), "valid": False, "comment": f"signature bit {bit} flipped"})
                vectors.append({**case, "msg": (message + b"x").hex(), "sig": sig.hex(), "valid": False, "comment": "message changed"})
                vectors.append({**case, "sig": sig[1:].hex() if sig[0] == 0 else ("00" + sig.hex()), "valid": False, "comment": "signature of the wrong length"})
                vectors.append({**case, "sig": be(pub.n, k), "valid": False, "comment": "signature equal to the modulus"})
                vectors.append({**case, "sig": be(pub.n + int.from_bytes(sig, "big"), k) if pub.n + int.from_bytes(sig, "big") < 256 ** k else "ff" * k, "valid": False, "comment": "signature not reduced modulo n"})
                if scheme == "PSS":
                    other = padding.PSS(mgf=padding.MGF1(h), salt_length=0)
                    vectors.append({**case, "sig": priv.sign(message, other, h).hex(), "valid": False, "comment": "PSS salt length 0 (JWA requires the hash length)"})
                    vectors.append({**case, "sig": priv.sign(message, padding.PKCS1v15(), h).hex(), "valid": False, "comment": "PKCS#1 v1.5 signature offered as PSS"})
                else:
                    digest = hashes.Hash(h)
                    digest.update(message)
                    d = digest.finalize()
                    # DigestInfo without the NULL parameters: a different (non-canonical) encoding.
                    no_null = bytearray(DIGEST_INFO[hash_name])
                    no_null = bytes([0x30, no_null[1] - 2, 0x30, 0x0B]) + bytes(no_null[4:15]) + bytes(no_null[17:])
                    vectors.append({**case, "sig": raw_sign(priv, pkcs1_em(k, hash_name, d, prefix=no_null)).hex(), "valid": False, "comment": "DigestInfo without NULL parameters"})
                    vectors.append({**case, "sig": raw_sign(priv, pkcs1_em(k, hash_name, d, ps_byte=0xFE)).hex(), "valid": False, "comment": "padding byte 0xfe"})
                    vectors.append({**case, "sig": raw_sign(priv, pkcs1_em(k, hash_name, d, lead=b"\x00\x02")).hex(), "valid": False, "comment": "block type 2"})
                    vectors.append({**case, "sig": raw_sign(priv, pkcs1_em(k, hash_name, d)).hex(), "valid": True, "comment": "hand-encoded, same as the library's"})
                    vectors.append({**case, "sig": priv.sign(message, pad, hashes.SHA1()).hex(), "valid": False, "comment": "signed with SHA-1"})
                    vectors.append({**case, "sig": priv.sign(message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h).hex(), "valid": False, "comment": "PSS signature offered as PKCS#1 v1.5"})
    print(json.dumps({"generator": "tests/data/gen_rsa_vectors.py (python cryptography)", "keys": keys, "vectors": vectors}, indent=0))


if __name__ == "__main__":
    main()
