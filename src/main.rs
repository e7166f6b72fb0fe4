//! The `rnn-sentiment` binary: parse arguments, run, map the outcome to an exit code.
//! Exit codes: 0 success, 1 quality gate failed, 2 any error, 130 training interrupted by a
//! signal (a checkpoint is written, unless a second signal stopped it at once).

use std::io::Write;

mod alloc;
mod cli;

#[global_allocator]
static ALLOCATOR: alloc::HugePages = alloc::HugePages;

fn main() {
    alloc::keep_freed_memory();
    let code = match cli::run() {
        Ok(code) => code,
        Err(error) => {
            // The whole chain: what failed, then why.
            // Best effort: a closed or full stderr must not turn an error into a panic.
            let _ = writeln!(std::io::stderr().lock(), "error: {error:#}");
            2
        }
    };
    std::process::exit(code);
}
