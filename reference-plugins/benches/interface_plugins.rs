//! Timing driver of `scripts/bench-interface-plugins.sh` (run that; it prepares the namespaces, configs
//! and floor batches this needs).
//!
//! `interface_plugins [--runs N] [--warmup N] --netns NODE --counts VARIANT...`: the interface plugins'
//! ADD+DEL (`--variant`, with each implementation's own `CNI_PATH`), the process-start part
//! of the floor (`--starts`) and the kernel-work part of the floor (`--batch`: one process
//! doing the same link operations for many attachments at once). See [`driver`].

mod driver;

fn main() {
    driver::main("interface_plugins")
}
