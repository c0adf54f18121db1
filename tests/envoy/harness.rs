//! Checks the Envoy test harness itself, independently of edge-auth's behaviour: envoy/envoy.yaml
//! still has every string the harness renders, the echo upstream echoes, and a missing Envoy or
//! .wasm fails loudly instead of skipping.

use crate::support;

use std::path::Path;

use support::EchoUpstream;

#[test]
fn envoy_yaml_contains_every_string_the_harness_replaces() {
    let yaml = std::fs::read_to_string(support::repo_root().join("envoy/envoy.yaml")).unwrap();
    for exact in [
        support::ADMIN_ADDRESS,
        support::LISTENER_ADDRESS,
        support::UPSTREAM_ADDRESS,
        support::WASM_FILENAME,
        support::ACCESS_LOG_PATH,
    ] {
        assert_eq!(
            yaml.matches(exact).count(),
            1,
            "envoy.yaml must contain {exact:?} once"
        );
    }
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    let begin = lines
        .iter()
        .position(|l| *l == support::BEGIN_MARKER)
        .expect("BEGIN marker");
    let end = lines
        .iter()
        .position(|l| *l == support::END_MARKER)
        .expect("END marker");
    assert_eq!(lines[begin + 1], support::VALUE_LINE);
    assert!(begin + 2 < end, "the plugin JSON sits between the markers");
    let shipped: String = lines[begin + 2..end].join("\n");
    let embedded: serde_json::Value =
        serde_json::from_str(&shipped).expect("the shipped plugin config is JSON");
    let example =
        std::fs::read_to_string(support::repo_root().join("envoy/edge-auth.json")).unwrap();
    let example: serde_json::Value = serde_json::from_str(&example).unwrap();
    assert_eq!(
        embedded, example,
        "envoy/envoy.yaml must embed exactly envoy/edge-auth.json"
    );
}

#[test]
fn rendering_replaces_config_ports_and_wasm_path() {
    let config = "{\n  \"realm\": \"test\",\n\n  \"providers\": []\n}";
    let wasm = Path::new("/tmp/some dir/edge_auth.wasm");
    let yaml = support::render_envoy_yaml(config, 40001, 40002, 40003, wasm);

    assert!(yaml.contains("port_value: 40001 }") && yaml.contains("port_value: 40002 }"));
    assert!(yaml.contains("port_value: 40003 }"));
    for original in [
        "port_value: 9901 ",
        "port_value: 10000 ",
        "port_value: 8000 ",
        "release/edge_auth.wasm\n",
    ] {
        assert!(
            !yaml.contains(original),
            "{original:?} left in the rendered yaml"
        );
    }
    assert!(yaml.contains("filename: \"/tmp/some dir/edge_auth.wasm\""));

    // The JSON is indented two spaces under `value: |`, blank lines kept blank.
    let lines: Vec<&str> = yaml.lines().collect();
    let value = lines.iter().position(|l| l.trim() == "value: |").unwrap();
    let indent = lines[value].len() - lines[value].trim_start().len() + 2;
    let block = &lines[value + 1..value + 6];
    assert_eq!(block[0], format!("{}{{", " ".repeat(indent)));
    assert_eq!(
        block[1],
        format!("{}  \"realm\": \"test\",", " ".repeat(indent))
    );
    assert_eq!(block[2], "");
    assert_eq!(block[4], format!("{}}}", " ".repeat(indent)));
    assert_eq!(lines[value + 6].trim(), support::END_MARKER);
}

#[test]
fn echo_upstream_echoes_method_path_and_headers_in_order() {
    let echo = EchoUpstream::start();
    let response = support::http_request(
        echo.addr(),
        "PURGE",
        "/a//b/../c?x=1&y=%2F",
        &[
            ("Authorization", "Bearer one"),
            ("X-Custom", "v"),
            ("authorization", "Bearer two"),
        ],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));

    let upstream = response.upstream();
    assert_eq!(upstream.method, "PURGE");
    assert_eq!(upstream.path, "/a//b/../c?x=1&y=%2F");
    assert_eq!(upstream.header("host"), Some("localhost"));
    assert_eq!(upstream.header_count("Authorization"), 2);
    let names: Vec<&str> = upstream.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "host",
            "connection",
            "authorization",
            "x-custom",
            "authorization"
        ]
    );
    assert_eq!(upstream.header("authorization"), Some("Bearer one"));
}

#[test]
fn echo_upstream_discards_a_request_body() {
    let echo = EchoUpstream::start();
    let body = "a=1&b=2";
    let request = format!(
        "POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Kept alive: the response is complete by content-length, not by the connection closing.
    let response = support::send_raw(echo.addr(), request.as_bytes());
    assert_eq!(response.upstream().method, "POST");
    assert!(!response.body.contains(body));
}

#[test]
fn start_refuses_loudly_without_envoy_bin() {
    let wasm = std::env::current_exe().unwrap().into_os_string();
    let message = support::check_inputs(None, Some(wasm)).unwrap_err();
    assert!(message.contains("ENVOY_BIN is not set"), "{message}");
    assert!(message.contains("make test"), "{message}");
}

#[test]
fn start_refuses_loudly_when_the_wasm_is_missing() {
    let exe = std::env::current_exe().unwrap().into_os_string();
    let message =
        support::check_inputs(Some(exe), Some("/nonexistent/edge_auth.wasm".into())).unwrap_err();
    assert!(
        message.contains("EDGE_AUTH_WASM=/nonexistent/edge_auth.wasm does not exist"),
        "{message}"
    );
}
