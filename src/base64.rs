//! Base64 (RFC 4648 §4) and base64url (§5), strict, as the filter reads and writes them.
//!
//! One responsibility: turning bytes into these texts and back, refusing every text that is not
//! the one canonical spelling: a symbol outside the alphabet (whitespace and the other
//! alphabet's `+/` or `-_` included), a length of 4n+1 symbols, or a last symbol with bits set
//! beyond the encoded bytes (`QR` for `A`) is refused. The decoders differ only in padding:
//! - [`decode_url`]: base64url without padding (JWS segments, DPoP nonces, secrets); `=` refused.
//! - [`decode_url_padding_optional`] (JWK members) and [`decode_standard_padding_optional`]
//!   (HTTP Basic): `=` tolerated at the end of the last group, which must keep at least two
//!   symbols: `QQ`, `QQ=` and `QQ==` are one byte, `QUJD=` and `Q===` are refused.
//!
//! These are exactly the verdicts of the `base64` crate's engines the filter used before
//! (`URL_SAFE_NO_PAD`, and `GeneralPurpose` with `DecodePaddingMode::Indifferent` over the
//! URL-safe and standard alphabets); the tests compare them exhaustively up to four symbols and
//! on random longer texts. Replacing the crate made the `.wasm` 6.1 KB smaller (issue 22:
//! 612,449 → 606,325 bytes). Decoding happens once per token on first sight (a cache hit does not
//! decode), through a 256-byte table per alphabet, as fast as the crate's (`make profile`).

/// Which of the two RFC 4648 alphabets: they differ in the last two symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    /// §4: `+` and `/`.
    Standard,
    /// §5: `-` and `_`.
    UrlSafe,
}

/// A byte that is no symbol, in the decoding tables.
const NOT_A_SYMBOL: u8 = 0xFF;

/// Each byte's 6-bit value in the standard alphabet, [`NOT_A_SYMBOL`] for the others.
static STANDARD_VALUES: [u8; 256] = values(*b"+/");
/// Each byte's 6-bit value in the URL-safe alphabet, [`NOT_A_SYMBOL`] for the others.
static URL_SAFE_VALUES: [u8; 256] = values(*b"-_");

/// The decoding table of the alphabet whose symbols for 62 and 63 are `last_two`: 256 bytes
/// each, about 420 bytes of `.wasm` that keep a token's first sight as cheap as with the crate
/// (`make profile`, HS256 first sight: the crate 61,994 instructions, a `match` per symbol
/// 67,175, these tables in a loop per symbol 63,194, a group of four at once 62,026).
#[allow(clippy::indexing_slicing)] // a `u8` into 256 entries, at compile time
const fn values(last_two: [u8; 2]) -> [u8; 256] {
    let mut table = [NOT_A_SYMBOL; 256];
    let mut value = 0u8;
    while value < 26 {
        table[(b'A' + value) as usize] = value;
        table[(b'a' + value) as usize] = value + 26;
        if value < 10 {
            table[(b'0' + value) as usize] = value + 52;
        }
        value += 1;
    }
    table[last_two[0] as usize] = 62;
    table[last_two[1] as usize] = 63;
    table
}

impl Alphabet {
    /// The symbols for 62 and 63.
    fn last_two(self) -> [u8; 2] {
        match self {
            Alphabet::Standard => *b"+/",
            Alphabet::UrlSafe => *b"-_",
        }
    }

    fn values(self) -> &'static [u8; 256] {
        match self {
            Alphabet::Standard => &STANDARD_VALUES,
            Alphabet::UrlSafe => &URL_SAFE_VALUES,
        }
    }

    /// The symbol for the low six bits of `value`.
    fn symbol(self, value: u32) -> char {
        let [s62, s63] = self.last_two();
        let six = value.to_be_bytes()[3] & 63;
        char::from(match six {
            0..=25 => b'A' + six,
            26..=51 => b'a' + (six - 26),
            52..=61 => b'0' + (six - 52),
            62 => s62,
            _ => s63,
        })
    }
}

/// Base64url without padding (RFC 7515's `BASE64URL`).
pub fn encode_url(bytes: &[u8]) -> String {
    encode(bytes, Alphabet::UrlSafe, false)
}

/// Base64 with padding (RFC 4648 §4), as HTTP Basic credentials are sent (RFC 7617).
pub fn encode_standard(bytes: &[u8]) -> String {
    encode(bytes, Alphabet::Standard, true)
}

/// The bytes of base64url `text` without padding; `None` for any other text.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    decode_unpadded(text.as_bytes(), Alphabet::UrlSafe)
}

