//! The dhcp IPAM plugin's configuration decoder (`DhcpConfig`: `daemonSocketPath`, `request`,
//! `provide` with `fromArg`, `priority`, `dhcpv4`, `dhcpv6`) and DEL's lenient reading of the
//! socket path, on one untrusted request (input format: [`crate::request`]).
//!
//! Never panics; a refusal carries code 6 or 7, or 4 only when a `provide` value taken from a
//! `CNI_ARGS` key is too long. An accepted configuration satisfies what the daemon's requests
//! rely on:
//! - the parameter request list holds option codes 1 to 254, each once;
//! - every provided option is a code 1 to 254 that the client does not set itself (message
//!   type, requested address, server identifier, parameter list), provided once, with a value
//!   of 1 to 255 bytes (one DHCP option);
//! - at least one of DHCPv4 and DHCPv6; a socket path that is not empty and holds no NUL;
//! - DEL's lenient reading of the socket path finds the one ADD talks to;
//! - `CNI_ARGS` change nothing but provided values: read without them, the request is refused
//!   with code 7 or gives the same configuration apart from `provide`;
//! - the configuration written back as an `ipam` object (every option by number, values
//!   inline, `skipDefault` set) reads back to itself; without `skipDefault` the request list
//!   reads back as the default list followed by the options it lacks.

use cni::args::CniArgs;
use cni::Error;
use reference_plugins::plugins::dhcp::config::{DhcpConfig, DEFAULT_REQUEST, MAX_OPTION_LEN};
use reference_plugins::plugins::dhcp::options::CLIENT_MANAGED;
use serde_json::{json, Value};

use crate::request::{assert_code, Request};

/// The oracle of the `dhcp_config` target.
pub fn dhcp_config(data: &[u8]) {
    let req = Request::new(data);
    let (stdin, args) = match &req.built {
        Ok(cmd) => (cmd.stdin.as_slice(), &cmd.args),
        Err(_) => (req.stdin, &req.cni_args),
    };
    let lenient = DhcpConfig::socket_path_lenient(stdin);
    let c = match DhcpConfig::parse(stdin, args) {
        Ok(c) => c,
        Err(e) => return refused(&e, args),
    };
    accepted(&c);
    assert_eq!(
        lenient, c.socket_path,
        "dhcp: DEL's lenient reading finds another socket than ADD's"
    );

    if !args.is_empty() {
        match DhcpConfig::parse(stdin, &CniArgs::default()) {
            Ok(plain) => assert_eq!(
                DhcpConfig {
                    provide: c.provide.clone(),
                    ..plain
                },
                c,
                "dhcp: CNI_ARGS changed more than the provided values"
            ),
            Err(e) => assert_code("dhcp without CNI_ARGS", &e, &[7]),
        }
    }

    let written = written_back(&c, true);
    assert_eq!(reread(&written), c, "dhcp: written back as {written}");

    // Without `skipDefault` the same entries ask for the default list first, then for the
    // options it does not hold, in their order.
    let written = written_back(&c, false);
    let mut request = DEFAULT_REQUEST.to_vec();
    request.extend(c.request.iter().filter(|o| !DEFAULT_REQUEST.contains(o)));
    assert_eq!(
        reread(&written),
        DhcpConfig { request, ..c },
        "dhcp: written back without skipDefault as {written}"
    );
}

fn reread(written: &Value) -> DhcpConfig {
    let text = serde_json::to_vec(written).expect("serializes");
    DhcpConfig::parse(&text, &CniArgs::default())
        .unwrap_or_else(|e| panic!("dhcp: written back as {written}, refused: {e}"))
}

fn refused(e: &Error, args: &CniArgs) {
    assert_code("dhcp", e, &[4, 6, 7]);
    if e.code.code() == 4 {
        assert!(
            args.pairs().iter().any(|(_, v)| v.len() > MAX_OPTION_LEN),
            "dhcp: code 4 without a CNI_ARGS value longer than one option: {e}"
        );
    }
}

