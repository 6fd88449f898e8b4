//! Timing driver of `scripts/bench-chained-plugins.sh` (run that; it prepares the namespaces,
//! configs and floor batches this needs).
//!
//! `chained_plugins [--runs N] [--warmup N] --netns NODE --counts VARIANT...`: portmap's and
//! tuning's ADD+DEL, ours and upstream's (`--variant`, each in its own node namespace with
//! `--start-in`), the process-start part of the floor (`--starts`) and its kernel part
//! (`--batch`). See [`driver`].
//!
//! Two kernel batches are modes of this program, run in the current network namespace:
//! - `chained_plugins --empty-nft-transactions N` commits N empty nf_tables transactions (a
//!   batch holding only its begin and end markers, each on a netlink socket of its own, as a
//!   plugin opens one per transaction);
//! - `chained_plugins --nft-rule-add-delete N` does N times: one transaction adding a rule
//!   (no expressions) to a chain, one removing it (flushing the chain), each on its own
//!   socket. Closing a socket after a transaction that deleted something waits for the
//!   kernel's deferred clean-up (an RCU grace period), which any DEL that removes a rule pays.
//!   It makes the table `cnirs_bench_floor` (inet) with the chain first when missing and
//!   leaves it, empty: the bench runs it in its node namespace and removes the namespace, and
//!   the table with it.

mod driver;

use reference_plugins::netlink::nfnetlink::{self, Change, FAMILY_INET};

const TABLE: &str = "cnirs_bench_floor";

fn fail(what: &str, e: std::io::Error) -> ! {
    eprintln!("chained_plugins: {what}: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str);
    if !matches!(
        mode,
        Some("--empty-nft-transactions" | "--nft-rule-add-delete")
    ) {
        return driver::main("chained_plugins");
    }
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!(
            "chained_plugins: {} needs a count",
            mode.unwrap_or_default()
        );
        std::process::exit(2)
    });
    if mode == Some("--empty-nft-transactions") {
        for _ in 0..n {
            if let Err(e) = nfnetlink::commit_ops(&[]) {
                fail("empty nf_tables transaction", e);
            }
        }
        return;
    }
    let setup = [
        Change::AddTable { comment: "" },
        Change::AddChain {
            chain: "c",
            base: None,
        },
    ];
    if let Err(e) = nfnetlink::commit(FAMILY_INET, TABLE, &setup) {
        fail("make the table", e);
    }
    for _ in 0..n {
        let add = [Change::AddRule {
            chain: "c",
            exprs: Vec::new(),
            comment: "",
        }];
        if let Err(e) = nfnetlink::commit(FAMILY_INET, TABLE, &add) {
            fail("add a rule", e);
        }
        if let Err(e) = nfnetlink::commit(FAMILY_INET, TABLE, &[Change::FlushChain { chain: "c" }])
        {
            fail("delete the rule", e);
        }
    }
}
