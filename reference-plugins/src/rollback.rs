//! Undoing a failed ADD: every plugin records, as it goes, how to take back each thing it
//! made; a failure (an early `?` return or a panic) undoes them in reverse order, and success
//! keeps them ([`Rollback::commit`]).
//!
//! The guard holds the handle the undo steps need (usually the netlink handle of the
//! container's namespace) and lends it to the work in between ([`Rollback::ctx`]), so no step
//! needs a handle of its own. Undo steps are best effort: a step that fails is reported on
//! stderr and the others still run; the ADD error is what the runtime gets.
//!
//! A step is recorded *before* the action whose outcome is uncertain when that action may
//! leave something behind even when it fails (an IPAM delegate's ADD: its DEL is owed either
//! way), and right after it otherwise.

use std::fmt::Display;

/// One recorded undo step.
type Step<'a, C> = (String, Box<dyn FnOnce(&mut C) -> Result<(), String> + 'a>);

/// Undo steps over a context `C`, run in reverse on drop unless committed.
pub struct Rollback<'a, C> {
    ctx: &'a mut C,
    plugin: &'static str,
    steps: Vec<Step<'a, C>>,
}

impl<'a, C> Rollback<'a, C> {
    /// A guard over `ctx` for `plugin` (which names it in stderr messages).
    pub fn new(plugin: &'static str, ctx: &'a mut C) -> Rollback<'a, C> {
        Rollback {
            ctx,
            plugin,
            steps: Vec::new(),
        }
    }

    /// The context, for the work between steps.
    pub fn ctx(&mut self) -> &mut C {
        self.ctx
    }

    /// Records how to undo `what`.
    pub fn on_failure<E: Display>(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce(&mut C) -> Result<(), E> + 'a,
    ) {
        self.steps.push((
            what.into(),
            Box::new(move |ctx| undo(ctx).map_err(|e| e.to_string())),
        ));
    }

    /// How many steps are recorded.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step is recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The work succeeded: nothing is undone.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl<C> Drop for Rollback<'_, C> {
    fn drop(&mut self) {
        while let Some((what, undo)) = self.steps.pop() {
            if let Err(e) = undo(self.ctx) {
                eprintln!("{}: rollback: undoing {what} failed: {e}", self.plugin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(log: &mut Vec<String>, fail_at: Option<usize>) -> Result<(), String> {
        let mut rb = Rollback::new("test", log);
        for i in 0..3 {
            rb.ctx().push(format!("do {i}"));
            rb.on_failure(format!("step {i}"), move |log: &mut Vec<String>| {
                log.push(format!("undo {i}"));
                if i == 1 {
                    Err("refused")
                } else {
                    Ok(())
                }
            });
            if fail_at == Some(i) {
                return Err(format!("failed at {i}"));
            }
        }
        rb.commit();
        Ok(())
    }

    #[test]
    fn failure_undoes_in_reverse_and_keeps_going() {
        let mut log = Vec::new();
        assert!(work(&mut log, Some(2)).is_err());
        assert_eq!(
            log,
            ["do 0", "do 1", "do 2", "undo 2", "undo 1", "undo 0"],
            "a failing undo step does not stop the others"
        );
    }

    #[test]
    fn success_undoes_nothing() {
        let mut log = Vec::new();
        assert!(work(&mut log, None).is_ok());
        assert_eq!(log, ["do 0", "do 1", "do 2"]);
    }

    #[test]
    fn a_panic_undoes_too() {
        let mut log = Vec::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut rb = Rollback::new("test", &mut log);
            rb.on_failure("made", |log: &mut Vec<String>| {
                log.push("undone".into());
                Ok::<(), String>(())
            });
            panic!("in the middle");
        }));
        assert!(outcome.is_err());
        assert_eq!(log, ["undone"]);
    }
}
