//! `completions` and `man`: shell completions and man pages generated from the clap types.

use std::fs;
use std::io::{self, BufWriter};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

use rnn_sentiment::files;

use super::output::{emit, flush, write_stdout};
use super::Cli;

pub(crate) const COMPLETIONS_HELP: &str = "\
Install, for example:
  bash:  rnn-sentiment completions bash > ~/.local/share/bash-completion/completions/rnn-sentiment
  zsh:   rnn-sentiment completions zsh > ~/.zfunc/_rnn-sentiment   (with fpath+=~/.zfunc)
  fish:  rnn-sentiment completions fish > ~/.config/fish/completions/rnn-sentiment.fish";

#[derive(Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (rnn-sentiment.1, rnn-sentiment-train.1, ...) into this
    /// directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn completions(args: CompletionsArgs) -> Result<i32> {
    // Generated into memory first: clap_complete panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "rnn-sentiment",
        &mut script,
    );
    write_stdout(&script)
}

pub(crate) fn man(args: ManArgs) -> Result<i32> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let Some(dir) = args.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .context("cannot render the man page")?;
        return write_stdout(&page);
    };
    fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    // One page per command, subcommands as `rnn-sentiment-train.1` (their display names).
    let mut written = Vec::new();
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        pending.extend(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        );
        let page = clap_mangen::Man::new(command);
        let path = dir.join(page.get_filename());
        let mut bytes = Vec::new();
        page.render(&mut bytes)
            .context("cannot render the man page")?;
        files::write_atomic(&path, &bytes, "man page")?;
        written.push(path);
    }
    written.sort();
    let mut out = BufWriter::new(io::stdout().lock());
    for path in &written {
        emit(&mut out, format_args!("{}", path.display()))?;
    }
    flush(&mut out)?;
    Ok(0)
}
