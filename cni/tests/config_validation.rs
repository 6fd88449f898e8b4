//! Table-driven checks of every configuration validation rule with the exact error it gives
//! (CFG-1, CFG-2, CFG-6, CFG-8, CFG-10, CFG-11, CFG-12, VER-1, VER-3, VER-6), of the
//! interface-name and container-ID rules with their error codes (ENV-3, ENV-5, ENV-6), and of
//! loading a configuration directory (CFG-3, CFG-7, CFG-19).

use std::fs;
use std::path::Path;

use cni::config::{ConfigError, NetConf, NetConfList};
use cni::env::{validate_container_id, validate_ifname};
use cni::runtime::confdir::{load_all, load_by_name, load_file, LoadError};
use cni::version::SpecVersion;
use cni::ErrorCode;
use rstest::rstest;
use serde_json::{json, Value};

/// What a case expects.
#[derive(Debug)]
enum Want {
    /// Accepted.
    Ok,
    /// Accepted, and the list negotiates this version (VER-1).
    Negotiated(SpecVersion),
    /// Refused with exactly this error.
    Err(ConfigError),
    /// Refused as malformed JSON for the type (the message comes from the JSON decoder).
    Json,
}

fn check(got: Result<NetConfList, ConfigError>, want: Want) {
    match (got, want) {
        (Ok(_), Want::Ok) => {}
        (Ok(l), Want::Negotiated(v)) => assert_eq!(l.negotiated_version(), Ok(v)),
        (Err(e), Want::Err(w)) => assert_eq!(e, w),
        (Err(ConfigError::Json(_)), Want::Json) => {}
        (got, want) => panic!("expected {want:?}, got {got:?}"),
    }
}

/// A valid list named `name` with one plugin.
fn list_named(name: &str) -> Value {
    json!({"cniVersion": "1.1.0", "name": name, "plugins": [{"type": "bridge"}]})
}

/// A valid single-plugin config named `name`.
fn conf_named(name: &str) -> Value {
    json!({"cniVersion": "1.0.0", "name": name, "type": "bridge"})
}

/// A list whose single plugin is `plugin`.
fn list_with_plugin(plugin: Value) -> Value {
    json!({"cniVersion": "1.1.0", "name": "net", "plugins": [plugin]})
}

/// `plugin {index}: {inner}` as the list reports a bad plugin object.
fn bad_plugin(index: usize, inner: ConfigError) -> ConfigError {
    ConfigError::BadPlugin {
        index,
        reason: inner.to_string(),
    }
}

fn invalid_name(name: &str) -> ConfigError {
    ConfigError::InvalidName(name.to_string())
}

fn with_flag(flag: &str, value: Value) -> Value {
    let mut l = list_named("net");
    l[flag] = value;
    l
}

fn long_name() -> String {
    format!("a{}", "b.c_d-9".repeat(43)) // 302 characters
}

// ---------------------------------------------------------------------------------------------
// NetConfList::parse
// ---------------------------------------------------------------------------------------------

