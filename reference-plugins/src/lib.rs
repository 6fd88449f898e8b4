//! Shared modules of the reference plugins (issues 3 and 5: not built yet).
