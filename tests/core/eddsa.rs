//! edge-auth's own Ed25519 verifier (`crates/edge-auth-crypto/src/ed25519/`) against `ed25519-compact` 2.6, the
//! verifier it replaces: on random keys, messages and signatures, on bit flips of each, on the
//! RFC 8032 vectors, and on every out-of-range or malformed encoding (`S` at or past the
//! order, non-canonical `R` and `A`, small-order points, wrong lengths). The own verifier runs
//! both ways, with the key's table (issuer keys) and without (keys used once); all must agree
//! on every input, and the own one must never accept what `ed25519-compact` refuses. Torsion
//! components in `R` and in the key (the cofactored equation) are tested beside the code
//! (`crates/edge-auth-crypto/src/ed25519/verify.rs`), where points can be added.

use crate::fixtures::{hex, hex32, refuses_bit_flips, Rng};
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use edge_auth::jwt::verifiers::Ed25519VerifyingKey;

/// The order `L` and the field prime `p`, little-endian.
const L: [u8; 32] = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
const P: [u8; 32] = hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

/// The verifiers of one public key (any 32 bytes): the reference, and the own one with and
/// without its table.
struct Pair {
    reference: PublicKey,
    own: Ed25519VerifyingKey,
    untabled: Ed25519VerifyingKey,
}

impl Pair {
    fn new(key: &[u8]) -> Option<Pair> {
        Pair::build(key, true)
    }

    /// The same without building the table (both own verifiers table-less): for the many
    /// one-off keys below, whose tables would cost more than the checks.
    fn untabled(key: &[u8]) -> Option<Pair> {
        Pair::build(key, false)
    }

    fn build(key: &[u8], table: bool) -> Option<Pair> {
        let reference = PublicKey::from_slice(key).ok();
        let untabled = Ed25519VerifyingKey::from_bytes(key);
        assert_eq!(
            reference.is_some(),
            untabled.is_some(),
            "key acceptance differs for {key:02x?}"
        );
        let untabled = untabled?;
        // Usable exactly when ed25519-compact's own key check passes.
        assert_eq!(
            untabled.is_usable(),
            reference?.validate().is_ok(),
            "usability differs for {key:02x?}"
        );
        if !table {
            return Some(Pair {
                reference: reference?,
                own: untabled.clone(),
                untabled,
            });
        }
        let own = untabled.clone().with_table();
        assert_eq!(own.has_table(), own.is_usable());
        assert!(!untabled.has_table());
        Some(Pair {
            reference: reference?,
            own,
            untabled,
        })
    }

    fn of(pair: &KeyPair) -> Pair {
        Pair::new(&pair.pk[..]).unwrap()
    }

    /// All three answers, which must agree; the answer.
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

fn key_pair(rng: &mut Rng) -> KeyPair {
    KeyPair::from_seed(Seed::from_slice(&rng.bytes(32)).unwrap())
}

fn sign(pair: &KeyPair, message: &[u8]) -> Vec<u8> {
    pair.sk.sign(message, None).to_vec()
}

/// `a + b` of two 32-byte little-endian numbers (mod 2^256).
fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut carry = 0u16;
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let sum = u16::from(*x) + u16::from(*y) + carry;
            carry = sum >> 8;
            sum as u8
        })
        .collect()
}

#[test]
fn random_keys_and_messages_agree_with_ed25519_compact() {
    let mut rng = Rng(0xed25_5190_0001);
    let mut accepted = 0;
    for round in 0..40 {
        let pair = key_pair(&mut rng);
        let verifiers = Pair::of(&pair);
        for _ in 0..6 {
            let len = rng.below(300);
            let message = rng.bytes(len);
            let sig = sign(&pair, &message);
            assert!(
                verifiers.verify(&message, &sig),
                "round {round}: valid signature refused"
            );
            accepted += 1;
            refuses_bit_flips(&mut rng, round, &message, &sig, |m, s| {
                verifiers.verify(m, s)
            });
            // A flipped bit of the key: another key (or none), which must refuse.
            let mut key = pair.pk.to_vec();
            let bit = rng.below(256);
            key[bit / 8] ^= 1 << (bit % 8);
            assert!(!Pair::untabled(&key).unwrap().verify(&message, &sig));
            // A random signature, and another key's signature.
            assert!(!verifiers.verify(&message, &rng.bytes(64)));
            assert!(!verifiers.verify(&message, &sign(&key_pair(&mut rng), &message)));
        }
    }
    assert_eq!(accepted, 240);
}

#[test]
fn rfc8032_vectors_verify() {
    // RFC 8032 section 7.1, TEST 1, 2, 3 and SHA(abc): public key, message, signature.
    let vectors = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];
    for (key, message, signature) in vectors {
        let pair = Pair::new(&hex(key)).unwrap();
        let (message, signature) = (hex(message), hex(signature));
        assert!(pair.verify(&message, &signature), "{key}");
        let mut bad = signature.clone();
        bad[63] ^= 0x01;
        assert!(!pair.verify(&message, &bad), "{key}");
    }
}

