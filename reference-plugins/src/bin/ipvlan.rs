//! `ipvlan`: see [`reference_plugins::ipvlan`] for what each verb does and
//! [`reference_plugins::sublink`] for the shared work.

fn main() {
    cni::skel::plugin_main(reference_plugins::sublink::SublinkPlugin(
        reference_plugins::ipvlan::Ipvlan,
    ))
}
