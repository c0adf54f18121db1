//! Verifies one ES256 JWS (from tests/data/jws_vectors.json) with p256 0.13, 0.14 and edge-auth's
//! own verifier and prints the median microseconds per verify over batches, after checking all
//! accept it and reject a flipped bit. The key is parsed once for the "prepared" figures, as
//! the filter does (edge-auth builds its key table then). The same for ES384 (p384 0.14 against
//! edge-auth's own P-384) and EdDSA (ed25519-compact against edge-auth's own), on inputs signed
//! here.

use std::time::Instant;

const X: &str = "760c068a65c6b50d3352843e3dfc146aa737b8e4254db84a1109a912f37ff735";
const Y: &str = "90602f0fafabf297cb83f7c78622a98a611f6e803ddf5c9929171d6d9bf25dc6";
const MESSAGE: &str = "eyJhbGciOiAiRVMyNTYifQ.eyJpc3MiOiAiaHR0cHM6Ly9hdXRoLmV4YW1wbGUuY29tIiwgInN1YiI6ICJhbGljZSIsICJleHAiOiAxODAwMDAzNjAwfQ";
const SIGNATURE: &str = "db063bb74b06e1b92f791daa5d9f6bb5d86dcb23866fc507e2e99c9be625a0553ef11b52d34d86c373b81fd46069c8fac683dd5dbabdb890600d1b7397961972";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| text.get(2 * i..2 * i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

fn v13(point: &[u8], sig: &[u8]) -> bool {
    use p256_13::ecdsa::signature::Verifier;
    let (Ok(key), Ok(sig)) = (
        p256_13::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p256_13::ecdsa::Signature::from_slice(sig),
    ) else {
        return false;
    };
    key.verify(MESSAGE.as_bytes(), &sig).is_ok()
}

fn v14(point: &[u8], sig: &[u8]) -> bool {
    use p256_14::ecdsa::signature::Verifier;
    let (Ok(key), Ok(sig)) = (
        p256_14::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p256_14::ecdsa::Signature::from_slice(sig),
    ) else {
        return false;
    };
    key.verify(MESSAGE.as_bytes(), &sig).is_ok()
}

fn v14_prepared(key: &p256_14::ecdsa::VerifyingKey, sig: &[u8]) -> bool {
    use p256_14::ecdsa::signature::Verifier;
    p256_14::ecdsa::Signature::from_slice(sig)
        .is_ok_and(|sig| key.verify(MESSAGE.as_bytes(), &sig).is_ok())
}

fn median_us(f: &dyn Fn() -> bool) -> f64 {
    let mut batches = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        for _ in 0..20 {
            assert!(f());
        }
        batches.push(start.elapsed().as_secs_f64() * 1e6 / 20.0);
    }
    batches.sort_by(f64::total_cmp);
    batches[4]
}

fn main() {
    let mut point = vec![4u8];
    point.extend(unhex(X));
    point.extend(unhex(Y));
    let sig = unhex(SIGNATURE);
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert!(v13(&point, &sig) && v14(&point, &sig));
    assert!(!v13(&point, &bad) && !v14(&point, &bad));
    let key14 = p256_14::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let start = Instant::now();
    let own =
        edge_auth::jwt::verifiers::P256VerifyingKey::from_coordinates(&point[1..33], &point[33..])
            .unwrap()
            .with_table();
    let own_key_us = start.elapsed().as_secs_f64() * 1e6;
    let one_off =
        edge_auth::jwt::verifiers::P256VerifyingKey::from_coordinates(&point[1..33], &point[33..])
            .unwrap();
    assert!(own.verify(MESSAGE.as_bytes(), &sig) && !own.verify(MESSAGE.as_bytes(), &bad));
    assert!(one_off.verify(MESSAGE.as_bytes(), &sig) && !one_off.verify(MESSAGE.as_bytes(), &bad));
    for round in 0..3 {
        let a = median_us(&|| v13(&point, &sig));
        let b = median_us(&|| v14(&point, &sig));
        let c = median_us(&|| v14_prepared(&key14, &sig));
        let d = median_us(&|| own.verify(MESSAGE.as_bytes(), &sig));
        let e = median_us(&|| one_off.verify(MESSAGE.as_bytes(), &sig));
        println!(
            "round {round}: p256 0.13 {a:.0} us, p256 0.14 {b:.0} us (incl. key parse); prepared key: p256 0.14 {c:.0} us, edge-auth {d:.0} us per verify (key without table, parsed for one check: {e:.0} us)"
        );
    }
    println!("edge-auth key preparation (its table, and the generator's the first time): {own_key_us:.0} us");
    es384();
    eddsa();
}