#[test]
fn out_of_range_and_malformed_signatures_are_refused_like_ed25519_compact() {
    let mut rng = Rng(0xed25_5190_0002);
    let pair = key_pair(&mut rng);
    let verifiers = Pair::of(&pair);
    let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9";
    let sig = sign(&pair, message);
    let (r, s) = (sig[..32].to_vec(), sig[32..].to_vec());
    let join = |a: &[u8], b: &[u8]| [a, b].concat();
    let zero = vec![0u8; 32];
    let mut identity = vec![0u8; 32];
    identity[0] = 1;
    let mut l_minus_1 = L.to_vec();
    l_minus_1[0] -= 1;
    let mut l_plus_1 = L.to_vec();
    l_plus_1[0] += 1;
    let mut high_bit = s.clone();
    high_bit[31] |= 0x80;
    let mut high_bits = s.clone();
    high_bits[31] |= 0xe0;
    let mut p_plus_1 = P.to_vec();
    p_plus_1[0] += 1;
    let mut r_sign = r.clone();
    r_sign[31] ^= 0x80;
    let refused = [
        (join(&r, &zero), "s = 0"),
        (join(&r, &L), "s = L"),
        (join(&r, &l_plus_1), "s = L + 1"),
        (join(&r, &l_minus_1), "s = L - 1"),
        (join(&r, &add_le(&s, &L)), "s + L (same value mod L)"),
        (join(&r, &[0xff; 32]), "s = 2^256 - 1"),
        (join(&r, &high_bit), "s with bit 255 set"),
        (join(&r, &high_bits), "s with the top three bits set"),
        (join(&identity, &zero), "R = identity, s = 0"),
        (join(&zero, &s), "R = 0 (a point of order 4)"),
        (join(&P, &s), "R = p (non-canonical 0)"),
        (join(&p_plus_1, &s), "R = p + 1 (non-canonical identity)"),
        (join(&r_sign, &s), "R with its sign bit flipped"),
        (join(&s, &r), "R and s swapped"),
        (Vec::new(), "empty"),
        (sig[..63].to_vec(), "63 bytes"),
        (join(&sig, &[0]), "65 bytes"),
        (join(&[0], &sig), "65 bytes, leading zero"),
        (sig[..32].to_vec(), "R alone"),
    ];
    for (bad, what) in refused {
        assert!(!verifiers.verify(message, &bad), "{what} accepted");
    }
    // Every encoding of y >= p, with and without the sign bit, as R.
    for low in 0xed..=0xff {
        for sign in [0, 0x80] {
            let mut e = P.to_vec();
            e[0] = low;
            e[31] |= sign;
            assert!(!verifiers.verify(message, &join(&e, &s)), "R = {e:02x?}");
        }
    }
    // The untouched signature still verifies: the refusals above are the changes'.
    assert!(verifiers.verify(message, &sig));
}

#[test]
fn malformed_small_order_and_odd_keys_are_judged_like_ed25519_compact() {
    let mut rng = Rng(0xed25_5190_0003);
    // Small-order points (the eight of order dividing 8), non-canonical encodings (y >= p),
    // x = 0 with the sign bit, points off the curve: each loads (32 bytes) and verifies
    // nothing, for the forgery R = identity, s = 0 and for a real signature alike.
    let order_8 = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";
    let order_8_neg = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a";
    let mut keys: Vec<Vec<u8>> = vec![
        hex("0100000000000000000000000000000000000000000000000000000000000000"),
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex("0000000000000000000000000000000000000000000000000000000000000000"),
        hex("0000000000000000000000000000000000000000000000000000000000000080"),
        hex(order_8),
        hex(order_8_neg),
        hex("0100000000000000000000000000000000000000000000000000000000000080"),
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        hex("0200000000000000000000000000000000000000000000000000000000000000"),
    ];
    for key in [hex(order_8), hex(order_8_neg)] {
        let mut signed = key.clone();
        signed[31] |= 0x80;
        keys.push(signed);
    }
    for low in 0xed..=0xff {
        for sign in [0, 0x80] {
            let mut e = P.to_vec();
            e[0] = low;
            e[31] |= sign;
            keys.push(e);
        }
    }
    let mut forged = vec![0u8; 64];
    forged[0] = 1;
    let honest = key_pair(&mut rng);
    let message = b"any message";
    let real = sign(&honest, message);
    for key in &keys {
        let pair = Pair::new(key).unwrap();
        assert!(!pair.own.is_usable(), "{key:02x?} usable");
        assert!(!pair.verify(message, &forged), "{key:02x?}");
        assert!(!pair.verify(message, &real), "{key:02x?}");
        // Small-order R with s = 0 under such a key, for every small-order R.
        for r in keys.iter().take(6) {
            assert!(!pair.verify(message, &[&r[..], &[0u8; 32]].concat()));
        }
    }
    // Wrong lengths are refused by both when the key is made.
    for len in [0, 31, 33, 64] {
        assert!(Pair::new(&rng.bytes(len)).is_none());
    }
    // Random 32 bytes are a point about half the time; both must say which alike, and agree
    // on signatures under them.
    for i in 0..100 {
        let key = rng.bytes(32);
        let pair = if i % 10 == 0 {
            Pair::new(&key)
        } else {
            Pair::untabled(&key)
        }
        .unwrap();
        let sig = rng.bytes(64);
        pair.verify(message, &sig);
        pair.verify(message, &real);
    }
}

#[test]
fn small_order_r_is_refused_under_a_good_key_like_ed25519_compact() {
    let mut rng = Rng(0xed25_5190_0004);
    let pair = key_pair(&mut rng);
    let verifiers = Pair::of(&pair);
    let message = b"m";
    let small = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ];
    for r in small {
        for _ in 0..4 {
            let mut s = rng.bytes(32);
            s[31] &= 0x0f;
            assert!(!verifiers.verify(message, &[hex(r), s].concat()), "R = {r}");
        }
        assert!(
            !verifiers.verify(message, &[hex(r), vec![0; 32]].concat()),
            "R = {r}, s = 0"
        );
    }
}
