//! edge-auth's own ES256 verifier (`crates/edge-auth-crypto/src/ec/`) against RustCrypto `p256` 0.14, the verifier it
//! replaces: on random keys, messages and signatures, on bit flips, on every out-of-range or
//! malformed encoding, and on constructed edge cases (`tests/data/es256_edge_vectors.json`,
//! checked against OpenSSL when generated). The own verifier runs both ways, with the key's table
//! (issuer keys) and without (keys used once); all must agree on every input, and the own one
//! must never accept what `p256` refuses.

use crate::fixtures::{hex, hex32, refuses_bit_flips, Rng};
use edge_auth::jwt::verifiers::P256VerifyingKey;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// The order `n` and the field prime `p`, big-endian.
const N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

/// The verifiers of one public key: the reference, and the own one with and without its table.
struct Pair {
    reference: VerifyingKey,
    own: P256VerifyingKey,
    untabled: P256VerifyingKey,
}

impl Pair {
    fn new(x: &[u8], y: &[u8]) -> Option<Pair> {
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        let reference = VerifyingKey::from_sec1_bytes(&sec1).ok();
        let own = P256VerifyingKey::from_coordinates(x, y);
        assert_eq!(
            reference.is_some(),
            own.is_some(),
            "key acceptance differs for x={x:02x?} y={y:02x?}"
        );
        let untabled = own?;
        let own = untabled.clone().with_table();
        assert!(own.has_table() && !untabled.has_table());
        Some(Pair {
            reference: reference?,
            own,
            untabled,
        })
    }

    fn of(signing: &SigningKey) -> Pair {
        let point = signing.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        Pair::new(&bytes[1..33], &bytes[33..65]).unwrap()
    }

    /// Both answers, which must agree; the answer.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let reference = Signature::from_slice(signature)
            .is_ok_and(|sig| self.reference.verify(message, &sig).is_ok());
        let own = self.own.verify(message, signature);
        assert_eq!(
            own, reference,
            "verifiers disagree: message {message:02x?}, signature {signature:02x?}"
        );
        let untabled = self.untabled.verify(message, signature);
        assert_eq!(
            untabled, reference,
            "untabled verifier disagrees: message {message:02x?}, signature {signature:02x?}"
        );
        own
    }
}

fn signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_slice(&rng.bytes(32)) {
            return key;
        }
    }
}

