//! Panics the daemon expects and catches, kept off stderr: the DHCP decoder (`dhcproto`) may
//! panic on a hostile datagram, which [`super::packet`] and [`super::packet6`] catch and treat
//! as malformed. [`install`] (called once by the daemon) wraps the panic hook so that a panic
//! inside [`quietly`] prints nothing; every other panic still reaches the previous hook. Without
//! [`install`] (tests, fuzz targets) [`quietly`] only catches.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Wraps the current panic hook (once per process): panics inside [`quietly`] are not printed.
pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic; while it runs, a panic is not printed (once [`install`]ed).
pub fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let was = QUIET.with(|q| q.replace(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Panics of this thread that reached the previous hook; `None` on other threads.
        static PRINTED: Cell<Option<u32>> = const { Cell::new(None) };
    }

    fn printed() -> u32 {
        PRINTED.with(Cell::get).unwrap_or(0)
    }

    #[test]
    fn only_panics_outside_quietly_reach_the_previous_hook() {
        // The previous hook counts this thread's panics and prints other threads' as before
        // (other tests of this binary may panic meanwhile).
        PRINTED.with(|p| p.set(Some(0)));
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match PRINTED.with(Cell::get) {
            Some(n) => PRINTED.with(|p| p.set(Some(n + 1))),
            None => default(info),
        }));
        install();
        assert!(quietly(|| panic!("hostile datagram")).is_err());
        assert_eq!(quietly(|| 7).unwrap(), 7);
        assert_eq!(printed(), 0, "a caught decoder panic was printed");
        assert!(catch_unwind(|| panic!("a real bug")).is_err());
        assert_eq!(printed(), 1, "another panic was silenced");
        // Nested: the outer quiet state comes back.
        let _ = quietly(|| {
            let _ = quietly(|| 1);
            panic!("still quiet")
        });
        assert_eq!(printed(), 1);
    }
}