#[rstest]
// CFG-2: network names.
#[case::cfg_2_empty_name(list_named(""), Want::Err(ConfigError::MissingName))]
#[case::cfg_2_missing_name(
    json!({"cniVersion": "1.1.0", "plugins": [{"type": "x"}]}),
    Want::Err(ConfigError::MissingName)
)]
#[case::cfg_2_dotdot_path(list_named("../etc"), Want::Err(invalid_name("../etc")))]
#[case::cfg_2_slash(list_named("a/b"), Want::Err(invalid_name("a/b")))]
#[case::cfg_2_leading_dot(list_named(".hidden"), Want::Err(invalid_name(".hidden")))]
#[case::cfg_2_leading_dash(list_named("-x"), Want::Err(invalid_name("-x")))]
#[case::cfg_2_nul_inside(list_named("a\0b"), Want::Err(invalid_name("a\0b")))]
#[case::cfg_2_non_ascii(list_named("réseau"), Want::Err(invalid_name("réseau")))]
#[case::cfg_2_space(list_named("my net"), Want::Err(invalid_name("my net")))]
#[case::cfg_2_valid(list_named("a.b_c-1"), Want::Ok)]
#[case::cfg_2_digit_first(list_named("0net"), Want::Ok)]
#[case::cfg_2_300_chars(list_named(&long_name()), Want::Ok)]
#[case::cfg_10_name_not_string(
    json!({"cniVersion": "1.1.0", "name": 5, "plugins": [{"type": "x"}]}),
    Want::Json
)]
// CFG-11: plugin types (the list names the offending plugin's index).
#[case::cfg_11_missing_type(
    list_with_plugin(json!({"ipMasq": true})),
    Want::Err(bad_plugin(0, ConfigError::MissingType))
)]
#[case::cfg_11_type_not_string(
    list_with_plugin(json!({"type": 7})),
    Want::Err(bad_plugin(0, ConfigError::MissingType))
)]
#[case::cfg_11_empty_type(
    list_with_plugin(json!({"type": ""})),
    Want::Err(bad_plugin(0, ConfigError::MissingType))
)]
#[case::cfg_11_type_slash(
    list_with_plugin(json!({"type": "../bin/sh"})),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("../bin/sh".into())))
)]
#[case::cfg_11_type_backslash(
    list_with_plugin(json!({"type": "a\\b"})),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("a\\b".into())))
)]
#[case::cfg_11_second_plugin_bad(
    json!({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "ok"}, {"type": "a/b"}]}),
    Want::Err(bad_plugin(1, ConfigError::TypeHasPathSeparator("a/b".into())))
)]
#[case::cfg_16_ipam_type_slash(
    list_with_plugin(json!({"type": "bridge", "ipam": {"type": "x/host-local"}})),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("x/host-local".into())))
)]
#[case::cfg_16_ipam_valid(
    list_with_plugin(json!({"type": "bridge", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}})),
    Want::Ok
)]
// VER-1, VER-3, VER-6: versions.
#[case::ver_6_unknown_version(
    json!({"cniVersion": "9.9.9", "name": "n", "plugins": [{"type": "x"}]}),
    Want::Err(ConfigError::UnknownVersion("9.9.9".into()))
)]
#[case::ver_6_two_part_version(
    json!({"cniVersion": "1.0", "name": "n", "plugins": [{"type": "x"}]}),
    Want::Err(ConfigError::UnknownVersion("1.0".into()))
)]
#[case::cfg_1_missing_version(
    json!({"name": "n", "plugins": [{"type": "x"}]}),
    Want::Err(ConfigError::MissingVersion)
)]
#[case::cfg_10_version_not_string(
    json!({"cniVersion": 1, "name": "n", "plugins": [{"type": "x"}]}),
    Want::Json
)]
#[case::ver_3_invalid_versions_entry(
    json!({"cniVersion": "1.0.0", "cniVersions": ["1.1.0", "v2"], "name": "n", "plugins": [{"type": "x"}]}),
    Want::Err(ConfigError::InvalidVersionsEntry("v2".into()))
)]
#[case::ver_3_versions_entry_not_string(
    json!({"cniVersion": "1.0.0", "cniVersions": ["1.1.0", 2], "name": "n", "plugins": [{"type": "x"}]}),
    Want::Json
)]
#[case::ver_1_versions_rescue_unknown_version(
    json!({"cniVersion": "0.4.0", "cniVersions": ["1.1.0", "9.0.0"], "name": "n", "plugins": [{"type": "x"}]}),
    Want::Negotiated(SpecVersion::V1_1_0)
)]
#[case::ver_1_versions_rescue_unsupported_cniversion(
    json!({"cniVersion": "9.9.9", "cniVersions": ["1.0.0"], "name": "n", "plugins": [{"type": "x"}]}),
    Want::Negotiated(SpecVersion::V1_0_0)
)]
#[case::ver_1_plain_version(list_named("n"), Want::Negotiated(SpecVersion::V1_1_0))]
// CFG-8, CFG-10: the plugins key.
#[case::cfg_10_empty_plugins(
    json!({"cniVersion": "1.1.0", "name": "n", "plugins": []}),
    Want::Err(ConfigError::NoPlugins)
)]
#[case::cfg_8_only_inlined_without_plugins(
    json!({"cniVersion": "1.1.0", "name": "n", "loadOnlyInlinedPlugins": true}),
    Want::Err(ConfigError::OnlyInlinedWithoutPlugins)
)]
#[case::cfg_7_no_plugins_key_not_only_inlined(
    json!({"cniVersion": "1.1.0", "name": "n"}),
    Want::Ok
)]
#[case::cfg_10_plugins_not_array(
    json!({"cniVersion": "1.1.0", "name": "n", "plugins": {"type": "x"}}),
    Want::Json
)]
#[case::cfg_10_plugin_not_object(
    json!({"cniVersion": "1.1.0", "name": "n", "plugins": ["bridge"]}),
    Want::Json
)]
// CFG-12: capabilities.
#[case::cfg_12_capabilities_not_booleans(
    list_with_plugin(json!({"type": "portmap", "capabilities": {"portMappings": "yes"}})),
    Want::Err(bad_plugin(0, ConfigError::BadKey {
        key: "capabilities",
        reason: "must be an object of booleans".into(),
    }))
)]
#[case::cfg_12_capabilities_not_object(
    list_with_plugin(json!({"type": "portmap", "capabilities": ["portMappings"]})),
    Want::Err(bad_plugin(0, ConfigError::BadKey {
        key: "capabilities",
        reason: "must be an object of booleans".into(),
    }))
)]
#[case::cfg_12_capabilities_booleans(
    list_with_plugin(json!({"type": "portmap", "capabilities": {"portMappings": true, "mac": false}})),
    Want::Ok
)]
// CFG-6: the flags take booleans or "true"/"false" in any case, nothing else.
#[case::cfg_6_disable_check_true_string(with_flag("disableCheck", json!("true")), Want::Ok)]
#[case::cfg_6_disable_check_false_upper(with_flag("disableCheck", json!("FALSE")), Want::Ok)]
#[case::cfg_6_disable_check_bool(with_flag("disableCheck", json!(true)), Want::Ok)]
#[case::cfg_6_disable_check_number(with_flag("disableCheck", json!(1)), Want::Json)]
#[case::cfg_6_disable_check_yes(with_flag("disableCheck", json!("yes")), Want::Json)]
#[case::cfg_6_disable_gc_number(with_flag("disableGC", json!(0)), Want::Json)]
#[case::cfg_6_only_inlined_yes(with_flag("loadOnlyInlinedPlugins", json!("yes")), Want::Json)]
#[case::cfg_1_not_an_object(json!(["x"]), Want::Json)]
fn list_parse(#[case] input: Value, #[case] want: Want) {
    check(
        NetConfList::parse(&serde_json::to_vec(&input).unwrap()),
        want,
    );
}

