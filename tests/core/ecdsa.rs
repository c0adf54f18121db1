//! edge-auth's own ES256 and ES384 verifier (`crates/edge-auth-crypto/src/ec/`, one code for
//! P-256 and P-384) against RustCrypto `p256` and `p384` 0.14, the verifiers it replaces: on
//! random keys, messages and signatures, on bit flips, on every out-of-range or malformed
//! encoding, and on constructed edge cases (`tests/data/es256_edge_vectors.json` and
//! `es384_edge_vectors.json`, checked against OpenSSL when generated), plus RFC 6979's P-384
//! known answers. The own verifier runs both ways, with the key's table (issuer keys) and without
//! (keys used once); all must agree on every input, and the own one must never accept what the
//! reference refuses. Each check is written once, over [`Family`], and run for both curves.

use crate::fixtures::{hex, hex_array, refuses_bit_flips, Rng};
use edge_auth::jwt::verifiers::{P256VerifyingKey, P384VerifyingKey};

/// One curve's reference crate and own key type, as the checks below use them.
trait Family {
    /// The size of a coordinate, of a scalar and of each half of a signature, in bytes.
    const SIZE: usize;
    /// The order `n` and the field prime `p`, big-endian.
    const N: &'static [u8];
    const P: &'static [u8];
    /// The edge vectors of `tests/data/gen_es256_edge_vectors.py`.
    const EDGE_VECTORS: &'static str;
    type Signing;
    type Reference;
    type Own: Clone;

    /// A signing key from a private scalar, `None` if it is out of range.
    fn signing(private: &[u8]) -> Option<Self::Signing>;
    /// The uncompressed SEC1 encoding of its public key.
    fn public_point(signing: &Self::Signing) -> Vec<u8>;
    /// Its signature of `message`, `r || s`.
    fn sign(signing: &Self::Signing, message: &[u8]) -> Vec<u8>;
    /// The same signature, DER-encoded.
    fn der(signature: &[u8]) -> Vec<u8>;
    /// The reference key from an SEC1 encoding.
    fn reference(sec1: &[u8]) -> Option<Self::Reference>;
    /// The reference's answer (any signature it cannot parse is refused).
    fn reference_verifies(key: &Self::Reference, message: &[u8], signature: &[u8]) -> bool;
    /// The own key from its coordinates, without its table.
    fn own(x: &[u8], y: &[u8]) -> Option<Self::Own>;
    fn own_with_table(key: Self::Own) -> Self::Own;
    fn own_has_table(key: &Self::Own) -> bool;
    fn own_verifies(key: &Self::Own, message: &[u8], signature: &[u8]) -> bool;
}

