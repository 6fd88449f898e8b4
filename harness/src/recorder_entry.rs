//! Makes every executable that links this library able to act as the delegate recorder
//! ([`crate::recorder`]): the harness links the running executable under a delegate's name,
//! and in a vendor's test binary no `main` of ours runs first. A function in `.init_array`
//! runs before `main` (after the standard library's own initialisation, which the linker
//! orders first by its priority); when `argv[0]` names the recorder, it runs the recorder and
//! exits with its status, and otherwise returns without touching anything.

use std::ffi::{c_char, c_int, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

/// Called by the C runtime with the process's arguments before `main`.
extern "C" fn run_recorder_if_invoked_as_one(
    argc: c_int,
    argv: *const *const c_char,
    _env: *const *const c_char,
) {
    if argc < 1 || argv.is_null() {
        return;
    }
    // SAFETY: the C runtime passes argv with argc valid, NUL-terminated entries.
    let argv0 = unsafe { *argv };
    if argv0.is_null() {
        return;
    }
    // SAFETY: as above.
    let argv0 = unsafe { CStr::from_ptr(argv0) };
    let path = Path::new(std::ffi::OsStr::from_bytes(argv0.to_bytes()));
    if !crate::recorder::is_recorder_path(path) {
        return;
    }
    let status = crate::recorder::main();
    let code = (0..=255u8)
        .find(|n| ExitCode::from(*n) == status)
        .unwrap_or(1);
    std::process::exit(i32::from(code));
}

#[used]
#[link_section = ".init_array"]
static RECORDER_ENTRY: extern "C" fn(c_int, *const *const c_char, *const *const c_char) =
    run_recorder_if_invoked_as_one;