/// CFG-6: the string forms set the flag to the right value.
#[rstest]
#[case("true", true)]
#[case("TRUE", true)]
#[case("False", false)]
#[case("FALSE", false)]
fn cfg_6_flag_strings_mean_what_they_say(#[case] text: &str, #[case] value: bool) {
    for flag in ["disableCheck", "disableGC"] {
        let l = NetConfList::parse(&serde_json::to_vec(&with_flag(flag, json!(text))).unwrap())
            .unwrap();
        let got = if flag == "disableCheck" {
            l.disable_check
        } else {
            l.disable_gc
        };
        assert_eq!(got, value, "{flag}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// NetConfList::from_single (CFG-19)
// ---------------------------------------------------------------------------------------------

#[rstest]
#[case::cfg_2_empty_name(conf_named(""), Want::Err(ConfigError::MissingName))]
#[case::cfg_2_dotdot_path(conf_named("../etc"), Want::Err(invalid_name("../etc")))]
#[case::cfg_2_slash(conf_named("a/b"), Want::Err(invalid_name("a/b")))]
#[case::cfg_2_leading_dot(conf_named(".hidden"), Want::Err(invalid_name(".hidden")))]
#[case::cfg_2_leading_dash(conf_named("-x"), Want::Err(invalid_name("-x")))]
#[case::cfg_2_nul_inside(conf_named("a\0b"), Want::Err(invalid_name("a\0b")))]
#[case::cfg_2_non_ascii(conf_named("réseau"), Want::Err(invalid_name("réseau")))]
#[case::cfg_2_space(conf_named("my net"), Want::Err(invalid_name("my net")))]
#[case::cfg_2_valid(conf_named("a.b_c-1"), Want::Negotiated(SpecVersion::V1_0_0))]
#[case::cfg_2_300_chars(conf_named(&long_name()), Want::Ok)]
#[case::cfg_11_missing_type(
    json!({"cniVersion": "1.0.0", "name": "n"}),
    Want::Err(bad_plugin(0, ConfigError::MissingType))
)]
#[case::cfg_11_type_slash(
    json!({"cniVersion": "1.0.0", "name": "n", "type": "a/b"}),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("a/b".into())))
)]
#[case::cfg_11_type_backslash(
    json!({"cniVersion": "1.0.0", "name": "n", "type": "a\\b"}),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("a\\b".into())))
)]
#[case::cfg_16_ipam_type_slash(
    json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipam": {"type": "/usr/bin/x"}}),
    Want::Err(bad_plugin(0, ConfigError::TypeHasPathSeparator("/usr/bin/x".into())))
)]
#[case::cfg_12_capabilities_not_booleans(
    json!({"cniVersion": "1.0.0", "name": "n", "type": "portmap", "capabilities": {"portMappings": 1}}),
    Want::Err(bad_plugin(0, ConfigError::BadKey {
        key: "capabilities",
        reason: "must be an object of booleans".into(),
    }))
)]
#[case::ver_6_unknown_version(
    json!({"cniVersion": "9.9.9", "name": "n", "type": "x"}),
    Want::Err(ConfigError::UnknownVersion("9.9.9".into()))
)]
#[case::ver_6_two_part_version(
    json!({"cniVersion": "1.0", "name": "n", "type": "x"}),
    Want::Err(ConfigError::UnknownVersion("1.0".into()))
)]
#[case::cfg_1_missing_version(
    json!({"name": "n", "type": "x"}),
    Want::Err(ConfigError::MissingVersion)
)]
#[case::cfg_1_not_an_object(json!("bridge"), Want::Json)]
fn single_conf(#[case] input: Value, #[case] want: Want) {
    let bytes = serde_json::to_vec(&input).unwrap();
    let got = NetConfList::from_single(&bytes);
    if let Ok(l) = &got {
        // Lifted into a one-plugin list that carries the whole original object.
        assert_eq!(l.plugins().len(), 1);
        assert_eq!(Value::Object(l.plugins()[0].clone()), input);
        assert_eq!(l.name, input["name"].as_str().unwrap());
    }
    check(got, want);
}

