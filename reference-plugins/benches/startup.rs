//! Timing driver of `scripts/bench-startup.sh` (run that; it prepares what this needs).
//!
//! `startup [--runs N] [--warmup N] --variant NAME BIN CONF...`: see [`driver`] for what a
//! sample is and what is printed.

mod driver;

fn main() {
    driver::main("startup")
}
