//! What the runtime's benchmarks share: their arguments and runtime.

/// The runtime our stack runs on in a benchmark: two threads, as this
/// machine has two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The value after `name` on the command line (`-- --bytes 1GiB`).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// A size such as `512MiB`, `1g` or `4096`.
pub fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().expect("size");
    n << match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => panic!("unknown size unit {other:?}"),
    }
}

/// The element of median `secs` (sorted by it).
pub fn median_by<T: Copy>(mut runs: Vec<T>, secs: impl Fn(&T) -> f64) -> T {
    runs.sort_by(|a, b| secs(a).total_cmp(&secs(b)));
    runs[runs.len() / 2]
}

/// Writes `bytes` zeros to `w`, 1 MiB at a time.
pub fn send_zeros(w: &mut impl std::io::Write, bytes: u64) {
    const CHUNK: usize = 1 << 20;
    let block = vec![0x5au8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
}