// ---------------------------------------------------------------------------------------------
// NetConf::validate (what a plugin checks of its request)
// ---------------------------------------------------------------------------------------------

fn request(name: &str, plugin_type: &str) -> Value {
    json!({"cniVersion": "1.1.0", "name": name, "type": plugin_type})
}

fn request_with_ipam(ipam: Value) -> Value {
    json!({"cniVersion": "1.1.0", "name": "n", "type": "bridge", "ipam": ipam})
}

#[rstest]
#[case::cfg_2_empty_name(request("", "bridge"), Err(ConfigError::MissingName))]
#[case::cfg_2_missing_name(json!({"type": "bridge"}), Err(ConfigError::MissingName))]
#[case::cfg_2_dotdot_path(request("../etc", "bridge"), Err(invalid_name("../etc")))]
#[case::cfg_2_slash(request("a/b", "bridge"), Err(invalid_name("a/b")))]
#[case::cfg_2_leading_dot(request(".hidden", "bridge"), Err(invalid_name(".hidden")))]
#[case::cfg_2_leading_dash(request("-x", "bridge"), Err(invalid_name("-x")))]
#[case::cfg_2_nul_inside(request("a\0b", "bridge"), Err(invalid_name("a\0b")))]
#[case::cfg_2_non_ascii(request("réseau", "bridge"), Err(invalid_name("réseau")))]
#[case::cfg_2_space(request("my net", "bridge"), Err(invalid_name("my net")))]
#[case::cfg_2_valid(request("a.b_c-1", "bridge"), Ok(()))]
#[case::cfg_2_300_chars(request(&long_name(), "bridge"), Ok(()))]
#[case::cfg_11_missing_type(json!({"name": "n"}), Err(ConfigError::MissingType))]
#[case::cfg_11_empty_type(request("n", ""), Err(ConfigError::MissingType))]
#[case::cfg_11_type_slash(
    request("n", "../bin/sh"),
    Err(ConfigError::TypeHasPathSeparator("../bin/sh".into()))
)]
#[case::cfg_11_type_backslash(
    request("n", "a\\b"),
    Err(ConfigError::TypeHasPathSeparator("a\\b".into()))
)]
#[case::cfg_16_ipam_type_slash(
    request_with_ipam(json!({"type": "x/host-local"})),
    Err(ConfigError::TypeHasPathSeparator("x/host-local".into()))
)]
#[case::cfg_16_ipam_type_backslash(
    request_with_ipam(json!({"type": "x\\y"})),
    Err(ConfigError::TypeHasPathSeparator("x\\y".into()))
)]
#[case::cfg_16_ipam_keys_without_type(
    request_with_ipam(json!({"subnet": "10.0.0.0/24"})),
    Err(ConfigError::MissingIpamType)
)]
#[case::ipam_14_empty_ipam_means_none(request_with_ipam(json!({})), Ok(()))]
#[case::cfg_16_ipam_valid(
    request_with_ipam(json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}]]})),
    Ok(())
)]
fn netconf_validate(#[case] input: Value, #[case] want: Result<(), ConfigError>) {
    let conf = NetConf::parse(&serde_json::to_vec(&input).unwrap()).unwrap();
    assert_eq!(conf.validate(), want);
}

