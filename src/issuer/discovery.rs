//! OpenID Connect discovery: reads the issuer's `/.well-known/openid-configuration` and takes
//! its `jwks_uri`, after checking that the document speaks for the configured issuer.
//!
//! The `issuer` check (OpenID Connect Discovery 1.0, section 4.3) stops a document served for
//! another realm on the same host from supplying keys: tokens are trusted for one exact `iss`.

use crate::issuer::remote_keys::Url;
use crate::json::record::{Record, Refused};

/// The members read; others are ignored, `null` is absent, a repeated or non-string one refused.
struct Document {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

impl Document {
    fn read(body: &[u8]) -> Result<Document, Refused> {
        let fields = Record::from_slice(body)?;
        Ok(Document {
            issuer: fields.string("issuer")?,
            jwks_uri: fields.string("jwks_uri")?,
        })
    }
}

/// The JWKS URL a discovery document names, if it is the document of `issuer`.
pub fn jwks_url(body: &[u8], issuer: &str) -> Result<Url, String> {
    let document = Document::read(body)
        .map_err(|_| "discovery document is not JSON (an object of strings)".to_string())?;
    match document.issuer.as_deref() {
        Some(found) if found == issuer => {}
        Some(found) => {
            return Err(format!(
                "discovery document is for issuer {found:?}, not {issuer:?}"
            ))
        }
        None => return Err("discovery document has no issuer".to_string()),
    }
    let uri = document
        .jwks_uri
        .ok_or_else(|| "discovery document has no jwks_uri".to_string())?;
    Url::parse(&uri).map_err(|why| format!("discovery jwks_uri {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://idp.example.com/realms/main";

    #[test]
    fn jwks_uri_of_the_right_issuer_is_taken() {
        let body = br#"{"issuer": "https://idp.example.com/realms/main",
            "jwks_uri": "https://idp.example.com/realms/main/protocol/openid-connect/certs",
            "token_endpoint": "https://idp.example.com/token"}"#;
        let url = jwks_url(body, ISS).unwrap();
        assert_eq!(url.authority, "idp.example.com");
        assert_eq!(url.path, "/realms/main/protocol/openid-connect/certs");
    }

    #[test]
    fn a_document_for_another_issuer_is_refused() {
        let body =
            br#"{"issuer": "https://idp.example.com/realms/other", "jwks_uri": "https://x/certs"}"#;
        assert!(jwks_url(body, ISS).unwrap_err().contains("realms/other"));
        let body = br#"{"jwks_uri": "https://x/certs"}"#;
        assert_eq!(
            jwks_url(body, ISS).unwrap_err(),
            "discovery document has no issuer"
        );
    }

    #[test]
    fn missing_or_bad_jwks_uri_and_garbage_are_errors() {
        let body = format!(r#"{{"issuer": "{ISS}"}}"#);
        assert!(jwks_url(body.as_bytes(), ISS)
            .unwrap_err()
            .contains("no jwks_uri"));
        let body = format!(r#"{{"issuer": "{ISS}", "jwks_uri": "/certs"}}"#);
        assert!(jwks_url(body.as_bytes(), ISS).is_err());
        assert!(jwks_url(b"<html>", ISS)
            .unwrap_err()
            .starts_with("discovery document is not JSON"));
    }
}