/// The same few calls on `p256` and `p384` (their APIs are the same), and on the own keys.
macro_rules! family {
    ($family:ident, $crate_:ident, $own:ident, $size:literal, $n:literal, $p:literal, $edge:literal) => {
        struct $family;

        impl Family for $family {
            const SIZE: usize = $size;
            const N: &'static [u8] = &hex_array::<$size>($n);
            const P: &'static [u8] = &hex_array::<$size>($p);
            const EDGE_VECTORS: &'static str = include_str!($edge);
            type Signing = $crate_::ecdsa::SigningKey;
            type Reference = $crate_::ecdsa::VerifyingKey;
            type Own = $own;

            fn signing(private: &[u8]) -> Option<Self::Signing> {
                $crate_::ecdsa::SigningKey::from_slice(private).ok()
            }
            fn public_point(signing: &Self::Signing) -> Vec<u8> {
                signing
                    .verifying_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .to_vec()
            }
            fn sign(signing: &Self::Signing, message: &[u8]) -> Vec<u8> {
                use $crate_::ecdsa::signature::Signer;
                let signature: $crate_::ecdsa::Signature = signing.sign(message);
                signature.to_bytes().to_vec()
            }
            fn der(signature: &[u8]) -> Vec<u8> {
                $crate_::ecdsa::Signature::from_slice(signature)
                    .unwrap()
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
            fn reference(sec1: &[u8]) -> Option<Self::Reference> {
                $crate_::ecdsa::VerifyingKey::from_sec1_bytes(sec1).ok()
            }
            fn reference_verifies(key: &Self::Reference, message: &[u8], signature: &[u8]) -> bool {
                use $crate_::ecdsa::signature::Verifier;
                $crate_::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
            fn own(x: &[u8], y: &[u8]) -> Option<Self::Own> {
                $own::from_coordinates(x, y)
            }
            fn own_with_table(key: Self::Own) -> Self::Own {
                key.with_table()
            }
            fn own_has_table(key: &Self::Own) -> bool {
                key.has_table()
            }
            fn own_verifies(key: &Self::Own, message: &[u8], signature: &[u8]) -> bool {
                key.verify(message, signature)
            }
        }
    };
}

family!(
    P256,
    p256,
    P256VerifyingKey,
    32,
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    "../data/es256_edge_vectors.json"
);
family!(
    P384,
    p384,
    P384VerifyingKey,
    48,
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    "../data/es384_edge_vectors.json"
);

/// The verifiers of one public key: the reference, and the own one with and without its table.
struct Pair<F: Family> {
    reference: F::Reference,
    own: F::Own,
    untabled: F::Own,
}

impl<F: Family> Pair<F> {
    fn new(x: &[u8], y: &[u8]) -> Option<Pair<F>> {
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        let reference = F::reference(&sec1);
        let own = F::own(x, y);
        assert_eq!(
            reference.is_some(),
            own.is_some(),
            "key acceptance differs for x={x:02x?} y={y:02x?}"
        );
        let untabled = own?;
        let own = F::own_with_table(untabled.clone());
        assert!(F::own_has_table(&own) && !F::own_has_table(&untabled));
        Some(Pair {
            reference: reference?,
            own,
            untabled,
        })
    }

    fn of(signing: &F::Signing) -> Pair<F> {
        let point = F::public_point(signing);
        Pair::new(&point[1..=F::SIZE], &point[F::SIZE + 1..]).unwrap()
    }

    /// Both answers, which must agree; the answer.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let reference = F::reference_verifies(&self.reference, message, signature);
        let own = F::own_verifies(&self.own, message, signature);
        assert_eq!(
            own, reference,
            "verifiers disagree: message {message:02x?}, signature {signature:02x?}"
        );
        let untabled = F::own_verifies(&self.untabled, message, signature);
        assert_eq!(
            untabled, reference,
            "untabled verifier disagrees: message {message:02x?}, signature {signature:02x?}"
        );
        own
    }
}

fn signing_key<F: Family>(rng: &mut Rng) -> F::Signing {
    loop {
        if let Some(key) = F::signing(&rng.bytes(F::SIZE)) {
            return key;
        }
    }
}

/// `m - v`, big-endian, for `v <= m` of the same length.
fn subtract(m: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; m.len()];
    let mut borrow = 0i16;
    for i in (0..m.len()).rev() {
        let d = i16::from(m[i]) - i16::from(v[i]) - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

/// `keys` random keys, `per_key` random messages each (a P-384 table costs the tests more than
/// a P-256 one: fewer keys for it, the same 240 signatures).
fn random_keys_and_messages_agree<F: Family>(seed: u64, keys: usize, per_key: usize) {
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for round in 0..keys {
        let signing = signing_key::<F>(&mut rng);
        let pair = Pair::<F>::of(&signing);
        for _ in 0..per_key {
            let len = rng.below(300);
            let message = rng.bytes(len);
            let sig = F::sign(&signing, &message);
            assert!(
                pair.verify(&message, &sig),
                "round {round}: valid signature refused"
            );
            accepted += 1;
            // High s: the same signature with n - s; the reference accepts it, so must we.
            let mut high = sig.clone();
            high[F::SIZE..].copy_from_slice(&subtract(F::N, &sig[F::SIZE..]));
            assert!(pair.verify(&message, &high), "round {round}: n - s refused");
            refuses_bit_flips(&mut rng, round, &message, &sig, |m, s| pair.verify(m, s));
            // A random signature, and another key's signature.
            assert!(!pair.verify(&message, &rng.bytes(2 * F::SIZE)));
            let stranger = F::sign(&signing_key::<F>(&mut rng), &message);
            assert!(!pair.verify(&message, &stranger));
        }
    }
    assert_eq!(accepted, 240);
}

#[test]
fn random_keys_and_messages_agree_with_p256() {
    random_keys_and_messages_agree::<P256>(0x5eed_0001, 40, 6);
}

#[test]
fn random_keys_and_messages_agree_with_p384() {
    random_keys_and_messages_agree::<P384>(0x5eed_0384, 16, 15);
}

/// Q = G, 2G, 3G and -G, -2G: the table sums meet the generator's, so additions double and
/// cancel.
fn small_and_opposite_private_keys_agree<F: Family>(seed: u64) {
    let mut rng = Rng(seed);
    let small = |k: u8| {
        let mut d = vec![0u8; F::SIZE];
        d[F::SIZE - 1] = k;
        d
    };
    let mut privates: Vec<Vec<u8>> = (1u8..=3).map(small).collect();
    privates.push(subtract(F::N, &small(1)));
    privates.push(subtract(F::N, &small(2)));
    for d in privates {
        let signing = F::signing(&d).unwrap();
        let pair = Pair::<F>::of(&signing);
        for _ in 0..10 {
            let message = rng.bytes(40);
            let sig = F::sign(&signing, &message);
            assert!(pair.verify(&message, &sig));
            let mut bad = sig.clone();
            bad[5] ^= 0x10;
            assert!(!pair.verify(&message, &bad));
        }
    }
}

#[test]
fn small_and_opposite_private_keys_agree_with_p256() {
    small_and_opposite_private_keys_agree::<P256>(0x5eed_0002);
}

#[test]
fn small_and_opposite_private_keys_agree_with_p384() {
    small_and_opposite_private_keys_agree::<P384>(0x5eed_0386);
}

fn out_of_range_and_malformed_signatures_are_refused<F: Family>(seed: u64, message: &[u8]) {
    let mut rng = Rng(seed);
    let signing = signing_key::<F>(&mut rng);
    let pair = Pair::<F>::of(&signing);
    let sig = F::sign(&signing, message);
    let size = F::SIZE;
    let (r, s) = (sig[..size].to_vec(), sig[size..].to_vec());
    let zero = vec![0u8; size];
    let ones = vec![0xffu8; size];
    let mut n_plus_1 = F::N.to_vec();
    n_plus_1[size - 1] += 1;
    let mut one = vec![0u8; size];
    one[size - 1] = 1;
    let join = |a: &[u8], b: &[u8]| [a, b].concat();
    let refused = [
        (join(&zero, &s), "r = 0"),
        (join(&r, &zero), "s = 0"),
        (join(&zero, &zero), "r = s = 0"),
        (join(F::N, &s), "r = n"),
        (join(&r, F::N), "s = n"),
        (join(&n_plus_1, &s), "r = n + 1"),
        (join(&r, &n_plus_1), "s = n + 1"),
        (join(F::P, &s), "r = p"),
        (join(&ones, &s), "r = 2^(8 size) - 1"),
        (join(&r, &ones), "s = 2^(8 size) - 1"),
        (join(&one, &one), "r = s = 1"),
        (join(&s, &r), "r and s swapped"),
        (Vec::new(), "empty"),
        (sig[..2 * size - 1].to_vec(), "one byte short"),
        (join(&sig, &[0]), "one byte long"),
        (join(&[0], &sig), "one byte long, leading zero"),
        (F::der(&sig), "DER"),
    ];
    for (bad, what) in refused {
        assert!(!pair.verify(message, &bad), "{what} accepted");
    }
    // The untouched signature still verifies: the refusals above are the changes'.
    assert!(pair.verify(message, &sig));
}

#[test]
fn out_of_range_and_malformed_signatures_are_refused_like_p256() {
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
    out_of_range_and_malformed_signatures_are_refused::<P256>(0x5eed_0003, message);
}

#[test]
fn out_of_range_and_malformed_signatures_are_refused_like_p384() {
    let message = b"eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJhbGljZSJ9";
    out_of_range_and_malformed_signatures_are_refused::<P384>(0x5eed_0387, message);
    // A P-256-sized signature (64 bytes) is not a P-384 one, and the reverse.
    let mut rng = Rng(1);
    let (p256, p384) = (signing_key::<P256>(&mut rng), signing_key::<P384>(&mut rng));
    assert!(!Pair::<P384>::of(&p384).verify(message, &P256::sign(&p256, message)));
    assert!(!Pair::<P256>::of(&p256).verify(message, &P384::sign(&p384, message)));
}

fn malformed_public_keys_are_refused<F: Family>(seed: u64) {
    let mut rng = Rng(seed);
    let signing = signing_key::<F>(&mut rng);
    let size = F::SIZE;
    let point = F::public_point(&signing);
    let (x, y) = (point[1..=size].to_vec(), point[size + 1..].to_vec());
    let mut y_plus_1 = y.clone();
    y_plus_1[size - 1] = y_plus_1[size - 1].wrapping_add(1);
    let zero = vec![0u8; size];
    let ones = vec![0xffu8; size];
    let refused: [(&[u8], &[u8], &str); 9] = [
        (&x, &y_plus_1, "off the curve"),
        (
            &zero,
            &zero,
            "(0, 0): the usual encoding of infinity, not a point",
        ),
        (F::P, &y, "x = p (non-canonical)"),
        (&x, F::P, "y = p"),
        (&ones, &y, "x = 2^(8 size) - 1"),
        (&x[1..], &y, "short x"),
        (&x, &y[..size - 1], "short y"),
        (&[&[0u8][..], &x[..]].concat(), &y, "long x"),
        (&[], &[], "empty"),
    ];
    for (x, y, what) in refused {
        assert!(F::own(x, y).is_none(), "{what}");
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        assert!(F::reference(&sec1).is_none() || x.len() != size, "{what}");
    }
    // Random coordinates are almost never a point; both must say so alike.
    for _ in 0..50 {
        let _ = Pair::<F>::new(&rng.bytes(size), &rng.bytes(size));
    }
    // -Q (y negated) is a point and a different key: it verifies nothing Q signed.
    let negated = Pair::<F>::new(&x, &subtract(F::P, &y)).unwrap();
    let sig = F::sign(&signing, b"m");
    assert!(!negated.verify(b"m", &sig));
}

#[test]
fn malformed_public_keys_are_refused_like_p256() {
    malformed_public_keys_are_refused::<P256>(0x5eed_0004);
}

#[test]
fn malformed_public_keys_are_refused_like_p384() {
    malformed_public_keys_are_refused::<P384>(0x5eed_0388);
}

fn constructed_edge_vectors_agree<F: Family>() {
    let data: serde_json::Value = serde_json::from_str(F::EDGE_VECTORS).unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 50);
    let mut valid = 0;
    for v in vectors {
        let pair = Pair::<F>::new(
            &hex(v["x"].as_str().unwrap()),
            &hex(v["y"].as_str().unwrap()),
        )
        .unwrap();
        let message = hex(v["message"].as_str().unwrap());
        let signature = hex(v["signature"].as_str().unwrap());
        let expected = v["valid"].as_bool().unwrap();
        assert_eq!(
            pair.verify(&message, &signature),
            expected,
            "{}",
            v["comment"]
        );
        valid += usize::from(expected);
    }
    assert!(valid >= 20, "the set must hold valid vectors too");
}

#[test]
fn constructed_edge_vectors_agree_with_openssl_and_p256() {
    constructed_edge_vectors_agree::<P256>();
}

#[test]
fn constructed_edge_vectors_agree_with_openssl_and_p384() {
    constructed_edge_vectors_agree::<P384>();
}

/// RFC 6979 appendix A.2.6: the P-384 key and its SHA-384 signatures of "sample" and "test"
/// (deterministic nonces; the answers as published), and the same with a bit flipped.
#[test]
fn rfc_6979_p384_sha384_known_answers_verify() {
    let x = "ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64def8f0ea9055866064a254515480bc13";
    let y = "8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1288b231c3ae0d4fe7344fd2533264720";
    let pair = Pair::<P384>::new(&hex(x), &hex(y)).unwrap();
    let answers = [
        (
            &b"sample"[..],
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e80fabe46\
             99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e7b82c71a38628ac8",
        ),
        (
            &b"test"[..],
            "8203b63d3c853e8d77227fb377bcf7b7b772e97892a80f36ab775d509d7a5feb0542a7f0812998da8f1dd3ca3cf023db\
             ddd0760448d42d8a43af45af836fce4de8be06b485e9b61b827c2f13173923e06a739f040649a667bf3b828246baa5a5",
        ),
    ];
    for (message, signature) in answers {
        let signature = hex(signature);
        assert!(pair.verify(message, &signature), "{message:?}");
        let mut bad = signature.clone();
        bad[60] ^= 4;
        assert!(!pair.verify(message, &bad), "{message:?}");
        assert!(!pair.verify(b"samplf", &signature));
    }
}