/// The bytes of base64url `text`, padded correctly or not at all (some issuers pad JWK members).
pub fn decode_url_padding_optional(text: &str) -> Option<Vec<u8>> {
    decode_unpadded(without_padding(text.as_bytes())?, Alphabet::UrlSafe)
}

/// The bytes of base64 `text`, padded correctly or not at all (HTTP Basic, RFC 7617).
pub fn decode_standard_padding_optional(text: &str) -> Option<Vec<u8>> {
    decode_unpadded(without_padding(text.as_bytes())?, Alphabet::Standard)
}

fn encode(bytes: &[u8], alphabet: Alphabet, pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let mut groups = bytes.chunks_exact(3);
    for group in &mut groups {
        if let [a, b, c] = group {
            let bits = u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c);
            for shift in [18, 12, 6, 0] {
                out.push(alphabet.symbol(bits >> shift));
            }
        }
    }
    let (bits, symbols, padding) = match groups.remainder() {
        [a] => (u32::from(*a) << 16, 2, "=="),
        [a, b] => (u32::from(*a) << 16 | u32::from(*b) << 8, 3, "="),
        _ => return out,
    };
    for shift in [18, 12, 6].into_iter().take(symbols) {
        out.push(alphabet.symbol(bits >> shift));
    }
    if pad {
        out.push_str(padding);
    }
    out
}

/// `text` without the padding of its last group: one or two `=` that leave at least two symbols
/// in that group (the last `len % 4` characters, or the last four). `None` if `=` is misplaced
/// there; a `=` anywhere else stays and is refused as a symbol.
fn without_padding(text: &[u8]) -> Option<&[u8]> {
    let last_group = match text.len() % 4 {
        0 => 4,
        partial => partial,
    };
    let last_group_start = text.len().saturating_sub(last_group);
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    if body.len() < text.len() && body.len() < last_group_start + 2 {
        return None;
    }
    Some(body)
}

