//! `dhcp`: IPAM through DHCP. `dhcp daemon [flags]` runs the daemon that holds the leases
//! (see `reference_plugins::plugins::dhcp::daemon`); any other invocation is the CNI plugin,
//! which asks that daemon over its unix socket.
//!
//! The work lives in [`reference_plugins::plugins::dhcp`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("daemon") {
        std::process::exit(reference_plugins::plugins::dhcp::daemon::main(&args[1..]));
    }
    cni::skel::plugin_main(reference_plugins::plugins::dhcp::PLUGIN)
}
