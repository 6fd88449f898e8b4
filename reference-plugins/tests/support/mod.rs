//! Assertions on a plugin run's `Output` shared by the plugin integration tests
//! (`mod support;` in each). Not every test file uses every helper.
#![allow(dead_code)]

use std::process::Output;

use serde_json::Value;

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}, stdout {}, stderr {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exit 0 with one JSON document on stdout, returned.
pub fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Exit 0 with nothing on stdout (CHECK, DEL, STATUS, GC).
pub fn assert_silent_ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
    assert!(out.stdout.is_empty(), "{}", text(out));
}

/// Exit 1 with an error object; returns its code.
pub fn error_code(out: &Output) -> u64 {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(out)));
    assert!(!e["msg"].as_str().unwrap_or_default().is_empty(), "{e}");
    e["code"].as_u64().unwrap()
}
