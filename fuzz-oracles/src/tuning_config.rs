//! The tuning plugin's configuration decoder (`TuningConf`: `sysctl`, `mac`, `promisc`, `mtu`,
//! `txQLen`, `allmulti`, `dataDir`, the `mac` capability, `args.cni`, `CNI_ARGS MAC=`) on one
//! untrusted request (input format: [`crate::request`]), with no allow-list file.
//!
//! Never panics; a refusal carries code 2, 4 (only for `MAC=` in `CNI_ARGS`), 6 or 7. An
//! accepted configuration satisfies what ADD, CHECK and DEL rely on:
//! - every sysctl names a file strictly below `/proc/sys/net`: components that are not empty,
//!   `.` or `..` and hold no `/` or NUL, the first `net`, the key resolving to the same file
//!   again; `IFNAME` replaced by `CNI_IFNAME` (one component, as given) when the key has one;
//!   no two sysctls name one file;
//! - a requested MAC is unicast and not zero; an MTU is 1 to `i32::MAX`; `dataDir` is not
//!   empty and holds no NUL.
//!
//! The same stdin is also read for two other interface names (one with a dot, which must stay
//! one component) and for STATUS (no interface: `IFNAME` stays as written).

use std::path::Path;

use reference_plugins::plugins::tuning::config::TuningConf;
use reference_plugins::plugins::tuning::sysctl::{resolve, PROC_SYS};

use crate::plugin_config::{mac, mtu, refused};
use crate::request::Request;

/// No allow-list: every key the decoder accepts is allowed.
const NO_ALLOWLIST: &str = "/nonexistent/cni-fuzz/tuning-allowlist.conf";

/// The oracle of the `tuning_config` target.
pub fn tuning_config(data: &[u8]) {
    let req = Request::new(data);
    let allow = Path::new(NO_ALLOWLIST);
    match &req.built {
        Ok(cmd) => check(TuningConf::from_cmd(cmd, allow), &req, Some(&cmd.ifname)),
        Err(_) => check(
            TuningConf::parse(req.stdin, &req.cni_args, Some("eth0"), allow),
            &req,
            Some("eth0"),
        ),
    }
    for ifname in [Some("e.1"), None] {
        check(
            TuningConf::parse(req.stdin, &req.cni_args, ifname, allow),
            &req,
            ifname,
        );
    }
}

fn check(r: Result<TuningConf, cni::Error>, req: &Request, ifname: Option<&str>) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return refused("tuning", &e, &[2, 4, 6, 7], &req.cni_args),
    };
    mtu("tuning", c.mtu);
    mac("tuning", c.mac.as_ref(), &req.cni_args);
    assert!(!c.data_dir.as_os_str().is_empty(), "tuning: empty dataDir");
    assert!(
        !c.data_dir.to_string_lossy().contains('\0'),
        "tuning: NUL in dataDir"
    );
    for (i, s) in c.sysctls.iter().enumerate() {
        let comps = s.path.components();
        assert!(
            comps.len() >= 2 && comps[0] == "net",
            "tuning: {:?} -> {}",
            s.key,
            s.path
        );
        for comp in comps {
            assert!(
                !comp.is_empty() && comp != "." && comp != ".." && !comp.contains(['/', '\0']),
                "tuning: key {:?} -> component {comp:?}",
                s.key
            );
        }
        let shown = s.path.to_string();
        assert!(shown.starts_with(&format!("{PROC_SYS}/net/")), "{shown}");
        assert_eq!(
            resolve(&s.key, ifname).as_ref(),
            Ok(&s.path),
            "tuning: the key resolves differently"
        );
        if let Some(ifname) = ifname {
            if s.key.contains("IFNAME") {
                assert!(
                    comps.iter().any(|c| c.contains(ifname)),
                    "tuning: {:?} -> {shown}: IFNAME not replaced by {ifname:?}",
                    s.key
                );
            }
        }
        assert!(
            c.sysctls[i + 1..].iter().all(|t| t.path != s.path),
            "tuning: two sysctls name {shown}"
        );
    }
}
