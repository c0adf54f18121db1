//! JSON read strictly, for the configuration: a tree that keeps where every value is
//! ([`tree`]), typed reading that names the field of every error ([`read`]), and the path of a
//! position ([`path`]).
//!
//! Instead of serde's derived deserializers, whose generated code for each configuration type
//! and serde_json's deserializer was the largest part of the `.wasm` (docs/performance.md, Size).
//! serde_json still checks the syntax first, so a malformed document gets its exact message.

mod path;
pub mod read;
pub mod tree;

use crate::error::ConfigError;
pub use read::{Document, Fields, FromJson};
pub use tree::Node;

/// The tree of a JSON document; a malformed one is refused with serde_json's message, naming
/// the field where it stopped reading.
pub fn parse(bytes: &[u8]) -> Result<Node, ConfigError> {
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        let field = match err.line() {
            0 => String::new(),
            line => path::path_at(bytes, path::offset_of(bytes, line, err.column())),
        };
        return Err(ConfigError::new(&field, without_position(&err.to_string())));
    }
    tree::parse(bytes).ok_or_else(|| ConfigError::new("", "malformed JSON"))
}

/// `bytes` read as a `T`.
pub fn read<T: FromJson>(bytes: &[u8]) -> Result<T, ConfigError> {
    T::from_json(&parse(bytes)?, &Document::new(bytes))
}

/// serde_json appends " at line L column C"; the field path already says where.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}
