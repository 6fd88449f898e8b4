//! Property-based scenarios: variants of the base configuration and environment generated
//! with proptest (deterministic for a seed), run through the same runner as the case tables.
//! Each variant warms up, takes a snapshot, then ADDs and DELs with the variant and checks the
//! invariants: never a crash or hang, always a valid result or a valid error object, and DEL
//! brings the state back to the snapshot.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use cni::version::SpecVersion;

use serde_json::Value;

use crate::capabilities;
use crate::cases::{Action, Case, CheckRef, Expect, Step, Versions};
use crate::target::Target;

/// One generated variant.
#[derive(Debug, Clone)]
struct Variant {
    version: String,
    ifname: String,
    args: String,
    extra: Vec<(String, toml::Value)>,
}

fn scalar() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        (-1000i64..1000).prop_map(toml::Value::Integer),
        "[ -~]{0,12}".prop_map(toml::Value::String),
        prop::collection::vec("[a-z]{1,6}".prop_map(toml::Value::String), 0..3)
            .prop_map(toml::Value::Array),
    ]
}

fn variant(versions: Vec<String>) -> impl Strategy<Value = Variant> {
    let version = prop_oneof![
        8 => prop::sample::select(versions),
        1 => prop::sample::select(vec!["9.9.9".to_string(), "1.0".into(), "".into(), "v1.0.0".into()]),
    ];
    let ifname = prop_oneof![
        8 => "[a-z][a-z0-9]{0,10}",
        1 => "[a-z]{16,20}",
        1 => prop::sample::select(vec!["a/b".to_string(), "a b".into(), "..".into(), "eth:0".into()]),
    ];
    let args = prop_oneof![
        3 => Just(String::new()),
        3 => "[A-Z]{1,6}=[a-z0-9:./-]{0,10}".prop_map(|kv| format!("IgnoreUnknown=1;{kv}")),
        1 => "[ -~]{0,16}",
    ];
    let extra = prop::collection::vec(("x[a-z]{1,8}", scalar()), 0..4);
    (version, ifname, args, extra).prop_map(|(version, ifname, args, extra)| Variant {
        version,
        ifname,
        args,
        extra,
    })
}

/// The capability generator's seed: `seed`'s bytes after a fixed tag, so it differs from
/// the variant generator's.
fn capability_seed(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(b"cap-args");
    bytes[8..16].copy_from_slice(&seed.to_le_bytes());
    bytes
}

/// Requirement IDs generated cases give evidence for.
pub const REQUIREMENTS: &[&str] = &["ADD-2", "ERR-1", "ERR-2", "DEL-1"];

/// `count` generated cases for a plugin advertising `versions`, reproducible from `seed`.
/// When the tested plugin's config in `target` enables capabilities, each variant's ADD and
/// DEL carry the same generated capability arguments (from a second generator of the same
/// seed, so the other parts of a variant do not depend on the config's capabilities).
pub fn cases(count: usize, seed: u64, versions: &[SpecVersion], target: &Target) -> Vec<Case> {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = variant(versions.iter().map(|v| v.as_str().to_string()).collect());
    let mut cap_runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &capability_seed(seed)),
    );
    let enabled = capabilities::enabled(&target.plugin_conf);
    let cap_strategy = capabilities::generated_args(enabled, capabilities::subnets(target));
    let reqs = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    (0..count)
        .map(|i| {
            let v = strategy
                .new_tree(&mut runner)
                .expect("strategy generates")
                .current();
            let mut env = std::collections::BTreeMap::new();
            env.insert("CNI_IFNAME".to_string(), v.ifname.clone());
            env.insert("CNI_ARGS".to_string(), v.args.clone());
            let mut patch = toml::map::Map::new();
            for (k, val) in &v.extra {
                patch.insert(k.clone(), val.clone());
            }
            let cap_args = cap_strategy
                .new_tree(&mut cap_runner)
                .expect("strategy generates")
                .current();
            if !cap_args.is_empty() {
                if let Ok(rc) = toml::Value::try_from(Value::Object(cap_args.clone())) {
                    patch.insert("runtimeConfig".into(), rc);
                }
            }
            let variant_step = |verb: &str| Step {
                verb: Some(verb.to_string()),
                env: env.clone(),
                version: Some(v.version.clone()),
                patch: Some(toml::Value::Table(patch.clone())),
                expect: Expect::Any,
                checks: vec![CheckRef::Name("outcome".into())],
                ..Step::default()
            };
            let plain = |verb: &str| Step {
                verb: Some(verb.to_string()),
                expect: Expect::Any,
                ..Step::default()
            };
            Case {
                id: format!("generated-{i}"),
                title: format!(
                    "generated variant: cniVersion {:?}, ifname {:?}, CNI_ARGS {:?}, {} extra key(s){}",
                    v.version,
                    v.ifname,
                    v.args,
                    v.extra.len(),
                    if cap_args.is_empty() {
                        String::new()
                    } else {
                        format!(", runtimeConfig {}", Value::Object(cap_args.clone()))
                    }
                ),
                requirements: reqs(REQUIREMENTS),
                applies: Vec::new(),
                versions: Versions::Latest,
                min_version: None,
                note: None,
                requires_ipam: false,
                capability: None,
                requires_later_plugins: false,
                steps: vec![
                    plain("ADD"),
                    plain("DEL"),
                    Step {
                        action: Some(Action::Snapshot("warm".into())),
                        ..Step::default()
                    },
                    variant_step("ADD"),
                    variant_step("DEL"),
                    // DEL must succeed for the attachment as the runtime knows it.
                    Step {
                        verb: Some("DEL".into()),
                        req: reqs(&["DEL-1"]),
                        ..Step::default()
                    },
                    Step {
                        action: Some(Action::Compare("warm".into())),
                        req: reqs(&["DEL-1"]),
                        ..Step::default()
                    },
                ],
            }
        })
        .collect()
}
