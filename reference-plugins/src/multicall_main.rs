//! `cni-rs-plugins`: every plugin in one binary, run under the name it is started as (see
//! [`reference_plugins::multicall`]). `scripts/install.sh` installs it once and hard-links it
//! under each upstream plugin name.

fn main() {
    reference_plugins::multicall::main()
}
