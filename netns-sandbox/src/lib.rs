//! Isolated network namespaces for CNI tests (issue 4: not built yet).
