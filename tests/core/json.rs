//! The filter's own JSON (`edge_auth::json`, issue 22) against serde_json, which it replaced:
//! the syntax check's messages and places, what the reader accepts and reads, how values are
//! written, the nesting limit, and the header fields serde's derive refused. One deliberate
//! difference: a float is written as the document wrote it, where serde_json wrote the
//! shortest double (`edge_auth::json::number`).

use edge_auth::json::syntax::{self, SyntaxError};
/// Where serde_json stopped, as a byte offset (its line and column, converted).
fn serde_json_error(bytes: &[u8]) -> Option<SyntaxError> {
    let err = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).err()?;
    let message = err.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_string();
    // serde_json's line (from 1) and column (bytes read on that line) as an offset.
    let line_start = match err.line() {
        1 => 0,
        line => {
            let (newline, _) = bytes
                .iter()
                .enumerate()
                .filter(|(_, byte)| **byte == b'\n')
                .nth(line - 2)
                .unwrap();
            newline + 1
        }
    };
    let offset = line_start + err.column();
    Some(SyntaxError {
        message: Box::leak(message.into_boxed_str()),
        offset,
    })
}

/// Equal, but floats within one unit in the last place: serde_json's float parser was not
/// always correctly rounded (`1.8446744073709551616`), core's is.
fn same(a: &edge_auth::json::Value, b: &edge_auth::json::Value) -> bool {
    use edge_auth::json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x == y || (x - y).abs() <= x.abs() * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

/// The compact text serde_json wrote for `node` (a repeated member keeps its last value,
/// members in order of name), but with every number as `bytes` wrote it.
fn numbers_verbatim(node: &edge_auth::json::tree::Node, bytes: &[u8]) -> String {
    use edge_auth::json::tree::Kind;
    match &node.kind {
        Kind::Null => "null".to_string(),
        Kind::Bool(value) => value.to_string(),
        Kind::Number(_) => String::from_utf8(bytes[node.start..node.end].to_vec()).unwrap(),
        Kind::String(text) => serde_json::to_string(text).unwrap(),
        Kind::Array(elements) => {
            let elements: Vec<String> = elements
                .iter()
                .map(|element| numbers_verbatim(element, bytes))
                .collect();
            format!("[{}]", elements.join(","))
        }
        Kind::Object(members) => {
            let members: std::collections::BTreeMap<&str, &edge_auth::json::tree::Node> = members
                .iter()
                .map(|member| (member.key.as_str(), &member.value))
                .collect();
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| {
                    let key = serde_json::to_string(key).unwrap();
                    format!("{key}:{}", numbers_verbatim(value, bytes))
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}

fn has_float(value: &edge_auth::json::Value) -> bool {
    use edge_auth::json::Value;
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(elements) => elements.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}

/// Every document one edit away from a few samples: the same verdict, message and place
/// as serde_json's, and the tree and [`edge_auth::json::Value`] accept exactly what
/// serde_json's `Value` accepted, with the same content.
#[test]
fn every_edit_of_a_document_is_judged_as_serde_json_judged_it() {
    let samples: [&[u8]; 4] = [
        br#"{"providers": [{"name": "a", "n": -1.5e+3, "ok": [true, false, null], "s": "\u00e9\n\ud83d\ude00"}], "x": {}}"#,
        b"[\n  1,\n  {\"a\" : [ ] },\n  \"\\\"\"\n]\n",
        br#"{"k":0,"f":0.5e-3,"big":18446744073709551616,"neg":-9223372036854775808}"#,
        b" \"\\u12ab\" ",
    ];
    let inserts = b"{}[],:\"\\ 0-.eE+tfnu\x01\xff";
    let mut checked = 0;
    for sample in samples {
        let mut edits: Vec<Vec<u8>> = vec![sample.to_vec()];
        for at in 0..=sample.len() {
            edits.push([&sample[..at], &sample[(at + 1).min(sample.len())..]].concat());
            edits.push(sample[..at].to_vec());
            for byte in inserts {
                edits.push([&sample[..at], &[*byte][..], &sample[at..]].concat());
                if at < sample.len() {
                    let mut replaced = sample.to_vec();
                    replaced[at] = *byte;
                    edits.push(replaced);
                }
            }
        }
        for edit in edits {
            let shown = String::from_utf8_lossy(&edit).into_owned();
            assert_eq!(
                syntax::check(&edit).err(),
                serde_json_error(&edit),
                "{shown}"
            );
            let ours = edge_auth::json::value::from_slice(&edit);
            let theirs = serde_json::from_slice::<serde_json::Value>(&edit).ok();
            assert_eq!(ours.is_some(), theirs.is_some(), "{shown}");
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                let converted = edge_auth::json::Value::from(theirs.clone());
                assert!(same(&ours, &converted), "{shown}");
                // serde_json's layout, but every number as the document wrote it (a float is no
                // longer the shortest double: `-1.5e+3` stays `-1.5e+3`, not `-1500.0`); read
                // back, serde_json finds what it found in the document.
                let written = ours.to_string();
                let tree = edge_auth::json::tree::parse(&edit).unwrap();
                assert_eq!(written, numbers_verbatim(&tree, &edit), "{shown}");
                let reread: serde_json::Value = serde_json::from_str(&written).unwrap();
                assert_eq!(reread, theirs, "{shown}: {written}");
                if !has_float(&ours) {
                    assert_eq!(
                        written,
                        theirs.to_string(),
                        "{shown}: no float, no difference"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 5_000, "{checked}");
}

/// The one place the output differs from serde_json's on purpose: a float (a number with a
/// fraction or exponent, `-0`, or an integer beyond 64 bits) is written verbatim, which any
/// JSON reader takes for the same number as the document's (serde_json: the same double).
#[test]
fn floats_are_written_as_the_document_wrote_them_not_as_the_shortest_double() {
    for (text, serde_json_wrote) in [
        ("1.50", "1.5"),
        ("1E3", "1000.0"),
        ("-0", "-0.0"),
        ("-1.5e+3", "-1500.0"),
        ("0.5e-3", "0.0005"),
        ("2.50e-7", "2.5e-7"),
        ("1e-400", "0.0"),
        ("0.10000000000000000001", "0.1"),
        ("18446744073709551616", "1.8446744073709552e+19"),
        ("1700000000.99999999999999999", "1700000001.0"),
    ] {
        let document = format!(r#"{{"claim":{text}}}"#);
        let ours = edge_auth::json::value::from_slice(document.as_bytes()).unwrap();
        assert!(ours["claim"].is_f64(), "{text}");
        assert_eq!(ours.to_string(), document, "{text}");
        let theirs: serde_json::Value = serde_json::from_str(&document).unwrap();
        assert_eq!(theirs["claim"].to_string(), serde_json_wrote, "{text}");
        let reread: serde_json::Value = serde_json::from_str(&ours.to_string()).unwrap();
        assert_eq!(reread, theirs, "{text}");
    }
    // Integers are written as serde_json wrote them, whatever the spelling could be.
    let ours = edge_auth::json::value::from_slice(b"[0, -7, 18446744073709551615]").unwrap();
    assert_eq!(ours.to_string(), "[0,-7,18446744073709551615]");
}

#[test]
fn nesting_is_limited_where_serde_json_limited_it() {
    for depth in [126, 127, 128, 129, 1_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
        assert_eq!(
            edge_auth::json::value::from_slice(text.as_bytes()).is_some(),
            theirs,
            "{depth}"
        );
        let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
        assert_eq!(
            edge_auth::json::value::from_slice(text.as_bytes()).is_some(),
            theirs,
            "{depth}"
        );
        assert!(
            syntax::check(text.as_bytes()).is_ok(),
            "the syntax check has no limit"
        );
    }
}

/// The token and proof headers were read by serde's derive: the same verdicts.
#[test]
fn header_fields_are_refused_where_serde_derive_refused_them() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Old {
        alg: String,
        #[serde(default)]
        typ: Option<String>,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        crit: Option<serde_json::Value>,
    }
    let new = |bytes: &[u8]| -> bool {
        let Ok(fields) = edge_auth::json::record::Record::from_slice(bytes) else {
            return false;
        };
        fields.required_string("alg").is_ok()
            && fields.string("typ").is_ok()
            && fields.string("kid").is_ok()
            && fields.value("crit").is_ok()
    };
    for header in [
        r#"{"alg":"ES256"}"#,
        r#"{"alg":"ES256","alg":"ES256"}"#,
        r#"{"alg":"ES256","kid":"a","kid":"a"}"#,
        r#"{"alg":"ES256","crit":null,"crit":null}"#,
        r#"{"alg":"ES256","x":1,"x":2}"#,
        r#"{"alg":null}"#,
        r#"{"kid":"a"}"#,
        r#"{"alg":"ES256","kid":null,"typ":null,"crit":null}"#,
        r#"{"alg":"ES256","kid":1}"#,
        r#"{"alg":"ES256","typ":[]}"#,
        r#"{"alg":"ES256","crit":["exp"]}"#,
        r#"{"alg":1}"#,
        r#""ES256""#,
        r#"{"alg":"ES256"} x"#,
    ] {
        let old = serde_json::from_str::<Old>(header).is_ok();
        assert_eq!(new(header.as_bytes()), old, "{header}");
    }
    // Arrays: serde's derive read a struct from one too (`["ES256"]`); no JOSE header is
    // an array (RFC 7515 section 4), so the filter now refuses it.
    assert!(serde_json::from_str::<Old>(r#"["ES256"]"#).is_ok());
    assert!(!new(br#"["ES256"]"#));
}
