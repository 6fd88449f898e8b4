//! Timing driver of `scripts/bench-issue3.sh` (run that; it prepares what this needs).
//!
//! `issue3 [--runs N] [--warmup N] --variant NAME BIN CONF...`: see [`driver`] for what a
//! sample is and what is printed.

mod driver;

fn main() {
    driver::main("issue3")
}
