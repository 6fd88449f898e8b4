//! `link-order.txt`, the multicall binary's symbol ordering file (written by
//! `scripts/link-order.sh`, passed to lld by `build.rs`), is in the form lld reads: one symbol
//! name a line, no blanks or spaces, each name once, the process's entry first.

use std::collections::HashSet;

const ORDER: &str = include_str!("../link-order.txt");

#[test]
fn link_order_names_each_symbol_once_one_a_line() {
    let lines: Vec<&str> = ORDER.lines().collect();
    assert!(
        lines.len() > 100,
        "only {} names: regenerate it with scripts/link-order.sh",
        lines.len()
    );
    let mut seen = HashSet::new();
    for (n, line) in lines.iter().enumerate() {
        assert!(
            !line.is_empty() && !line.contains(char::is_whitespace),
            "line {}: {line:?} is not one symbol name",
            n + 1
        );
        assert!(seen.insert(*line), "line {}: {line} listed twice", n + 1);
    }
}

#[test]
fn link_order_starts_with_the_code_every_process_runs() {
    let lines: Vec<&str> = ORDER.lines().collect();
    let position = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix));
    // The C entry point and the C `main` first; the multicall binary's Rust `main` and its
    // dispatch among the functions every plugin runs, which come before any plugin's own.
    for (name, within) in [
        ("_start", 10),
        ("main", 10),
        ("_ZN14cni_rs_plugins4main", lines.len() / 2),
        ("_ZN17reference_plugins9multicall4main", lines.len() / 2),
    ] {
        let at = position(name);
        assert!(
            at.is_some_and(|at| at < within),
            "{name} is at {at:?}, not among the first {within} names: the file was not written \
             from traces of every plugin (scripts/link-order.sh)"
        );
    }
}
