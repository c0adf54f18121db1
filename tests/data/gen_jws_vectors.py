#!/usr/bin/env python3
"""Generates tests/data/jws_vectors.json: known-answer JWS vectors for the EC, EdDSA and HMAC
verifiers in src/jwt/jwks.rs (RSA has its own, larger set: gen_rsa_vectors.py).

Run once at authoring time (needs Python `cryptography`); the output is committed. Each
negative breaks one rule: a flipped bit, a changed payload, a DER (not JOSE r||s) ECDSA
signature, a truncated signature, r or s zero, a signature made with another key.
"""
import base64
import json
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils
import os


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    vectors = []
    payload = b64(json.dumps({"iss": "https://auth.example.com", "sub": "alice", "exp": 1800003600}).encode())
    for alg, curve, h, size in [("ES256", ec.SECP256R1(), hashes.SHA256(), 32), ("ES384", ec.SECP384R1(), hashes.SHA384(), 48)]:
        priv = ec.generate_private_key(curve)
        other = ec.generate_private_key(curve)
        pub = priv.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": curve.name.replace("secp256r1", "P-256").replace("secp384r1", "P-384"),
               "x": b64(pub.x.to_bytes(size, "big")), "y": b64(pub.y.to_bytes(size, "big"))}

        def sign(key, input_, der=False):
            sig = key.sign(input_, ec.ECDSA(h))
            if der:
                return sig
            r, s = utils.decode_dss_signature(sig)
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        add_cases(vectors, alg, jwk, payload, lambda i: sign(priv, i), lambda i: sign(other, i),
                  extra=lambda input_: [
                      (sign(priv, input_, der=True), "DER-encoded signature instead of r||s"),
                      (bytes(size) + sign(priv, input_)[size:], "r = 0"),
                      (sign(priv, input_)[:size] + bytes(size), "s = 0"),
                  ])
    priv = ed25519.Ed25519PrivateKey.generate()
    other = ed25519.Ed25519PrivateKey.generate()
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    add_cases(vectors, "EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}, payload, priv.sign, other.sign)
    for alg, h in [("HS256", hashes.SHA256()), ("HS384", hashes.SHA384()), ("HS512", hashes.SHA512())]:
        secret, other_secret = os.urandom(h.digest_size), os.urandom(h.digest_size)

        def mac(key, input_):
            m = hmac.HMAC(key, h)
            m.update(input_)
            return m.finalize()

        add_cases(vectors, alg, {"kty": "oct", "k": b64(secret)}, payload,
                  lambda i, s=secret: mac(s, i), lambda i, s=other_secret: mac(s, i))
    print(json.dumps({"generator": "tests/data/gen_jws_vectors.py (python cryptography)", "vectors": vectors}, indent=0))


def add_cases(vectors, alg, jwk, payload, sign, sign_other, extra=None):
    header = b64(json.dumps({"alg": alg}).encode())
    input_ = f"{header}.{payload}".encode()
    sig = sign(input_)

    def case(signature, valid, comment, signing_input=input_):
        vectors.append({"alg": alg, "jwk": jwk, "token": f"{signing_input.decode()}.{b64(signature)}", "valid": valid, "comment": comment})

    case(sig, True, "valid")
    for bit in [0, len(sig) * 4 + 3, len(sig) * 8 - 1]:
        bad = bytearray(sig)
        bad[bit // 8] ^= 1 << (bit % 8)
        case(bytes(bad), False, f"signature bit {bit} flipped")
    changed = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}".encode()
    case(sig, False, "payload changed", signing_input=changed)
    case(sig[:-1], False, "signature truncated")
    case(sign_other(input_), False, "signed with another key")
    for signature, comment in (extra(input_) if extra else []):
        case(signature, False, comment)


if __name__ == "__main__":
    main()