/// Decodes symbols only: every byte must be in `alphabet`, the length not 4n+1, and the bits of
/// the last symbol beyond the last byte zero.
fn decode_unpadded(text: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
    let values = alphabet.values();
    let value = |symbol: &u8| values.get(usize::from(*symbol)).copied();
    let groups = text.chunks_exact(4);
    let rest = groups.remainder();
    // Two symbols carry one byte and 4 spare bits, three carry two bytes and 2 spare bits.
    let (rest_bytes, spare_bits) = match rest.len() {
        0 => (0, 0),
        2 => (1, 4),
        3 => (2, 2),
        _ => return None,
    };
    let mut out = vec![0u8; text.len() / 4 * 3 + rest_bytes];
    let mut bytes = out.chunks_exact_mut(3);
    for (group, three) in groups.zip(&mut bytes) {
        if let ([a, b, c, d], [x, y, z]) = (group, three) {
            let [a, b, c, d] = [value(a)?, value(b)?, value(c)?, value(d)?];
            // Symbols' values are below 64: only a byte that is none makes this all ones.
            if a | b | c | d == NOT_A_SYMBOL {
                return None;
            }
            let bits = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
            [_, *x, *y, *z] = bits.to_be_bytes();
        }
    }
    let mut bits = 0u32;
    for symbol in rest {
        let six = value(symbol)?;
        if six == NOT_A_SYMBOL {
            return None;
        }
        bits = bits << 6 | u32::from(six);
    }
    if bits & ((1 << spare_bits) - 1) != 0 {
        return None;
    }
    let [_, _, a, b] = (bits >> spare_bits).to_be_bytes();
    match bytes.into_remainder() {
        [last] => *last = b,
        [first, last] => [*first, *last] = [a, b],
        _ => {}
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    //! Verdicts compared with the `base64` crate's engines as the filter configured them.
    use super::*;
    use base64::alphabet;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    use proptest::prelude::*;

    const URL_INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    const STANDARD_INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    type Decoder = fn(&str) -> Option<Vec<u8>>;

    /// Each decoder with the engine it replaces and that engine's own last two symbols.
    fn decoders() -> [(Decoder, &'static GeneralPurpose, &'static str); 3] {
        [
            (decode_url, &URL_SAFE_NO_PAD, "-_"),
            (decode_url_padding_optional, &URL_INDIFFERENT, "-_"),
            (
                decode_standard_padding_optional,
                &STANDARD_INDIFFERENT,
                "+/",
            ),
        ]
    }

    /// The symbols every alphabet shares, then the engine's own two, then `=` and bytes no
    /// alphabet has (the other alphabet's two, whitespace, `.`, a non-ASCII character).
    fn symbols(own: &str) -> Vec<char> {
        let mut all: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
        all.extend(own.chars());
        all.extend("=-_+/ \n.é".chars().filter(|c| !own.contains(*c)));
        all
    }

    fn assert_same(decoder: Decoder, engine: &GeneralPurpose, text: &str) {
        assert_eq!(decoder(text), engine.decode(text).ok(), "{text:?}");
    }

    /// Every text of up to three characters over the engine's alphabet, `=` and others.
    #[test]
    fn every_short_text_decodes_as_the_crate_does() {
        for (decoder, engine, own) in decoders() {
            let symbols = symbols(own);
            assert_same(decoder, engine, "");
            let mut text = String::new();
            for a in &symbols {
                for b in &symbols {
                    for c in &symbols {
                        for len in 1..=3 {
                            text.clear();
                            text.extend([*a, *b, *c].into_iter().take(len));
                            assert_same(decoder, engine, &text);
                        }
                    }
                }
            }
        }
    }

    /// Every text of four characters over the engine's alphabet and `=` (65^4 each), and over a
    /// sample of every class with the other bytes.
    #[test]
    fn every_four_symbol_text_decodes_as_the_crate_does() {
        for (decoder, engine, own) in decoders() {
            let all = symbols(own);
            let alphabet_and_pad: Vec<char> = all.iter().copied().take(65).collect();
            let sample: Vec<char> = "AQRgz09"
                .chars()
                .chain(all.iter().copied().skip(62))
                .collect();
            for set in [&alphabet_and_pad, &sample] {
                let mut text = String::with_capacity(8);
                for a in set {
                    for b in set {
                        for c in set {
                            for d in set {
                                text.clear();
                                text.extend([*a, *b, *c, *d]);
                                assert_same(decoder, engine, &text);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_short_byte_string_encodes_as_the_crate_does() {
        let mut bytes = Vec::new();
        for len in 0..=2 {
            for n in 0..1u32 << (8 * len) {
                bytes.clear();
                bytes.extend_from_slice(&n.to_be_bytes()[4 - len..]);
                assert_eq!(encode_url(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
                assert_eq!(encode_standard(&bytes), STANDARD.encode(&bytes));
            }
        }
    }

    #[test]
    fn padding_tolerated_only_where_the_crate_tolerates_it() {
        assert_eq!(decode_url_padding_optional("QQ="), Some(b"A".to_vec()));
        assert_eq!(decode_url_padding_optional("QQ=="), Some(b"A".to_vec()));
        assert_eq!(
            decode_standard_padding_optional("QUI="),
            Some(b"AB".to_vec())
        );
        assert_eq!(decode_url("QQ=="), None);
        for refused in ["QUJD=", "Q===", "QUJD==", "QQ===", "=", "QR==", "QQ==QQ=="] {
            assert_eq!(decode_url_padding_optional(refused), None, "{refused}");
            assert_eq!(decode_standard_padding_optional(refused), None, "{refused}");
        }
    }

    /// Texts mostly of the engine's symbols, with `=` and strangers now and then.
    fn text(own: &'static str) -> impl Strategy<Value = String> {
        let symbols = symbols(own);
        let weighted = prop_oneof![
            8 => prop::sample::select(symbols[..64].to_vec()),
            1 => prop::sample::select(symbols[64..].to_vec()),
        ];
        prop::collection::vec(weighted, 0..48).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn random_texts_decode_as_the_crate_does(url in text("-_"), standard in text("+/")) {
            for (decoder, engine, own) in decoders() {
                assert_same(decoder, engine, if own == "+/" { &standard } else { &url });
            }
        }

        #[test]
        fn random_bytes_round_trip_as_the_crate_does(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            flip in any::<prop::sample::Index>(),
        ) {
            let url = encode_url(&bytes);
            let standard = encode_standard(&bytes);
            prop_assert_eq!(&url, &URL_SAFE_NO_PAD.encode(&bytes));
            prop_assert_eq!(&standard, &STANDARD.encode(&bytes));
            prop_assert_eq!(decode_url(&url), Some(bytes.clone()));
            prop_assert_eq!(decode_url_padding_optional(&url), Some(bytes.clone()));
            prop_assert_eq!(decode_standard_padding_optional(&standard), Some(bytes.clone()));
            // One symbol of each text changed by one: the verdicts still agree.
            for (decoder, engine, own) in decoders() {
                let encoded = if own == "+/" { &standard } else { &url };
                if encoded.is_empty() {
                    continue;
                }
                let mut changed = encoded.clone().into_bytes();
                let at = flip.index(changed.len());
                changed[at] = changed[at].wrapping_add(1);
                let changed = String::from_utf8_lossy(&changed).into_owned();
                assert_same(decoder, engine, &changed);
            }
        }
    }
}
