//! Running `ip`, `tc` and friends, with failures that carry their stderr.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::process::{Command, Output, Stdio};

/// A command that ran but failed. It travels inside the [`io::Error`] the lab
/// returns (kind `Other`); get it back with
/// `err.get_ref().and_then(|e| e.downcast_ref::<CommandFailed>())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailed {
    /// The command line, space separated.
    pub command: String,
    /// The exit code, `None` if a signal ended the process.
    pub status: Option<i32>,
    /// What the command wrote to standard error.
    pub stderr: String,
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("signal".to_owned(), |c| c.to_string());
        write!(
            f,
            "`{}` failed (exit {status}): {}",
            self.command,
            self.stderr.trim()
        )
    }
}

impl Error for CommandFailed {}

/// The command line of `cmd`, for messages.
fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Turns a finished process into its stdout, or a [`CommandFailed`].
fn finish(cmd: &Command, out: Output) -> io::Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(io::Error::other(CommandFailed {
        command: describe(cmd),
        status: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }))
}

/// A spawn error with the command line in its message.
fn spawn_error(cmd: &Command, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("cannot run `{}`: {err}", describe(cmd)))
}

/// Runs `cmd` to completion; its stdout if it exits with 0.
pub(crate) fn output(cmd: &mut Command) -> io::Result<String> {
    cmd.stdin(Stdio::null());
    let out = cmd.output().map_err(|e| spawn_error(cmd, e))?;
    finish(cmd, out)
}

/// Runs `program args...`; its stdout if it exits with 0.
pub(crate) fn run(program: &str, args: &[&str]) -> io::Result<String> {
    output(Command::new(program).args(args))
}

/// Runs `cmd` with `input` on its standard input (e.g. `ip -batch -`).
pub(crate) fn run_with_input(cmd: &mut Command, input: &str) -> io::Result<String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| spawn_error(cmd, e))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    if let Some(Err(e)) = written
        && out.status.success()
    {
        return Err(e);
    }
    finish(cmd, out)
}
