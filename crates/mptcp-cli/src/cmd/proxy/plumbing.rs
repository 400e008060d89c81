//! The host configuration the proxy makes (routes, rules, NAT, sysctls),
//! each step with its undo, undone in reverse order when the value is
//! dropped: on a normal exit, on Ctrl-C, and on a failure half-way.

use std::io;
use std::process::Command;

/// One step: the command that makes it and the one that removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The program and its arguments.
    pub make: Vec<String>,
    /// What removes it again (run on drop; its failure is reported, not fatal).
    pub undo: Option<Vec<String>>,
}

impl Step {
    /// `ip ARGS...`, undone by `ip UNDO...`.
    pub fn ip(make: &[&str], undo: &[&str]) -> Step {
        Step {
            make: std::iter::once("ip")
                .chain(make.iter().copied())
                .map(String::from)
                .collect(),
            undo: Some(
                std::iter::once("ip")
                    .chain(undo.iter().copied())
                    .map(String::from)
                    .collect(),
            ),
        }
    }

    /// `nft -f -` with `script` on standard input, undone by `nft UNDO...`
    /// (`None`: removed with something else, a table say).
    pub fn nft(script: String, undo: Option<&[&str]>) -> Step {
        Step {
            make: vec!["nft".into(), "-f".into(), "-".into(), script],
            undo: undo.map(|u| {
                std::iter::once("nft")
                    .chain(u.iter().copied())
                    .map(String::from)
                    .collect()
            }),
        }
    }

    /// Writes `value` into `/proc/sys/KEY` (dots for slashes), undone by
    /// writing back what was there.
    pub fn sysctl(key: &str, value: &str) -> Step {
        Step {
            make: vec!["sysctl".into(), key.into(), value.into()],
            undo: None,
        }
    }

    /// The step as a shell line, for `--dry-run`.
    pub fn shell_line(&self) -> String {
        match self.make.first().map(String::as_str) {
            Some("nft") => format!("nft -f - <<'EOF'\n{}\nEOF", self.make[3].trim_end()),
            Some("sysctl") => format!("sysctl -w {}={}", self.make[1], self.make[2]),
            _ => self.make.join(" "),
        }
    }
}

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn run(argv: &[String]) -> io::Result<()> {
    let (prog, args) = argv.split_first().expect("a program");
    let mut cmd = Command::new(prog);
    let stdin = if prog == "nft" && args.first().is_some_and(|a| a == "-f") {
        cmd.args(&args[..2]);
        Some(args[2].clone())
    } else {
        cmd.args(args);
        None
    };
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    cmd.stdout(std::process::Stdio::null());
    cmd.stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{prog}: {e}")))?;
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{}: {}",
        argv.join(" ").lines().next().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// What was made so far; dropping it removes it, last first.
#[derive(Default)]
pub struct Plumbing {
    undo: Vec<Undo>,
}

enum Undo {
    Command(Vec<String>),
    Sysctl(String, String),
}

impl Plumbing {
    /// Makes the steps in order; on the first failure removes what was
    /// made and returns the error.
    pub fn apply(steps: &[Step]) -> io::Result<Plumbing> {
        let mut p = Plumbing::default();
        for step in steps {
            if step.make[0] == "sysctl" {
                let path = sysctl_path(&step.make[1]);
                let old = std::fs::read_to_string(&path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
                let old = old.trim().to_owned();
                if old != step.make[2] {
                    std::fs::write(&path, &step.make[2])
                        .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
                    p.undo.push(Undo::Sysctl(path, old));
                }
                continue;
            }
            run(&step.make)?;
            if let Some(undo) = &step.undo {
                p.undo.push(Undo::Command(undo.clone()));
            }
        }
        Ok(p)
    }

    /// Removes everything now (also what dropping does).
    pub fn tear_down(&mut self) {
        while let Some(u) = self.undo.pop() {
            let done = match &u {
                Undo::Command(argv) => run(argv),
                Undo::Sysctl(path, old) => std::fs::write(path, old),
            };
            if let Err(e) = done {
                eprintln!("mptcp proxy: cleaning up: {e}");
            }
        }
    }
}

impl Drop for Plumbing {
    fn drop(&mut self) {
        self.tear_down();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_lines() {
        let s = Step::ip(
            &["rule", "add", "from", "10.0.0.2"],
            &["rule", "del", "from", "10.0.0.2"],
        );
        assert_eq!(s.shell_line(), "ip rule add from 10.0.0.2");
        let n = Step::nft(
            "table inet t {}\n".into(),
            Some(&["delete", "table", "inet", "t"]),
        );
        assert_eq!(n.shell_line(), "nft -f - <<'EOF'\ntable inet t {}\nEOF");
        let c = Step::sysctl("net.ipv4.ip_forward", "1");
        assert_eq!(c.shell_line(), "sysctl -w net.ipv4.ip_forward=1");
        assert_eq!(
            sysctl_path("net.ipv4.conf.mpx0.rp_filter"),
            "/proc/sys/net/ipv4/conf/mpx0/rp_filter"
        );
    }

    #[test]
    fn a_failure_removes_what_was_made() {
        let dir = std::env::temp_dir().join(format!("plumbing-{}", std::process::id()));
        let marker = dir.join("made");
        std::fs::create_dir_all(&dir).unwrap();
        let m = marker.to_str().unwrap().to_owned();
        let touch = Step {
            make: vec!["touch".into(), m.clone()],
            undo: Some(vec!["rm".into(), m.clone()]),
        };
        let fail = Step {
            make: vec!["false".into()],
            undo: None,
        };
        assert!(Plumbing::apply(&[touch.clone(), fail]).is_err());
        assert!(!marker.exists(), "the first step was not undone");
        let p = Plumbing::apply(&[touch]).unwrap();
        assert!(marker.exists());
        drop(p);
        assert!(!marker.exists(), "dropping did not undo");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
