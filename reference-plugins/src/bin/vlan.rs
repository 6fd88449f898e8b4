//! `vlan`: see [`reference_plugins::plugins::vlan`] for what each verb does and
//! [`reference_plugins::sublink`] for the shared work.

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::vlan::PLUGIN)
}
