//! What the tool tests that run `mptcp` as a process share: a child whose
//! output lines are watched, reading numbers out of report lines, and a
//! veth pair between two namespaces.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any step may take before a test fails with what it saw.
pub const STEP: Duration = Duration::from_secs(120);

/// Which of the child's outputs is watched (the other is inherited).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A child process whose lines on one output arrive on a channel; killed
/// when the value is dropped.
pub struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    what: String,
}

fn forward<R: Read + Send + 'static>(pipe: R, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
}

impl Watched {
    /// Starts `cmd` (standard input closed), watching `output`.
    pub fn spawn(mut cmd: Command, output: Output, what: &str) -> Watched {
        cmd.stdin(Stdio::null());
        match output {
            Output::Stdout => cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()),
            Output::Stderr => cmd.stdout(Stdio::null()).stderr(Stdio::piped()),
        };
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let (tx, lines) = mpsc::channel();
        match output {
            Output::Stdout => forward(child.stdout.take().expect("stdout"), tx),
            Output::Stderr => forward(child.stderr.take().expect("stderr"), tx),
        }
        Watched {
            child,
            lines,
            seen: Vec::new(),
            what: what.to_owned(),
        }
    }

    /// The next line for which `wanted` holds; fails after [`STEP`] with
    /// every line seen.
    pub fn wait_line(&mut self, wanted: impl Fn(&str) -> bool, describe: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "{}: no line {describe} ({e}); saw {:#?}",
                    self.what, self.seen
                ),
            }
        }
    }

    /// Sends signal `sig` (a name for `kill`, like `INT` or `USR1`).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} {}", self.what);
    }

    /// Sends `sig`, then waits for the exit status (fails after [`STEP`]).
    pub fn stop_with(&mut self, sig: &str) -> ExitStatus {
        self.signal(sig);
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} ignored SIG{sig} for {STEP:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `key ` in `line` (0 when absent).
pub fn count(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches([',', ';']).parse().ok())
        .unwrap_or(0)
}

/// A veth pair: `a_dev` in `a`, `b_dev` in `b`.
pub fn veth(a: &mptcp_tun::lab::Netns, a_dev: &str, b: &mptcp_tun::lab::Netns, b_dev: &str) {
    a.ip(&[
        "link",
        "add",
        a_dev,
        "type",
        "veth",
        "peer",
        "name",
        b_dev,
        "netns",
        b.name(),
    ])
    .expect("veth");
}

/// `len` bytes of a xorshift stream seeded by `seed` (any value).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An echo server in `ns` at `addr`, a thread per connection.
pub fn echo_server(ns: &mptcp_tun::lab::Netns, addr: &'static str) {
    let listener = ns.run(|| std::net::TcpListener::bind(addr).expect("echo listen"));
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut r = s.try_clone().expect("clone");
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
}