// ---------------------------------------------------------------------------------------------
// CNI_IFNAME and CNI_CONTAINERID (ENV-3, ENV-5, ENV-6)
// ---------------------------------------------------------------------------------------------

const BAD_ENV: Option<ErrorCode> = Some(ErrorCode::InvalidEnvironmentVariables);

#[rstest]
#[case::env_6_valid("eth0", None)]
#[case::env_6_fifteen_bytes("a23456789012345", None)]
#[case::env_6_multibyte_fourteen_bytes("ééééééé", None)]
#[case::env_6_dots_inside("a.b", None)]
#[case::env_6_empty("", BAD_ENV)]
#[case::env_6_sixteen_bytes("a234567890123456", BAD_ENV)]
#[case::env_6_multibyte_sixteen_bytes("éééééééé", BAD_ENV)]
#[case::env_6_dot(".", BAD_ENV)]
#[case::env_6_dotdot("..", BAD_ENV)]
#[case::env_6_slash("a/b", BAD_ENV)]
#[case::env_6_colon("eth0:1", BAD_ENV)]
#[case::env_6_space("a b", BAD_ENV)]
#[case::env_6_tab("a\tb", BAD_ENV)]
#[case::env_6_newline("eth0\n", BAD_ENV)]
#[case::env_6_unicode_space("a\u{a0}b", BAD_ENV)]
#[case::env_6_nul("a\0b", BAD_ENV)]
fn env_6_ifname(#[case] name: &str, #[case] want: Option<ErrorCode>) {
    assert_eq!(
        validate_ifname(name).err().map(|e| e.code),
        want,
        "{name:?}"
    );
}