/// ES384: p384 0.14 (what edge-auth verified with until issue 22, its key prepared once as the
/// filter did) against edge-auth's own P-384, with and without the key's table, on a JWS
/// signing input signed here with a fixed key.
fn es384() {
    use edge_auth::jwt::verifiers::P384VerifyingKey;
    use p384::ecdsa::signature::{Signer, Verifier};
    let signing = p384::ecdsa::SigningKey::from_slice(&[7; 48]).unwrap();
    let signature: p384::ecdsa::Signature = signing.sign(MESSAGE.as_bytes());
    let sig = signature.to_bytes().to_vec();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    let key = *signing.verifying_key();
    let point = key.to_sec1_point(false);
    let (x, y) = (&point.as_bytes()[1..49], &point.as_bytes()[49..]);
    let reference = |sig: &[u8]| {
        p384::ecdsa::Signature::from_slice(sig)
            .is_ok_and(|sig| key.verify(MESSAGE.as_bytes(), &sig).is_ok())
    };
    assert!(reference(&sig) && !reference(&bad));
    let start = Instant::now();
    let own = P384VerifyingKey::from_coordinates(x, y).unwrap().with_table();
    let own_key_us = start.elapsed().as_secs_f64() * 1e6;
    let one_off = P384VerifyingKey::from_coordinates(x, y).unwrap();
    assert!(own.verify(MESSAGE.as_bytes(), &sig) && !own.verify(MESSAGE.as_bytes(), &bad));
    assert!(one_off.verify(MESSAGE.as_bytes(), &sig) && !one_off.verify(MESSAGE.as_bytes(), &bad));
    for round in 0..3 {
        let a = median_us(&|| reference(&sig));
        let b = median_us(&|| own.verify(MESSAGE.as_bytes(), &sig));
        let c = median_us(&|| {
            P384VerifyingKey::from_coordinates(x, y)
                .is_some_and(|key| key.verify(MESSAGE.as_bytes(), &sig))
        });
        println!(
            "ES384 round {round}: p384 0.14 (prepared key) {a:.0} us; edge-auth {b:.0} us per verify (key without table, parsed for one check: {c:.0} us)"
        );
    }
    println!("edge-auth ES384 key preparation (its table, and the generator's the first time): {own_key_us:.0} us");
}

/// The same for EdDSA: ed25519-compact (what edge-auth used until its own verifier) against
/// edge-auth's `jwt::ed25519`, with and without the key's table, on a JWS signing input signed
/// here from a fixed seed.
fn eddsa() {
    use edge_auth::jwt::verifiers::Ed25519VerifyingKey;
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
    let sig = pair.sk.sign(MESSAGE.as_bytes(), None).to_vec();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    let compact = |sig: &[u8]| {
        ed25519_compact::PublicKey::from_slice(&pair.pk[..]).is_ok_and(|key| {
            ed25519_compact::Signature::from_slice(sig)
                .is_ok_and(|sig| key.verify(MESSAGE.as_bytes(), &sig).is_ok())
        })
    };
    assert!(compact(&sig) && !compact(&bad));
    let start = Instant::now();
    let own = Ed25519VerifyingKey::from_bytes(&pair.pk[..]).unwrap().with_table();
    let own_key_us = start.elapsed().as_secs_f64() * 1e6;
    let one_off = Ed25519VerifyingKey::from_bytes(&pair.pk[..]).unwrap();
    assert!(own.verify(MESSAGE.as_bytes(), &sig) && !own.verify(MESSAGE.as_bytes(), &bad));
    assert!(one_off.verify(MESSAGE.as_bytes(), &sig) && !one_off.verify(MESSAGE.as_bytes(), &bad));
    for round in 0..3 {
        let a = median_us(&|| compact(&sig));
        let b = median_us(&|| own.verify(MESSAGE.as_bytes(), &sig));
        let c = median_us(&|| {
            Ed25519VerifyingKey::from_bytes(&pair.pk[..])
                .is_some_and(|key| key.verify(MESSAGE.as_bytes(), &sig))
        });
        println!(
            "EdDSA round {round}: ed25519-compact {a:.0} us; edge-auth {b:.0} us per verify (key without table, parsed for one check: {c:.0} us)"
        );
    }
    println!("edge-auth EdDSA key preparation (its table, and the base point's the first time): {own_key_us:.0} us");
}
