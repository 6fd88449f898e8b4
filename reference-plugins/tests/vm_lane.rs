//! The VM lane's driver: runs the test targets of [`IN_VM_TARGETS`] inside a small VM booting
//! Debian's kernel, which has what this machine's kernel lacks (ipvlan, 802.1q vlan, dummy
//! links). See `scripts/vm/README.md`; the steps are the `vm-lane` crate's (a dev-dependency):
//!
//! 1. `scripts/vm/build-image.sh` builds (or finds cached) the kernel and initramfs in
//!    `target/vm/`;
//! 2. the targets are built statically (`-C target-feature=+crt-static`) into
//!    `target/vm-build/`, apart from the normal build so neither invalidates the other;
//! 3. `scripts/vm/run.sh` boots one VM that runs them one after the other (the workspace is
//!    shared over 9p at the same path), each after a marker line naming it;
//! 4. the VM must exit 0 and each target's part of the console must report every one of its
//!    tests `ok`, none ignored.
//!
//! Anything missing (packages, the kernel download, qemu, a static build) fails this test with
//! the reason; it never passes or skips without the VM having run the tests.

use std::path::{Path, PathBuf};

/// The test targets (`tests/<name>.rs`) that run inside the VM, in one boot. A target may
/// instead drive itself, as `in_vm_ipvlan_vlan` does: then it must not be listed here too.
const IN_VM_TARGETS: &[&str] = &["in_vm_kernel_features"];
/// VM time allowed per target unless CNIRS_VM_TIMEOUT says otherwise.
const SECONDS_PER_TARGET: usize = 300;

#[test]
fn in_vm_targets_pass_inside_the_vm() {
    vm_lane::build_image();
    let exes = vm_lane::build_static_tests(env!("CARGO_PKG_NAME"), IN_VM_TARGETS);
    let listed: Vec<Vec<String>> = exes.iter().map(|e| vm_lane::list_tests(e)).collect();
    for (t, names) in IN_VM_TARGETS.iter().zip(&listed) {
        assert!(!names.is_empty(), "VM lane: tests/{t}.rs lists no tests");
    }

    // One boot runs every target; the VM's exit status is 1 if any failed.
    let targets: Vec<(&str, &Path)> = IN_VM_TARGETS
        .iter()
        .copied()
        .zip(exes.iter().map(PathBuf::as_path))
        .collect();
    let timeout = (SECONDS_PER_TARGET * IN_VM_TARGETS.len()).to_string();
    let vm = vm_lane::run_in_one_boot(&targets, &[("CNIRS_VM_TIMEOUT", &timeout)]);
    vm.assert_success();
    println!("{}", vm.console);

    let problems: Vec<String> = IN_VM_TARGETS
        .iter()
        .zip(&listed)
        .flat_map(|(t, names)| {
            vm_lane::console_problems(vm.section(t), names)
                .into_iter()
                .map(move |p| format!("{t}: {p}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "VM lane: {problems:#?}\n{}\n{}",
        vm.console,
        vm.stderr
    );
}
