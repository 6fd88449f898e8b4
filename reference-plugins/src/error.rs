//! How the plugins turn lower failures into CNI errors.
//!
//! Plugins answer with [`cni::Error`]. Configuration and environment problems carry the
//! spec's codes (built where they are found, e.g. [`cni::Error::invalid_config`]); every other
//! failure (the kernel refused, a rule could not be written, a delegate misbehaved) is an
//! internal error, code [`cni::error::INTERNAL_ERROR_CODE`], whose message says what was
//! being done and why it failed: `"failed to create bridge \"cni0\": <netlink error>"`.
//!
//! - [`Context`] adds that "what was being done" to any `Result` whose error displays
//!   (netlink, firewall, interface plumbing, I/O errors): `.context("…")`, or
//!   `.with_context(|| format!(…))` when the text costs something to build.
//! - [`internal`] makes an internal error from a message alone.
//! - [`FirstFailure`] runs every step of a verb that must not stop at the first failure (DEL,
//!   GC) and reports the first one.

use std::fmt::Display;

use cni::Error;

/// An internal error (code [`cni::error::INTERNAL_ERROR_CODE`]) with this message.
pub fn internal(msg: impl Into<String>) -> Error {
    Error::internal(msg)
}

/// Adds what was being done to a lower failure, making it an internal [`cni::Error`].
pub trait Context<T> {
    /// `"{what}: {error}"`.
    fn context(self, what: impl Display) -> Result<T, Error>;
    /// [`Context::context`] with a message built only on failure.
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, Error>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, Error> {
        self.map_err(|e| internal(format!("{what}: {e}")))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, Error> {
        self.map_err(|e| internal(format!("{}: {e}", what())))
    }
}

/// The first failure among steps that all run (DEL and GC keep going after a failed step, so
/// that one stuck resource does not keep the others alive).
#[derive(Debug, Default)]
pub struct FirstFailure(Option<Error>);

impl FirstFailure {
    /// Keeps `outcome`'s error if it is the first.
    pub fn note(&mut self, outcome: Result<(), Error>) {
        if let Err(e) = outcome {
            self.0.get_or_insert(e);
        }
    }

    /// Success when no step failed, else the first failure.
    pub fn into_result(self) -> Result<(), Error> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::error::INTERNAL_ERROR_CODE;

    #[test]
    fn context_prefixes_what_was_done() {
        let e = Err::<(), _>(std::io::Error::other("boom"))
            .context("failed to write x")
            .unwrap_err();
        assert_eq!(e.code.code(), INTERNAL_ERROR_CODE);
        assert_eq!(e.msg, "failed to write x: boom");
        let lazy = Err::<(), _>("no").with_context(|| format!("step {}", 2));
        assert_eq!(lazy.unwrap_err().msg, "step 2: no");
        assert_eq!(Ok::<_, &str>(3).context("unused").unwrap(), 3);
    }

    #[test]
    fn first_failure_keeps_the_first() {
        let mut f = FirstFailure::default();
        f.note(Ok(()));
        f.note(Err(internal("first")));
        f.note(Err(Error::invalid_config("second")));
        assert_eq!(f.into_result().unwrap_err().msg, "first");
        assert!(FirstFailure::default().into_result().is_ok());
    }
}
