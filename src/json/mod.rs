//! All of the filter's JSON, without serde: the configuration read strictly (a tree that keeps
//! where every value is, [`tree`]; typed reading that names the field of every error, [`read`];
//! the path of a position, [`path`]), the documents it receives as values ([`value`],
//! [`record`]) and the ones it sends ([`write`]).
//!
//! Instead of serde's derived deserializers, whose generated code for each configuration type
//! and serde_json's deserializer was the largest part of the `.wasm` (docs/performance.md, Size).
//! The syntax is checked first ([`syntax`]), so a malformed document gets serde_json's message.
//!
//! The filter's runtime JSON uses the same tree (issue 22): [`value`] holds tokens' claims, DPoP
//! proofs, JWK Sets and introspection answers, [`record`] reads JOSE headers field by field, and
//! [`write`] writes the bodies it sends. serde and serde_json are linked only natively (the
//! `edge-auth` tool, token minting, the tests), and deny.toml bans them from the `.wasm`.
//! Numbers that are not 64-bit integers keep their text ([`number`]): compared and rounded as
//! exact decimals, written verbatim, no floating point in the `.wasm`.

pub mod number;
mod path;
pub mod read;
pub mod record;
pub mod syntax;
pub mod tree;
pub mod value;
pub mod write;

/// `json!` for a [`Value`] (natively: the tests).
#[cfg(not(target_arch = "wasm32"))]
pub use super::json_value;
use crate::error::ConfigError;
pub use number::{Rest, Scaled};
pub use read::{Document, Fields, FromJson, Members};
pub use tree::Node;
pub use value::{Map, Number, Value};

/// The tree of a JSON document; a malformed one is refused with serde_json's message, naming
/// the field where it stopped reading.
pub fn parse(bytes: &[u8]) -> Result<Node, ConfigError> {
    if let Err(err) = syntax::check(bytes) {
        let field = path::path_at(bytes, err.offset);
        return Err(ConfigError::new(&field, err.message));
    }
    tree::parse_nested(bytes, tree::CONFIG_DEPTH)
        .ok_or_else(|| ConfigError::new("", "malformed JSON"))
}

/// `bytes` read as a `T`.
pub fn read<T: FromJson>(bytes: &[u8]) -> Result<T, ConfigError> {
    T::from_json(&parse(bytes)?, &Document::new(bytes))
}
