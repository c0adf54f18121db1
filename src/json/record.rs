//! A JSON object read field by field, the way serde's derived code read a struct: the token's
//! and the DPoP proof's JOSE headers and the discovery document, where a field named twice must
//! stay refused (an object as a [`Value`] keeps only the last of repeated members).

use super::tree::{self, Kind, Node};
use super::value::{from_node, Map, Value};

/// An object read the way serde's derived code read a struct from it: a field named twice is
/// refused (other members may repeat: they are not read), `null` is an absent optional field,
/// and a field of the wrong type is refused. Unlike serde's derive, an array is never a struct.
pub struct Record {
    members: Vec<tree::Member>,
}

/// Why [`Record`] refused an object or a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl Record {
    /// The fields of `bytes`, if they are one JSON object.
    pub fn from_slice(bytes: &[u8]) -> Result<Record, Refused> {
        match tree::parse(bytes).ok_or(Refused)?.kind {
            Kind::Object(members) => Ok(Record { members }),
            _ => Err(Refused),
        }
    }

    /// The field `name` if present and not `null`; refused if it is named twice.
    pub fn node(&self, name: &str) -> Result<Option<&Node>, Refused> {
        let mut found = self.members.iter().filter(|member| member.key == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(Refused);
        }
        Ok(first
            .map(|member| &member.value)
            .filter(|node| !matches!(node.kind, Kind::Null)))
    }

    /// An optional string field.
    pub fn string(&self, name: &str) -> Result<Option<String>, Refused> {
        match self.node(name)?.map(|node| &node.kind) {
            None => Ok(None),
            Some(Kind::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Refused),
        }
    }

    /// A required string field (`null` is refused, as serde refused it for a `String`).
    pub fn required_string(&self, name: &str) -> Result<String, Refused> {
        self.string(name)?.ok_or(Refused)
    }

    /// An optional field of any value (`null` is absent, as serde read an `Option<Value>`).
    pub fn value(&self, name: &str) -> Result<Option<Value>, Refused> {
        Ok(self.node(name)?.map(from_node))
    }

    /// An optional object field.
    pub fn object(&self, name: &str) -> Result<Option<Map<String, Value>>, Refused> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::Object(members)) => Ok(Some(members)),
            Some(_) => Err(Refused),
        }
    }
}