fn accepted(c: &DhcpConfig) {
    let valid_code = |code: u8| (1..=254).contains(&code);
    assert!(
        c.dhcpv4 || c.dhcpv6,
        "dhcp: accepted with nothing to acquire"
    );
    let path = c.socket_path.as_os_str().as_encoded_bytes();
    assert!(
        !path.is_empty() && !path.contains(&0),
        "dhcp: socket path {:?}",
        c.socket_path
    );
    for (i, code) in c.request.iter().enumerate() {
        assert!(valid_code(*code), "dhcp: requested option {code}");
        assert!(
            !c.request[i + 1..].contains(code),
            "dhcp: option {code} requested twice: {:?}",
            c.request
        );
    }
    for (i, p) in c.provide.iter().enumerate() {
        assert!(
            valid_code(p.code) && !CLIENT_MANAGED.contains(&p.code),
            "dhcp: provides option {}",
            p.code
        );
        assert!(
            (1..=MAX_OPTION_LEN).contains(&p.value.len()),
            "dhcp: option {} has a value of {} bytes",
            p.code,
            p.value.len()
        );
        assert!(
            c.provide[i + 1..].iter().all(|q| q.code != p.code),
            "dhcp: option {} provided twice",
            p.code
        );
    }
}

/// A request whose `ipam` object asks for `c` (with `skip_default`: exactly `c`).
fn written_back(c: &DhcpConfig, skip_default: bool) -> Value {
    let mut request = Vec::new();
    if skip_default {
        request.push(json!({"skipDefault": true}));
    }
    request.extend(
        c.request
            .iter()
            .map(|code| json!({"option": code.to_string()})),
    );
    let provide: Vec<Value> = c
        .provide
        .iter()
        .map(|p| json!({"option": p.code.to_string(), "value": p.value}))
        .collect();
    let mut ipam = json!({
        "type": "dhcp",
        "daemonSocketPath": c.socket_path.to_string_lossy(),
        "request": request,
        "provide": provide,
        "dhcpv4": c.dhcpv4,
        "dhcpv6": c.dhcpv6,
    });
    if let Some(p) = c.priority {
        ipam["priority"] = p.into();
    }
    json!({"cniVersion": "1.1.0", "name": "net", "type": "macvlan", "ipam": ipam})
}

#[cfg(test)]
mod tests {
    use super::dhcp_config;
    use reference_plugins::plugins::dhcp::config::DhcpConfig;
    use reference_plugins::plugins::dhcp::protocol::ProvidedOption;

    fn input(args: &str, conf: &str) -> Vec<u8> {
        let mut v = args.as_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(conf.as_bytes());
        v
    }

    #[test]
    fn accepted_and_refused_requests_pass() {
        dhcp_config(&input(
            "K8S_POD_NAME=pod-a",
            r#"{"cniVersion":"1.0.0","name":"n","type":"macvlan","ipam":{"type":"dhcp",
               "request":[{"option":"routers"},{"skipDefault":true}],
               "provide":[{"option":"host-name","fromArg":"K8S_POD_NAME","value":"x"}]}}"#,
        ));
        dhcp_config(&input(
            &format!("H={}", "y".repeat(300)),
            r#"{"cniVersion":"1.0.0","name":"n","ipam":{"provide":[{"option":"12","fromArg":"H"}]}}"#,
        ));
        dhcp_config(b"[]");
    }

    fn planted(request: &[u8], provide: &[(u8, &str)]) -> DhcpConfig {
        DhcpConfig {
            socket_path: "/run/cni/dhcp.sock".into(),
            request: request.to_vec(),
            provide: provide
                .iter()
                .map(|&(code, value)| ProvidedOption {
                    code,
                    value: value.into(),
                })
                .collect(),
            priority: None,
            dhcpv4: true,
            dhcpv6: false,
        }
    }

    #[test]
    fn planted_violations_are_caught() {
        super::accepted(&planted(&[3, 1, 121], &[(12, "pod")]));
        let bad = [
            planted(&[3, 1, 3], &[]),
            planted(&[0], &[]),
            planted(&[3], &[(53, "x")]),
            planted(&[3], &[(12, "")]),
            planted(&[3], &[(12, "a"), (12, "b")]),
            DhcpConfig {
                dhcpv4: false,
                ..planted(&[3], &[])
            },
        ];
        for c in bad {
            let caught = std::panic::catch_unwind(|| super::accepted(&c)).is_err();
            assert!(caught, "not caught: {c:?}");
        }
    }

    #[test]
    #[should_panic(expected = "code 4 without")]
    fn code_4_must_come_from_a_long_cni_args_value() {
        super::refused(&cni::Error::invalid_env("x"), &Default::default());
    }
}
