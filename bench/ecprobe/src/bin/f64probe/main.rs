//! Issue 22's f64 experiment: would RSA limbs held in f64 (exact 44/46-bit products with
//! `f64x2.mul` + `f64x2.add`, no lane shuffles) beat the `i64x2.extmul` kernel of
//! crates/edge-auth-crypto/src/rsa.rs in V8? Two such kernels (`column`, `blocked`), each timed
//! against edge-auth's RSA-2048 public operation (`s^e mod n`, 18 Montgomery products: one into
//! Montgomery form, 16 squares, one product) doing the same 18 products, in one process.
//!
//! First a differential check: both kernels give edge-auth's `public_op` on random and edge-value
//! moduli (all-ones limbs, 2^(bits-1) + 1), exponents 3, 65537 and a random 64-bit one, and
//! signatures 0, 1, 2, n - 1 and random ones below n. Then `BATCHES` interleaved batches of 10
//! operations of each (the order alternating), and per kernel the median of the paired ratios
//! kernel/current. `0` batches: the check only.
//!
//! ```text
//! cargo build --release --target wasm32-wasip1 --manifest-path bench/ecprobe/Cargo.toml --bin f64probe
//! node --no-liftoff --no-warnings bench/ecprobe/run-wasm.mjs \
//!     bench/ecprobe/target/wasm32-wasip1/release/f64probe.wasm 200
//! ```
//!
//! An experiment, not part of the filter: neither kernel was faster (docs/performance.md).

mod blocked;
mod column;

use blocked::Blocked;
use column::F64Mont;
use edge_auth::jwt::verifiers::RsaPublicKey;
use std::time::Instant;

