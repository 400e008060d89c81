//! [`Netns`]: a uniquely named network namespace, deleted on drop.

use std::fs::File;
use std::io;
use std::panic;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::counters::{self, LinkStats, MptcpCounters};
use super::{cmd, sys, unique_name};

/// Serialises `ip netns add` within the process: concurrent first calls race
/// on making `/run/netns` a shared mount point.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// A network namespace created by the lab (`ip netns add`), with loopback up.
///
/// Dropping it kills the processes still inside (started with
/// [`exec`](Self::exec), say) and deletes the namespace; the kernel frees it,
/// with its virtual devices, once the last socket or thread in it is gone.
/// Nothing done through this type touches the host's own namespace.
///
/// [`existing`](Self::existing) borrows a namespace someone else made: it is
/// left alone on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// Whether the lab made it (and deletes it on drop).
    owned: bool,
}

impl Netns {
    /// Creates a namespace named `<prefix>-<pid>-<counter>-<random>`.
    /// `prefix` may hold ASCII letters, digits, `-` and `_`.
    pub fn create(prefix: &str) -> io::Result<Netns> {
        let name = unique_name(prefix)?;
        add_with_retry(&name)?;
        let ns = Netns { name, owned: true };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The existing namespace `name` (`ip netns add`, `/run/netns/<name>`),
    /// to work in; dropping the value neither kills its processes nor
    /// deletes it.
    pub fn existing(name: &str) -> io::Result<Netns> {
        if !Netns::exists(name) {
            let msg = format!("no network namespace {name:?} (ip netns list)");
            return Err(io::Error::new(io::ErrorKind::NotFound, msg));
        }
        Ok(Netns {
            name: name.to_owned(),
            owned: false,
        })
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's bind mount, `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Whether a namespace called `name` exists (`/run/netns/<name>`).
    pub fn exists(name: &str) -> bool {
        !name.is_empty() && !name.contains('/') && PathBuf::from("/run/netns").join(name).exists()
    }

    /// Runs `ip -n <name> args...`; its stdout, or an error whose message
    /// (a [`CommandFailed`](super::CommandFailed)) carries `ip`'s stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        cmd::output(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs `tc -n <name> args...`; its stdout, or an error carrying stderr.
    pub fn tc(&self, args: &[&str]) -> io::Result<String> {
        cmd::output(Command::new("tc").args(["-n", &self.name]).args(args))
    }

    /// Runs several `ip` commands (one per line, without the leading `ip`)
    /// in one `ip -n <name> -batch -` process; stops at the first failure.
    pub fn ip_batch<S: AsRef<str>>(&self, lines: &[S]) -> io::Result<String> {
        self.batch(None, lines)
    }

    /// [`ip_batch`](Self::ip_batch) with `ip -6`: needed for IPv6 rules
    /// (`ip rule` does not guess the family from the address).
    pub fn ip6_batch<S: AsRef<str>>(&self, lines: &[S]) -> io::Result<String> {
        self.batch(Some("-6"), lines)
    }

    fn batch<S: AsRef<str>>(&self, family: Option<&str>, lines: &[S]) -> io::Result<String> {
        let input: String = lines.iter().map(|l| format!("{}\n", l.as_ref())).collect();
        let mut ip = Command::new("ip");
        ip.args(["-n", &self.name])
            .args(family)
            .args(["-batch", "-"]);
        cmd::run_with_input(&mut ip, &input)
    }

    /// A `Command` for `ip netns exec <name> args...`, not yet spawned:
    /// add arguments, redirect, then `spawn` or `output` it. The process
    /// runs in the namespace (with `/etc/netns/<name>` and the namespace's
    /// `/sys`, as `ip netns exec` arranges); one still running when the
    /// `Netns` is dropped is killed. Fails if `args` is empty or the
    /// namespace is gone.
    pub fn exec(&self, args: &[&str]) -> io::Result<Command> {
        if args.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exec: no program",
            ));
        }
        if !Netns::exists(&self.name) {
            let msg = format!("netns {} is gone", self.name);
            return Err(io::Error::new(io::ErrorKind::NotFound, msg));
        }
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).args(args);
        Ok(command)
    }

    /// Sets the sysctl `key` (dotted, e.g. `net.mptcp.checksum_enabled`) to
    /// `value` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = sysctl_path(key)?;
        self.try_run(|| std::fs::write(&path, value))?
            .map_err(|e| io::Error::new(e.kind(), format!("sysctl {key}={value}: {e}")))
    }

    /// Reads the sysctl `key` inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> io::Result<String> {
        let path = sysctl_path(key)?;
        let value = self.try_run(|| std::fs::read_to_string(&path))??;
        Ok(value.trim().to_owned())
    }

    /// Opens the namespace file, e.g. to enter it later.
    pub fn open(&self) -> io::Result<File> {
        File::open(self.path())
    }

    /// Runs `f` on a fresh OS thread inside the namespace, waits for it and
    /// returns its value; a panic in `f` resumes in the caller. Sockets and
    /// TUN descriptors opened in `f` belong to the namespace, and threads `f`
    /// spawns (a tokio runtime's workers, say) start inside it too.
    ///
    /// # Panics
    /// If the thread cannot enter the namespace (see [`try_run`](Self::try_run)),
    /// or if `f` panics.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        self.try_run(f)
            .unwrap_or_else(|e| panic!("cannot enter netns {}: {e}", self.name))
    }

    /// [`run`](Self::run), with failure to enter the namespace as an error.
    pub fn try_run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> io::Result<T> {
        let ns = self.open()?;
        thread::scope(|scope| {
            let handle = thread::Builder::new()
                .name(format!("netns {}", self.name))
                .spawn_scoped(scope, move || enter(&ns).map(|()| f()))?;
            handle
                .join()
                .unwrap_or_else(|payload| panic::resume_unwind(payload))
        })
    }

    /// Like [`run`](Self::run) but does not wait: returns the thread's handle.
    /// The namespace is opened before returning, so the thread gets in even
    /// if `self` is dropped first.
    ///
    /// # Panics
    /// If the namespace cannot be opened; the thread panics (seen at `join`)
    /// if it cannot enter it.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.try_spawn(f)
            .unwrap_or_else(|e| panic!("cannot start a thread in netns {}: {e}", self.name))
    }

    /// [`spawn`](Self::spawn), with failure to open the namespace or start
    /// the thread as an error.
    pub fn try_spawn<T, F>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let ns = self.open()?;
        let name = self.name.clone();
        thread::Builder::new()
            .name(format!("netns {name}"))
            .spawn(move || {
                enter(&ns).unwrap_or_else(|e| panic!("cannot enter netns {name}: {e}"));
                drop(ns);
                f()
            })
    }

    /// The `MPTcpExt` counters as the namespace's own `/proc/net/netstat`
    /// shows them (read from a thread inside it).
    pub fn counters(&self) -> io::Result<MptcpCounters> {
        self.try_run(counters::read_current)?
    }

    /// Byte and packet counters of device `dev` inside the namespace.
    pub fn link_stats(&self, dev: &str) -> io::Result<LinkStats> {
        self.try_run(|| counters::read_link_stats(dev))?
    }

    /// Process ids running in the namespace (`ip netns pids`), except ours.
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        let out = cmd::run("ip", &["netns", "pids", &self.name])?;
        let own = i32::try_from(std::process::id()).unwrap_or(0);
        Ok(out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|&p| p != own)
            .collect())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for pid in self.pids().unwrap_or_default() {
            let _ = sys::kill(pid);
        }
        if let Err(e) = cmd::run("ip", &["netns", "del", &self.name]) {
            eprintln!("mptcp_tun::lab: cannot delete netns {}: {e}", self.name);
        }
    }
}

/// Moves the current thread into the namespace `ns`.
fn enter(ns: &File) -> io::Result<()> {
    use std::os::fd::AsFd;
    sys::setns_net(ns.as_fd())
}

/// `/proc/sys/...` for a dotted sysctl name.
fn sysctl_path(key: &str) -> io::Result<PathBuf> {
    let valid = !key.is_empty()
        && key
            .split('.')
            .all(|p| !p.is_empty() && p != ".." && !p.contains('/'));
    if !valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad sysctl {key:?}"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

/// `ip netns add name`, retried a few times: a concurrent `ip netns add` in
/// another process can make the first one fail while it sets up /run/netns.
fn add_with_retry(name: &str) -> io::Result<()> {
    let _guard = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut attempt = 0;
    loop {
        let err = match cmd::run("ip", &["netns", "add", name]) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Netns::exists(name) {
            // Half made (the name is ours alone): remove it before retrying.
            let _ = cmd::run("ip", &["netns", "del", name]);
        }
        if attempt == 3 {
            return Err(err);
        }
        attempt += 1;
        tracing::debug!("ip netns add {name} failed ({err}), retrying");
        thread::sleep(Duration::from_millis(20 * attempt));
    }
}
