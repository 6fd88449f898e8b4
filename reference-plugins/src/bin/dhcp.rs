//! `dhcp`: IPAM through DHCP. `dhcp daemon [flags]` runs the daemon that holds the leases
//! (see `reference_plugins::plugins::dhcp::daemon`); any other invocation is the CNI plugin,
//! which asks that daemon over its unix socket.
//!
//! The work lives in [`reference_plugins::plugins::dhcp`].

fn main() {
    reference_plugins::plugins::dhcp::main()
}