#[rstest]
#[case::env_3_valid("abc", None)]
#[case::env_3_digit("0", None)]
#[case::env_3_all_classes("a.b_c-1", None)]
#[case::env_3_long_hex(
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    None
)]
#[case::env_3_empty("", Some(ErrorCode::UnknownContainer))]
#[case::env_3_dotdot("../x", BAD_ENV)]
#[case::env_3_slash("a/b", BAD_ENV)]
#[case::env_3_leading_dash("-a", BAD_ENV)]
#[case::env_3_leading_dot(".a", BAD_ENV)]
#[case::env_3_leading_underscore("_a", BAD_ENV)]
#[case::env_3_space("a b", BAD_ENV)]
#[case::env_3_newline("a\n", BAD_ENV)]
#[case::env_3_colon("a:b", BAD_ENV)]
#[case::env_3_non_ascii("é", BAD_ENV)]
#[case::env_3_nul("a\0", BAD_ENV)]
fn env_3_container_id(#[case] id: &str, #[case] want: Option<ErrorCode>) {
    assert_eq!(
        validate_container_id(id).err().map(|e| e.code),
        want,
        "{id:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration directories (CFG-3, CFG-7, CFG-19)
// ---------------------------------------------------------------------------------------------

fn write(path: &Path, v: &Value) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn types(l: &NetConfList) -> Vec<&str> {
    l.plugins()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect()
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

/// CFG-19: `.conf`, `.conflist` and `.json` files are read in lexical order; a `.conf` or
/// `.json` file becomes a one-plugin list; other extensions are ignored.
#[test]
fn cfg_19_confdir_lexical_order_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("20-b.conflist"),
        &json!({"cniVersion": "1.1.0", "name": "b", "plugins": [{"type": "b1"}, {"type": "b2"}]}),
    );
    write(
        &d.join("10-a.conf"),
        &json!({"cniVersion": "1.0.0", "name": "a", "type": "a1", "ipam": {"type": "host-local"}}),
    );
    write(
        &d.join("30-c.json"),
        &json!({"cniVersion": "0.4.0", "name": "c", "type": "c1"}),
    );
    for ignored in [
        "05-x.txt",
        "06-y.conf.bak",
        "07-z.yaml",
        "conf",
        "08-w.CONF",
    ] {
        write(
            &d.join(ignored),
            &json!({"cniVersion": "1.0.0", "name": "ignored", "type": "nope"}),
        );
    }
    // A directory with a configuration extension is not a file.
    fs::create_dir(d.join("00-dir.conf")).unwrap();

    let all = load_all(d).unwrap();
    let names: Vec<&str> = all.iter().map(|(p, _)| file_name(p)).collect();
    assert_eq!(names, ["10-a.conf", "20-b.conflist", "30-c.json"]);
    let lists: Vec<&NetConfList> = all.iter().map(|(_, r)| r.as_ref().unwrap()).collect();

    // The `.conf` file lifted into a one-plugin list with its version and name.
    assert_eq!(lists[0].name, "a");
    assert_eq!(lists[0].cni_version, "1.0.0");
    assert_eq!(types(lists[0]), ["a1"]);
    assert_eq!(lists[0].plugins()[0]["ipam"]["type"], "host-local");
    assert_eq!(types(lists[1]), ["b1", "b2"]);
    // `.json` is read like `.conf`.
    assert_eq!(types(lists[2]), ["c1"]);
    assert_eq!(types(&load_by_name(d, "c").unwrap()), ["c1"]);

    assert!(matches!(
        load_by_name(d, "ignored"),
        Err(LoadError::NotFound { .. })
    ));
}

/// CFG-19, CFG-3: a `.conflist` is preferred over a `.conf` of the same name even when the
/// `.conf` sorts first; among files of one kind the lexically first wins.
#[test]
fn cfg_19_conflist_preferred_over_conf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("00-net.conf"),
        &json!({"cniVersion": "1.0.0", "name": "net", "type": "from-conf"}),
    );
    write(
        &d.join("50-net.conflist"),
        &json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "from-conflist"}]}),
    );
    write(
        &d.join("60-net.conflist"),
        &json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "later-conflist"}]}),
    );
    assert_eq!(types(&load_by_name(d, "net").unwrap()), ["from-conflist"]);

    // Among single-plugin files the lexically first wins (CFG-3).
    write(
        &d.join("10-single.json"),
        &json!({"cniVersion": "1.0.0", "name": "single", "type": "first"}),
    );
    write(
        &d.join("20-single.conf"),
        &json!({"cniVersion": "1.0.0", "name": "single", "type": "second"}),
    );
    assert_eq!(types(&load_by_name(d, "single").unwrap()), ["first"]);
}

