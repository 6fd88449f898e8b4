//! `portmap`: ports of the node forwarded to a container, after bridge or ptp in a list. See
//! [`reference_plugins::plugins::portmap`] for what each verb does.

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::portmap::PLUGIN)
}