/// `n - s`, big-endian.
fn negate_mod_n(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

#[test]
fn random_keys_and_messages_agree_with_p256() {
    let mut rng = Rng(0x5eed_0001);
    let mut accepted = 0;
    for round in 0..40 {
        let signing = signing_key(&mut rng);
        let pair = Pair::of(&signing);
        for _ in 0..6 {
            let len = rng.below(300);
            let message = rng.bytes(len);
            let signature: Signature = signing.sign(&message);
            let sig = signature.to_bytes().to_vec();
            assert!(
                pair.verify(&message, &sig),
                "round {round}: valid signature refused"
            );
            accepted += 1;
            // High s: the same signature with n - s; p256 accepts it, so must we.
            let mut high = sig.clone();
            high[32..].copy_from_slice(&negate_mod_n(&sig[32..]));
            assert!(pair.verify(&message, &high), "round {round}: n - s refused");
            refuses_bit_flips(&mut rng, round, &message, &sig, |m, s| pair.verify(m, s));
            // A random signature, and another key's signature.
            assert!(!pair.verify(&message, &rng.bytes(64)));
            let stranger: Signature = signing_key(&mut rng).sign(&message);
            assert!(!pair.verify(&message, &stranger.to_bytes()));
        }
    }
    assert_eq!(accepted, 240);
}

#[test]
fn small_and_opposite_private_keys_agree_with_p256() {
    // Q = G, 2G, 3G and -G, -2G: the table sums meet the generator's, so additions double
    // and cancel.
    let mut rng = Rng(0x5eed_0002);
    let n_minus = |k: u8| {
        let mut d = N;
        d[31] -= k;
        d
    };
    let mut privates: Vec<[u8; 32]> = (1u8..=3)
        .map(|k| {
            let mut d = [0u8; 32];
            d[31] = k;
            d
        })
        .collect();
    privates.push(n_minus(1));
    privates.push(n_minus(2));
    for d in privates {
        let signing = SigningKey::from_slice(&d).unwrap();
        let pair = Pair::of(&signing);
        for _ in 0..10 {
            let message = rng.bytes(40);
            let sig = Signature::to_bytes(&signing.sign(&message)).to_vec();
            assert!(pair.verify(&message, &sig));
            let mut bad = sig.clone();
            bad[5] ^= 0x10;
            assert!(!pair.verify(&message, &bad));
        }
    }
}

#[test]
fn out_of_range_and_malformed_signatures_are_refused_like_p256() {
    let mut rng = Rng(0x5eed_0003);
    let signing = signing_key(&mut rng);
    let pair = Pair::of(&signing);
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
    let sig = Signature::to_bytes(&signing.sign(message)).to_vec();
    let (r, s) = (sig[..32].to_vec(), sig[32..].to_vec());
    let zero = vec![0u8; 32];
    let ones = vec![0xffu8; 32];
    let mut n_plus_1 = N.to_vec();
    n_plus_1[31] += 1;
    let mut one = vec![0u8; 32];
    one[31] = 1;
    let join = |a: &[u8], b: &[u8]| [a, b].concat();
    let refused = [
        (join(&zero, &s), "r = 0"),
        (join(&r, &zero), "s = 0"),
        (join(&zero, &zero), "r = s = 0"),
        (join(&N, &s), "r = n"),
        (join(&r, &N), "s = n"),
        (join(&n_plus_1, &s), "r = n + 1"),
        (join(&r, &n_plus_1), "s = n + 1"),
        (join(&P, &s), "r = p"),
        (join(&ones, &s), "r = 2^256 - 1"),
        (join(&r, &ones), "s = 2^256 - 1"),
        (join(&one, &one), "r = s = 1"),
        (join(&s, &r), "r and s swapped"),
        (Vec::new(), "empty"),
        (sig[..63].to_vec(), "63 bytes"),
        (join(&sig, &[0]), "65 bytes"),
        (join(&[0], &sig), "65 bytes, leading zero"),
        (
            Signature::from_slice(&sig)
                .unwrap()
                .to_der()
                .as_bytes()
                .to_vec(),
            "DER",
        ),
    ];
    for (bad, what) in refused {
        assert!(!pair.verify(message, &bad), "{what} accepted");
    }
    // The untouched signature still verifies: the refusals above are the changes'.
    assert!(pair.verify(message, &sig));
}

#[test]
fn malformed_public_keys_are_refused_like_p256() {
    let mut rng = Rng(0x5eed_0004);
    let signing = signing_key(&mut rng);
    let point = signing.verifying_key().to_sec1_point(false);
    let (x, y) = (
        point.as_bytes()[1..33].to_vec(),
        point.as_bytes()[33..].to_vec(),
    );
    let mut y_plus_1 = y.clone();
    y_plus_1[31] = y_plus_1[31].wrapping_add(1);
    let zero = vec![0u8; 32];
    let refused: [(&[u8], &[u8], &str); 9] = [
        (&x, &y_plus_1, "off the curve"),
        (
            &zero,
            &zero,
            "(0, 0): the usual encoding of infinity, not a point",
        ),
        (&P, &y, "x = p (non-canonical)"),
        (&x, &P, "y = p"),
        (&[0xff; 32], &y, "x = 2^256 - 1"),
        (&x[1..], &y, "31-byte x"),
        (&x, &y[..31], "31-byte y"),
        (&[&[0u8][..], &x[..]].concat(), &y, "33-byte x"),
        (&[], &[], "empty"),
    ];
    for (x, y, what) in refused {
        assert!(P256VerifyingKey::from_coordinates(x, y).is_none(), "{what}");
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        assert!(
            VerifyingKey::from_sec1_bytes(&sec1).is_err() || x.len() != 32,
            "{what}"
        );
    }
    // Random coordinates are almost never a point; both must say so alike.
    for _ in 0..50 {
        let _ = Pair::new(&rng.bytes(32), &rng.bytes(32));
    }
    // -Q (y negated) is a point and a different key: it verifies nothing Q signed.
    let mut neg_y = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(P[i]) - i16::from(y[i]) - borrow;
        neg_y[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    let negated = Pair::new(&x, &neg_y).unwrap();
    let sig = Signature::to_bytes(&signing.sign(b"m")).to_vec();
    assert!(!negated.verify(b"m", &sig));
}

#[test]
fn constructed_edge_vectors_agree_with_openssl_and_p256() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../data/es256_edge_vectors.json")).unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 50);
    let mut valid = 0;
    for v in vectors {
        let pair = Pair::new(
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
