//! The RSA-2048 public operation (`s^e mod n`, e = 65537: the whole cost of an RS256 check but
//! the hash) of edge-auth's verifier (crates/edge-auth-crypto/src/rsa.rs) against the previous 32-bit arithmetic it
//! keeps as its reference (`public_op_reference`, feature `rsa-reference`), interleaved in one
//! process, natively and in wasm32-wasip1 under node/V8 (`make profile`).
//!
//! First a differential check (the two agree on random moduli, exponents and signatures, and the
//! verifier accepts the vector of tests/data/rsa_vectors.json key 0 and refuses a flipped bit):
//! the SIMD128 column sums are compiled for wasm only, so V8 is the one place they can be
//! compared, and `make test` runs this check there (`rsaprobe 0`: no timing rounds). Then per
//! round the median microseconds per operation over batches and the new/old ratio, then the
//! medians over rounds; then the same for the whole RS256 check with a key used once (the
//! public operation, then the encoding) and with an issuer's key (`with_pkcs1_constants`: the
//! check in Montgomery form, one product fewer).

use std::time::Instant;

const N: &str = "d2a331f1e956b126eb749ae35d1789cbfae866ce39748b0894225fb78c72e37b64c0cde9b29333e262eeb740461647d78588bc0dd21aa45b094fc5dd132b1f29ff948cc8767baa4eba72480ff4f614bce1760e860ea1b145a259b8908e32d9b4959cbaa542c31281f3aa9f5fc8c50efd826e75f60983c39ef473be4c7532da9b6d88610bb1f9cb170778b8819ffe7b28119a0ed5813141416d1df620fafd59e87ec5fcafffc4431bba5b538f0c4f457cef4101d9d0024772aaef118e0c064ccb8e2810fc47a04efc1d2577ddef87a3d6b76c9427383ba08ccab563fe88679efec70b48879a74ec2c110cab0ae0f3d4ea26d092369f8413fde3a8f9e0d656eba7";
const MESSAGE: &str = "65794a68624763694f694a53557a49314e694973496d74705a434936496d7378496e302e65794a7063334d694f694a6f64485277637a6f764c324631644767755a586868625842735a53356a623230694c434a7a645749694f694a6862476c6a5a534a39";
const SIGNATURE: &str = "13643ea694df9a1cce44cec60aa3f47a593061fbea52f1739f23e9dd0b02f2bf3ce01077774a2a8a30f365c43b7a35aca409b493a39cd5670a6f32848581c872b7873592c456c5ed72bf587c4117a9e47a71b37d9edcedbe390992412526f7be6f2ce287760ec794e546a64d153a6e0d6df320fe55162bcd414b91a1e7f53f156119a5e90b313b4ec2614727f1f9fd69fc088e8fb3f1c0287022c1183c34c40afde347780deca16ff7cb74d8d4472259f68384051bfd134fc5877fce365e0159cc9ab36d4c84e67872cad36c1e2fdbbc8e11802f063501c968fb093da5a6ea80dc9475e6a33e811e7a5250d7176592ae907c1e75ee64811f7b397c96b6441c86";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| text.get(2 * i..2 * i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

/// xorshift64*: reproducible random moduli and signatures.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The public operation (s^e mod n) of both versions agrees on random odd moduli of several
/// sizes (both limb widths of the new one), exponents and signatures, and on the edge values:
/// the SIMD column sums are only compiled for wasm, so this is where they are compared.
fn differential() -> usize {
    use edge_auth::jwt::verifiers::{RsaHash, RsaPadding};
    let mut rng = Rng(0x5eed);
    let mut cases = 0;
    for bits in [2048usize, 2049, 3072, 3582, 3583, 4096, 8192] {
        for round in 0..3 {
            let len = bits.div_ceil(8);
            let mut n = rng.bytes(len);
            n[0] = (n[0] >> (8 * len - bits)) | (0x80 >> (8 * len - bits));
            n[len - 1] |= 1;
            let e: u64 = [3, 65537, rng.next() | 1 | 1 << 63][round];
            let new = edge_auth::jwt::verifiers::RsaPublicKey::new(&n, &e.to_be_bytes()).unwrap();
            let mut n_minus_1 = n.clone();
            n_minus_1[len - 1] -= 1;
            let mut one = vec![0u8; len];
            one[len - 1] = 1;
            let mut signatures = vec![vec![0u8; len], one, n_minus_1, n.clone(), vec![0xff; len]];
            for _ in 0..4 {
                let mut s = rng.bytes(len);
                s[0] &= n[0] >> 1;
                signatures.push(s);
            }
            let prepared = new.clone().with_pkcs1_constants(RsaHash::Sha256);
            for s in &signatures {
                assert_eq!(new.public_op(s), new.public_op_reference(s), "{bits} bits, e = {e}");
                // The check in Montgomery form (an issuer's key) refuses what the plain one does.
                let plain = new.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, b"m", s);
                assert_eq!(prepared.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, b"m", s), plain);
                cases += 1;
            }
        }
    }
    cases
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_us(f: &dyn Fn() -> Option<Vec<u8>>) -> f64 {
    let mut batches = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        for _ in 0..25 {
            assert!(f().is_some());
        }
        batches.push(start.elapsed().as_secs_f64() * 1e6 / 25.0);
    }
    median(batches)
}

