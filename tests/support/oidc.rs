//! A real OpenID Connect provider for end-to-end tests: panva's `oidc-provider` from npm
//! (pinned in tests/oidc/package.json, installed by `make oidc-provider`), started by
//! `tests/oidc/provider.mjs` on a free loopback port and killed by PID on drop.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

use super::{
    loopback, repo_root, send_raw, spawn_on_free_port, stop, wait_until_listening, TempDir,
};

pub struct OidcProvider {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl OidcProvider {
    /// Starts the provider; panics loudly if node or the npm package is missing (never skips).
    pub fn start() -> OidcProvider {
        let package = repo_root().join("tests/oidc/node_modules/oidc-provider/package.json");
        assert!(
            package.is_file(),
            "\n\n*** {} is missing. Run the tests with `make test`, which installs the pinned \
             oidc-provider from npm (`make oidc-provider`). This test is never skipped.\n",
            package.display()
        );
        let (child, port, dir) = spawn_on_free_port("EADDRINUSE", spawn);
        OidcProvider {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its issuer identifier.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Asks the real token endpoint for a token (client credentials grant, client_secret_basic).
    /// Returns the HTTP status and the JSON answer.
    pub fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
    ) -> (u16, serde_json::Value) {
        self.client_credentials_for(client_id, secret, scope, "https://edge-api.example")
    }

    /// [`OidcProvider::client_credentials`] for a resource indicator (RFC 8707):
    /// "https://edge-api.example" gives JWTs, "https://opaque-api.example" opaque tokens.
    pub fn client_credentials_for(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        resource: &str,
    ) -> (u16, serde_json::Value) {
        self.token_request(client_id, secret, scope, resource, "")
    }

    /// The token endpoint's URL (what a DPoP proof for it names in `htu`).
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer())
    }

    /// [`OidcProvider::client_credentials`] with a DPoP proof for the token endpoint: the
    /// provider binds the token to the proof's key.
    pub fn client_credentials_dpop(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        proof: &str,
    ) -> (u16, serde_json::Value) {
        self.client_credentials_with(client_id, secret, scope, &format!("DPoP: {proof}"))
    }

    /// [`OidcProvider::client_credentials`] for the client "bound", presenting the client
    /// certificate `pem` as a TLS-terminating proxy would forward it: the provider binds the
    /// token to the certificate (`cnf."x5t#S256"`).
    pub fn client_credentials_certificate(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        pem: &str,
    ) -> (u16, serde_json::Value) {
        let forwarded = base64::engine::general_purpose::STANDARD.encode(pem);
        self.client_credentials_with(
            client_id,
            secret,
            scope,
            &format!("x-client-certificate: {forwarded}"),
        )
    }

    /// A client credentials request for the JWT resource with one extra header line.
    fn client_credentials_with(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        extra_header: &str,
    ) -> (u16, serde_json::Value) {
        let extra = format!("{extra_header}\r\n");
        self.token_request(client_id, secret, scope, "https://edge-api.example", &extra)
    }

    /// POSTs a client credentials grant for `resource` to the token endpoint, with `extra`
    /// header lines (each ending in CRLF); the status and the JSON answer.
    fn token_request(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        resource: &str,
        extra: &str,
    ) -> (u16, serde_json::Value) {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        let body = format!(
            "grant_type=client_credentials&scope={}&resource={}",
            scope.replace(' ', "+"),
            resource.replace(':', "%3A").replace('/', "%2F")
        );
        let request = format!(
            "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Authorization: Basic {basic}\r\n{extra}\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let response = send_raw(loopback(self.port), request.as_bytes());
        let json = serde_json::from_str(&response.body)
            .unwrap_or_else(|_| panic!("token endpoint: {} {}", response.status, response.body));
        (response.status, json)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn spawn(dir: &TempDir, port: u16) -> Result<Child, String> {
    let stdout_path = dir.path().join("oidc.stdout");
    let stderr_path = dir.path().join("oidc.stderr");
    let child = Command::new("node")
        .arg(repo_root().join("tests/oidc/provider.mjs"))
        .arg(port.to_string())
        .current_dir(repo_root().join("tests/oidc"))
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create oidc stdout"))
        .stderr(File::create(&stderr_path).expect("create oidc stderr"))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run node (needed for the OpenID Connect provider): {e}")
        });
    wait_until_listening(
        child,
        port,
        &format!("oidc provider listening on 127.0.0.1:{port}"),
        [&stdout_path, &stderr_path],
        Duration::from_secs(30),
        &format!("the OpenID Connect provider (node tests/oidc/provider.mjs {port})"),
    )
}