/// CFG-7, CFG-8: `<dir>/<name>/*.conf` plugin objects are appended in lexical order after the
/// inlined plugins unless `loadOnlyInlinedPlugins` is true.
#[rstest]
#[case::cfg_7_appended(false, &["inline", "first", "second"])]
#[case::cfg_7_only_inlined(true, &["inline"])]
fn cfg_7_extra_plugins_from_subdirectory(#[case] only_inlined: bool, #[case] want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("10-extra.conflist");
    write(
        &file,
        &json!({
            "cniVersion": "1.1.0",
            "name": "extra",
            "loadOnlyInlinedPlugins": only_inlined,
            "plugins": [{"type": "inline"}]
        }),
    );
    write(&d.join("extra/b.conf"), &json!({"type": "second"}));
    write(&d.join("extra/a.conf"), &json!({"type": "first"}));
    write(&d.join("extra/c.json"), &json!({"type": "not-a-conf"}));
    write(&d.join("extra/d.conflist"), &json!({"type": "not-a-conf"}));

    assert_eq!(types(&load_file(&file).unwrap()), want);
    assert_eq!(types(&load_by_name(d, "extra").unwrap()), want);
    // The subdirectory's files are not networks of their own.
    let all = load_all(d).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(types(all[0].1.as_ref().unwrap()), want);
}

/// CFG-7: a list without a `plugins` key gets all of its plugins from the subdirectory; with
/// none there it ends up empty and is refused (CFG-10).
#[test]
fn cfg_7_plugins_only_from_subdirectory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("net.conflist");
    write(&file, &json!({"cniVersion": "1.1.0", "name": "net"}));
    assert!(matches!(
        load_file(&file),
        Err(LoadError::Invalid {
            source: ConfigError::NoPlugins,
            ..
        })
    ));
    write(&d.join("net/10-x.conf"), &json!({"type": "x"}));
    assert_eq!(types(&load_file(&file).unwrap()), ["x"]);
}

/// CFG-9: an aggregated plugin object that is invalid makes the load fail.
#[test]
fn cfg_9_invalid_extra_plugin_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("net.conflist");
    write(
        &file,
        &json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "a"}]}),
    );
    write(&d.join("net/bad.conf"), &json!({"type": "../sh"}));
    assert!(matches!(
        load_file(&file),
        Err(LoadError::Invalid {
            source: ConfigError::TypeHasPathSeparator(_),
            ..
        })
    ));
    fs::write(d.join("net/bad.conf"), b"{not json").unwrap();
    assert!(matches!(
        load_file(&file),
        Err(LoadError::Invalid {
            source: ConfigError::Json(_),
            ..
        })
    ));
}
