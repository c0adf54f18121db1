//! Deny responses: the contract clients see when a request is refused.
//!
//! 401 with `WWW-Authenticate: Bearer realm="..."` when no credential came; 401 with
//! `error="invalid_token"` for a bad one; 403 with `error="insufficient_scope"` and the scopes
//! the route needs; 400 with `error="invalid_request"` for a request whose credential cannot be
//! read. Every denial has a small JSON body and `cache-control: no-store` (RFC 6750 section 3).

use serde::Serialize;

/// Why a request is refused; each maps to one status and RFC 6750 error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No credential at all: 401 without an error code.
    MissingCredential,
    /// A credential that is not valid: 401 `invalid_token`.
    InvalidToken(String),
    /// A valid credential lacking scopes: 403 `insufficient_scope`, naming the route's scopes.
    InsufficientScope(Vec<String>),
    /// A request that cannot be read: 400 `invalid_request`.
    InvalidRequest(String),
    /// The filter cannot decide right now (not configured): 503, never a pass.
    Unavailable(String),
}

/// A complete local reply for Envoy to send instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyResponse {
    /// HTTP status.
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl Denial {
    /// HTTP status of this denial.
    pub fn status(&self) -> u32 {
        match self {
            Denial::MissingCredential | Denial::InvalidToken(_) => 401,
            Denial::InsufficientScope(_) => 403,
            Denial::InvalidRequest(_) => 400,
            Denial::Unavailable(_) => 503,
        }
    }

    /// RFC 6750 error code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Denial::MissingCredential => None,
            Denial::InvalidToken(_) => Some("invalid_token"),
            Denial::InsufficientScope(_) => Some("insufficient_scope"),
            Denial::InvalidRequest(_) => Some("invalid_request"),
            Denial::Unavailable(_) => Some("temporarily_unavailable"),
        }
    }

    /// Short, client-safe description.
    pub fn description(&self) -> String {
        match self {
            Denial::MissingCredential => "a bearer token is required".to_string(),
            Denial::InvalidToken(why) | Denial::InvalidRequest(why) | Denial::Unavailable(why) => {
                why.clone()
            }
            Denial::InsufficientScope(_) => {
                "the token lacks a scope this route requires".to_string()
            }
        }
    }

    /// The reply for this denial in `realm` (validated at configure time: no quotes).
    pub fn response(&self, realm: &str) -> DenyResponse {
        let description = self.description();
        let mut challenge = format!("Bearer realm=\"{realm}\"");
        if let Some(code) = self.error_code().filter(|_| self.status() != 503) {
            challenge.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quoted(&description)
            ));
        }
        if let Denial::InsufficientScope(scopes) = self {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(&scopes.join(" "))));
        }
        let body = serde_json::to_string(&Body {
            error: self.error_code().unwrap_or("unauthorized"),
            error_description: &description,
        })
        .unwrap_or_default();
        DenyResponse {
            status: self.status(),
            headers: [
                ("www-authenticate", challenge.as_str()),
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
            ]
            .into_iter()
            .filter(|(name, _)| self.status() != 503 || *name != "www-authenticate")
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
            body,
        }
    }
}

/// Makes text safe inside a quoted-string: no quotes, backslashes or control characters.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a DenyResponse, name: &str) -> &'a str {
        &response.headers.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn missing_credential_is_a_bare_bearer_challenge() {
        let response = Denial::MissingCredential.response("edge");
        assert_eq!(response.status, 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            "Bearer realm=\"edge\""
        );
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    #[test]
    fn invalid_token_carries_error_and_description() {
        let response = Denial::InvalidToken("token has expired".into()).response("edge");
        assert_eq!(response.status, 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            "Bearer realm=\"edge\", error=\"invalid_token\", error_description=\"token has expired\""
        );
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(header(&response, "cache-control"), "no-store");
    }

    #[test]
    fn insufficient_scope_names_the_required_scopes() {
        let response =
            Denial::InsufficientScope(vec!["devices:write".into(), "admin".into()]).response("api");
        assert_eq!(response.status, 403);
        assert!(header(&response, "www-authenticate").ends_with("scope=\"devices:write admin\""));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }

    #[test]
    fn unavailable_is_503_without_a_challenge() {
        let response = Denial::Unavailable("not configured".into()).response("edge");
        assert_eq!(response.status, 503);
        assert!(response
            .headers
            .iter()
            .all(|(name, _)| name != "www-authenticate"));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn invalid_request_is_400_and_quotes_cannot_break_the_challenge() {
        let response = Denial::InvalidRequest("bad \"header\"\r\n".into()).response("edge");
        assert_eq!(response.status, 400);
        assert!(header(&response, "www-authenticate").contains("error_description=\"bad header\""));
    }
}
