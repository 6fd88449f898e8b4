//! What a binary of this workspace says about itself on `--version`: its name, the version
//! (every crate of the workspace shares one) and the build it came from.
//!
//! The build is set by `cni/build.rs`: `CNI_RS_BUILD` from the build's environment, else the
//! commit `git describe --tags --always` names for release builds made in a checkout, else the
//! version itself (debug builds, builds outside a git checkout).

/// The workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The build: a `git describe` name, a packager's `CNI_RS_BUILD`, or [`VERSION`].
pub const BUILD: &str = env!("CNI_RS_BUILD");

/// `<version> (build <build>)`: what clap prints after a program's name for `--version`.
pub const VERSION_AND_BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (build ",
    env!("CNI_RS_BUILD"),
    ")"
);

/// One line for `--version`: `<program> <version> (build <build>)`.
pub fn version_line(program: &str) -> String {
    format!("{program} {VERSION_AND_BUILD}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_names_program_version_and_build() {
        let line = version_line("bridge");
        assert!(line.starts_with(&format!("bridge {VERSION} (build ")));
        assert!(line.ends_with(&format!("{BUILD})")));
        assert!(!BUILD.is_empty());
    }
}
