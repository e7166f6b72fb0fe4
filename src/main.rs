//! The `rnn-sentiment` binary: parse arguments, run, map the outcome to an exit code.
//! Exit codes: 0 success, 1 quality gate failed, 2 any error.

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
            eprintln!("error: {error:#}");
            2
        }
    };
    std::process::exit(code);
}