fn main() {
    use edge_auth::jwt::verifiers::{RsaHash, RsaPadding, RsaPublicKey};
    let (n, message, sig) = (unhex(N), unhex(MESSAGE), unhex(SIGNATURE));
    let mut bad = sig.clone();
    bad[100] ^= 4;
    let key = RsaPublicKey::new(&n, &[1, 0, 1]).unwrap();
    let prepared = key.clone().with_pkcs1_constants(RsaHash::Sha256);
    for key in [&key, &prepared] {
        assert!(key.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, &message, &sig));
        assert!(!key.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, &message, &bad));
    }
    println!(
        "differential: {} cases, the verifier and its reference agree",
        differential()
    );
    let rounds = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    if rounds == 0 {
        return;
    }
    let (mut olds, mut news, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so a load change hits both alike.
        let (o, n) = if round % 2 == 0 {
            let o = median_us(&|| key.public_op_reference(&sig));
            (o, median_us(&|| key.public_op(&sig)))
        } else {
            let n = median_us(&|| key.public_op(&sig));
            (median_us(&|| key.public_op_reference(&sig)), n)
        };
        println!(
            "round {round}: RSA-2048 public operation: before {o:.1} us, after {n:.1} us, after/before {:.2}",
            n / o
        );
        olds.push(o);
        news.push(n);
        ratios.push(n / o);
    }
    println!(
        "median of {rounds} rounds: before {:.1} us, after {:.1} us, after/before {:.2}",
        median(olds),
        median(news),
        median(ratios)
    );
    // The whole RS256 check (SHA-256 of the 230-byte signing input, s^e, the encoding): a key
    // used once (public_op, then the encoding compared) against an issuer's key (the check in
    // Montgomery form, one product fewer).
    let (mut plains, mut fasts, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let check = |key: &RsaPublicKey| {
        key.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, &message, &sig)
            .then_some(Vec::new())
    };
    for round in 0..rounds {
        let (p, f) = if round % 2 == 0 {
            let p = median_us(&|| check(&key));
            (p, median_us(&|| check(&prepared)))
        } else {
            let f = median_us(&|| check(&prepared));
            (median_us(&|| check(&key)), f)
        };
        println!(
            "round {round}: RS256 verify: key used once {p:.1} us, issuer's key {f:.1} us, ratio {:.2}",
            f / p
        );
        plains.push(p);
        fasts.push(f);
        ratios.push(f / p);
    }
    println!(
        "median of {rounds} rounds: RS256 verify, key used once {:.1} us, issuer's key {:.1} us, ratio {:.2}",
        median(plains),
        median(fasts),
        median(ratios)
    );
}