const N: &str = "d2a331f1e956b126eb749ae35d1789cbfae866ce39748b0894225fb78c72e37b64c0cde9b29333e262eeb740461647d78588bc0dd21aa45b094fc5dd132b1f29ff948cc8767baa4eba72480ff4f614bce1760e860ea1b145a259b8908e32d9b4959cbaa542c31281f3aa9f5fc8c50efd826e75f60983c39ef473be4c7532da9b6d88610bb1f9cb170778b8819ffe7b28119a0ed5813141416d1df620fafd59e87ec5fcafffc4431bba5b538f0c4f457cef4101d9d0024772aaef118e0c064ccb8e2810fc47a04efc1d2577ddef87a3d6b76c9427383ba08ccab563fe88679efec70b48879a74ec2c110cab0ae0f3d4ea26d092369f8413fde3a8f9e0d656eba7";
const SIGNATURE: &str = "13643ea694df9a1cce44cec60aa3f47a593061fbea52f1739f23e9dd0b02f2bf3ce01077774a2a8a30f365c43b7a35aca409b493a39cd5670a6f32848581c872b7873592c456c5ed72bf587c4117a9e47a71b37d9edcedbe390992412526f7be6f2ce287760ec794e546a64d153a6e0d6df320fe55162bcd414b91a1e7f53f156119a5e90b313b4ec2614727f1f9fd69fc088e8fb3f1c0287022c1183c34c40afde347780deca16ff7cb74d8d4472259f68384051bfd134fc5877fce365e0159cc9ab36d4c84e67872cad36c1e2fdbbc8e11802f063501c968fb093da5a6ea80dc9475e6a33e811e7a5250d7176592ae907c1e75ee64811f7b397c96b6441c86";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| text.get(2 * i..2 * i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

/// xorshift64*: reproducible moduli and signatures.
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

/// Which moduli a check uses: random, every bit set, or only the top and bottom bits.
#[derive(Clone, Copy)]
enum Shape {
    Random,
    AllOnes,
    Sparse,
}

/// The kernels against `public_op` for one odd modulus of `bits` bits; returns the cases.
fn check<const W: u32>(rng: &mut Rng, bits: usize, shape: Shape, blocked_too: bool) -> usize {
    let len = bits.div_ceil(8);
    let mut n = match shape {
        Shape::Random => rng.bytes(len),
        Shape::AllOnes => vec![0xff; len],
        Shape::Sparse => vec![0; len],
    };
    n[0] = (n[0] >> (8 * len - bits)) | (0x80 >> (8 * len - bits));
    n[len - 1] |= 1;
    let mut cases = 0;
    for e in [3u64, 65537, rng.next() | 1 | 1 << 63] {
        let key = RsaPublicKey::new(&n, &e.to_be_bytes()).unwrap();
        let column = F64Mont::<W>::new(&n);
        let blocked = blocked_too.then(|| Blocked::new(&n));
        let mut n_minus_1 = n.clone();
        n_minus_1[len - 1] -= 1;
        let small = |v: u8| {
            let mut s = vec![0u8; len];
            s[len - 1] = v;
            s
        };
        let mut signatures = vec![small(0), small(1), small(2), n_minus_1];
        for _ in 0..4 {
            let mut s = rng.bytes(len);
            s[0] &= n[0] >> 1;
            signatures.push(s);
        }
        for s in &signatures {
            let want = key.public_op(s).unwrap();
            assert_eq!(
                column.pow(s, e, len),
                want,
                "column, {bits} bits, W = {W}, e = {e}"
            );
            if let Some(blocked) = &blocked {
                assert_eq!(
                    blocked.pow(s, e, len),
                    want,
                    "blocked, {bits} bits, e = {e}"
                );
            }
            cases += 1;
        }
    }
    cases
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn batch_us(f: &dyn Fn() -> usize) -> f64 {
    let start = Instant::now();
    let mut sink = 0;
    for _ in 0..10 {
        sink += f();
    }
    assert!(sink > 0);
    start.elapsed().as_secs_f64() * 1e6 / 10.0
}

fn main() {
    let mut rng = Rng(0x5eed);
    let mut cases = 0;
    for shape in [Shape::Random, Shape::AllOnes, Shape::Sparse] {
        // 23-bit columns up to 128 limbs (2,942 bits); the blocked kernel up to 128 22-bit limbs.
        for bits in [2048usize, 2049, 2200, 2780, 2940] {
            cases += check::<23>(&mut rng, bits, shape, bits <= 2780);
        }
        for bits in [3072usize, 4096, 8192] {
            cases += check::<22>(&mut rng, bits, shape, false);
        }
    }
    println!("differential: {cases} cases, both f64 kernels give public_op's result");
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    if batches == 0 {
        return;
    }
    let (n, sig) = (unhex(N), unhex(SIGNATURE));
    let key = RsaPublicKey::new(&n, &[1, 0, 1]).unwrap();
    let column = F64Mont::<23>::new(&n);
    let blocked = Blocked::new(&n);
    let current = || key.public_op(&sig).map_or(0, |v| v.len());
    let column_op = || column.pow(&sig, 65537, 256).len();
    let blocked_op = || blocked.pow(&sig, 65537, 256).len();
    assert_eq!(column.pow(&sig, 65537, 256), key.public_op(&sig).unwrap());
    assert_eq!(blocked.pow(&sig, 65537, 256), key.public_op(&sig).unwrap());
    for _ in 0..50 {
        current();
        column_op();
        blocked_op();
    }
    let (mut times, mut ratios) = ([vec![], vec![], vec![]], [vec![], vec![]]);
    for round in 0..batches {
        let ops: [&dyn Fn() -> usize; 3] = [&current, &column_op, &blocked_op];
        let mut t = [0.0; 3];
        for i in 0..3 {
            // Alternate the order, so a change of load hits all three alike.
            let j = if round % 2 == 0 { i } else { 2 - i };
            t[j] = batch_us(ops[j]);
        }
        for i in 0..3 {
            times[i].push(t[i]);
        }
        ratios[0].push(t[1] / t[0]);
        ratios[1].push(t[2] / t[0]);
    }
    let [current_t, column_t, blocked_t] = times.map(median);
    let [column_r, blocked_r] = ratios.map(median);
    println!(
        "RSA-2048 public operation, medians of {batches} batches of 10: current (i64x2.extmul, \
         28-bit limbs, {} limbs) {current_t:.1} us; column f64 (23-bit, {} limbs) {column_t:.1} us, \
         paired ratio {column_r:.3}; blocked f64 (22-bit, {} limbs) {blocked_t:.1} us, paired \
         ratio {blocked_r:.3}",
        2050usize.div_ceil(28),
        column.k,
        blocked.k
    );
}
