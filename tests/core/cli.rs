//! The operator tool, run as users run it.

use crate::fixtures;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use edge_auth::policy::Policy;

fn edge_auth(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-auth"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("edge-auth-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn check_summarises_a_valid_configuration() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/edge-auth.json");
    let output = edge_auth(&["check", shipped], b"");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(stdout.contains("provider \"demo-idp\""), "{stdout}");
    assert!(stdout.contains("API clients: 1"), "{stdout}");
}

#[test]
fn check_names_the_bad_field_and_exits_1() {
    let path = temp_file(
        "bad.json",
        r#"{"providers": [], "api_keys": {"basic": true, "clients": [{"id": "a", "secret_sha256": "plain"}]}}"#,
    );
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid configuration: api_keys.clients[0].secret_sha256:"),
        "{stderr}"
    );
}

#[test]
fn hash_secret_reads_stdin_and_ignores_one_trailing_newline() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n";
    for input in [&b"abc"[..], b"abc\n", b"abc\r\n"] {
        let output = edge_auth(&["hash-secret"], input);
        assert!(output.status.success());
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    }
    let refused = edge_auth(&["hash-secret", "abc"], b"");
    assert!(
        !refused.status.success(),
        "a secret on the command line would land in shell history"
    );
}

#[test]
fn minted_tokens_pass_the_configuration_they_were_minted_for() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy");
    let key = format!("{dir}/demo-keys/demo-es256.key");
    let output = edge_auth(
        &[
            "token",
            "--alg",
            "ES256",
            "--key",
            &key,
            "--kid",
            "demo-es256",
            "--iss",
            "https://auth.example.com/realms/main",
            "--aud",
            "edge-api",
            "--sub",
            "bob",
            "--scope",
            "devices:read",
            "--claim",
            "email=bob@example.com",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let policy =
        Policy::from_json(&std::fs::read(format!("{dir}/edge-auth.json")).unwrap()).unwrap();
    let identity = edge_auth::jwt::token::verify(
        token.trim(),
        &policy.providers,
        &policy.forward,
        fixtures::now(),
    )
    .unwrap();
    assert_eq!(identity.subject.as_deref(), Some("bob"));
    assert_eq!(identity.scopes, ["devices:read"]);
}
