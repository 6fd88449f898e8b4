//! Conformance harness (issue 4). For now: the requirement catalogue loader.

pub mod catalogue;
