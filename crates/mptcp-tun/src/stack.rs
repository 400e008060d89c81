//! `Stack`: the engine, its devices and the driver task, and the builder
//! that configures them.

use crate::device::{Device, DeviceStats, PathConfig};
use crate::shared::{Shared, State};
use crate::{MptcpListener, MptcpStream, driver, links, sys};
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::endpoint::{Endpoint, EndpointConfig, EndpointStats, SharedTokens};
use mptcp_proto::pm::{PmEndpoint, PmEvent, PmKind, PmLimits};
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::stats::Counters;
use mptcp_proto::subflow::TcpFeatures;
use mptcp_proto::token::{Shard, TokenTable, TokenTableConfig};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A userspace MPTCP stack on TUN devices: one endpoint, its paths, and
/// the driver task that runs it on the current tokio runtime. Cheap to
/// clone; the driver stops once every clone, stream and listener is gone
/// and the last connection has closed.
#[derive(Clone, Debug)]
pub struct Stack {
    handle: Arc<StackHandle>,
}

#[derive(Debug)]
struct StackHandle {
    /// One per worker (see [`StackBuilder::workers`]).
    workers: Vec<Arc<Shared>>,
    /// The worker the next `connect` goes to.
    next: std::sync::atomic::AtomicUsize,
    paths: Vec<PathConfig>,
    /// The path-manager events, until taken.
    pm_events: std::sync::Mutex<Option<PmEvents>>,
}

/// The stream of path-manager events (see [`Stack::pm_events`]).
pub type PmEvents = tokio::sync::mpsc::UnboundedReceiver<PmEvent>;

impl Drop for StackHandle {
    fn drop(&mut self) {
        for w in &self.workers {
            w.handle_closed();
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Stack {
    /// A builder with the defaults: MPTCP v1 offered (v0 accepted), the
    /// lowest-RTT-first scheduler, LIA coupled congestion control, no DSS
    /// checksums asked for, subflows opened from every path.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// Every worker's shared part.
    pub(crate) fn workers(&self) -> &[Arc<Shared>] {
        &self.handle.workers
    }

    /// The worker a new outgoing connection goes to: each in turn.
    pub(crate) fn pick(&self) -> &Arc<Shared> {
        let n = self.handle.workers.len();
        let i = self
            .handle
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.handle.workers[i % n]
    }

    fn first(&self) -> &Arc<Shared> {
        &self.handle.workers[0]
    }

    /// The paths, in the order given (the first carries initial subflows),
    /// each with the MTU its device has.
    pub fn paths(&self) -> &[PathConfig] {
        &self.handle.paths
    }

    /// Connect to `remote` (see [`MptcpStream::connect`]).
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<MptcpStream> {
        MptcpStream::connect(self, remote).await
    }

    /// Listen on `port` (see [`MptcpListener::bind`]).
    pub fn listen(&self, port: u16) -> io::Result<MptcpListener> {
        MptcpListener::bind(self, port)
    }

    /// The MPTCP counters of the endpoint and of all its connections, named
    /// as the kernel's MIB (MPCapableSYNTX, MPJoinSynRx, ...).
    pub fn counters(&self) -> Counters {
        let mut all = Counters::default();
        for w in self.workers() {
            all.merge(&w.lock().ep.mib_total());
        }
        all
    }

    /// How many workers run the stack (see [`StackBuilder::workers`]).
    pub fn worker_count(&self) -> usize {
        self.workers().len()
    }

    /// The MPTCP counters of worker `i`'s endpoint and connections (see
    /// [`Stack::counters`]); `None` past the last worker.
    pub fn worker_counters(&self, i: usize) -> Option<Counters> {
        self.workers().get(i).map(|w| w.lock().ep.mib_total())
    }

    /// The path-manager events, named as the kernel's MPTCP netlink events
    /// (`created`, `established`, `announced`, `sub_established`, ...), once:
    /// `None` if taken before or if the builder did not ask for them
    /// ([`StackBuilder::pm_events`]).
    pub fn pm_events(&self) -> Option<PmEvents> {
        let mut slot = self
            .handle
            .pm_events
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        slot.take()
    }

    /// Add (or replace) a path-manager endpoint while the stack runs (as
    /// `ip mptcp endpoint add`): connections under way announce it or join
    /// from it as its flags say. Returns its id.
    pub fn add_endpoint(&self, ep: PmEndpoint) -> io::Result<u8> {
        let mut first = None;
        for shared in self.workers() {
            let mut st = shared.lock();
            let id = st.ep.add_endpoint(ep);
            shared.unlock(st);
            shared.kick();
            first.get_or_insert(id);
        }
        let id = first.expect("a stack has a worker");
        id.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// Remove the path-manager endpoint of `addr` while the stack runs:
    /// every connection withdraws the address (REMOVE_ADDR) and resets its
    /// subflows from it.
    pub fn remove_endpoint(&self, addr: IpAddr) -> Option<PmEndpoint> {
        let mut first = None;
        for shared in self.workers() {
            let mut st = shared.lock();
            let ep = st.ep.remove_endpoint(addr);
            shared.unlock(st);
            shared.kick();
            first.get_or_insert(ep);
        }
        first.flatten()
    }

    /// The path manager's endpoints as configured (`None`: derived from
    /// the paths, see [`Endpoint::add_endpoint`]).
    pub fn endpoints(&self) -> Option<Vec<PmEndpoint>> {
        self.first().lock().ep.endpoints().map(<[_]>::to_vec)
    }

    /// Endpoint-wide packet and connection counts, summed over the workers.
    pub fn endpoint_stats(&self) -> EndpointStats {
        let mut all = EndpointStats::default();
        for w in self.workers() {
            all += *w.lock().ep.stats();
        }
        all
    }

    /// Wakeups of the drivers and of the application's tasks, and the
    /// packets workers handed to each other, summed over the workers.
    pub fn driver_stats(&self) -> crate::DriverStats {
        let mut all = crate::DriverStats::default();
        for w in self.workers() {
            all += w.driver_stats();
        }
        all
    }

    /// Packet counters of each path's device (all its queues).
    pub fn device_stats(&self) -> Vec<(PathConfig, DeviceStats)> {
        self.first()
            .devices
            .iter()
            .map(|(p, c)| (p.clone(), c.snapshot()))
            .collect()
    }
}

/// Configures a [`Stack`].
#[derive(Clone, Debug, Default)]
pub struct StackBuilder {
    paths: Vec<PathConfig>,
    signal: Vec<IpAddr>,
    endpoints: Vec<PmEndpoint>,
    config: EndpointConfig,
    seed: Option<u64>,
    no_offload: bool,
    workers: Option<usize>,
    fewer_workers: bool,
}

impl StackBuilder {
    /// Add a path: the TUN device `device` (attached, or created if absent)
    /// with our address `addr` on it. The first path of each address family
    /// carries the initial subflow of the connections we open.
    pub fn path(mut self, device: impl Into<String>, addr: IpAddr) -> StackBuilder {
        self.paths.push(PathConfig::new(device, addr));
        self
    }

    /// Add a path given as a [`PathConfig`].
    pub fn path_config(mut self, path: PathConfig) -> StackBuilder {
        self.paths.push(path);
        self
    }

    /// The MPTCP version offered when connecting (v1 by default).
    pub fn version(mut self, v: MptcpVersion) -> StackBuilder {
        self.config.connection.mptcp.version = v;
        self
    }

    /// Accept v0 (RFC 6824) clients (on by default).
    pub fn accept_v0(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.accept_v0 = yes;
        self
    }

    /// Offer and accept MPTCP at all (off: a plain TCP stack).
    pub fn mptcp(mut self, enabled: bool) -> StackBuilder {
        self.config.connection.mptcp.enabled = enabled;
        self
    }

    /// The scheduler.
    pub fn scheduler(mut self, s: SchedulerKind) -> StackBuilder {
        self.config.connection.mptcp.scheduler = s;
        self
    }

    /// Congestion control of MPTCP subflows (coupled LIA by default).
    pub fn congestion(mut self, cc: CcAlgorithm) -> StackBuilder {
        self.config.connection.mptcp.cc = cc;
        self
    }

    /// Congestion control of plain TCP connections (CUBIC by default).
    pub fn tcp_congestion(mut self, cc: CcAlgorithm) -> StackBuilder {
        self.config.connection.subflow.cc = cc;
        self
    }

    /// The TCP options our subflows offer and use: timestamps, SACK,
    /// window scaling (all on by default) and an MSS cap, as a peer
    /// without them would (RFC 7323, RFC 2018). The path's MTU bounds the
    /// MSS in any case.
    ///
    /// ```no_run
    /// # fn demo() -> std::io::Result<()> {
    /// use mptcp_tun::{Stack, TcpFeatures};
    /// let features: TcpFeatures = "no-timestamps,no-sack".parse().unwrap();
    /// let builder = Stack::builder().tcp_features(features);
    /// # Ok(()) }
    /// ```
    pub fn tcp_features(mut self, features: TcpFeatures) -> StackBuilder {
        features.apply(&mut self.config.connection.subflow);
        self
    }

    /// Ask for DSS checksums (RFC 8684 §3.3.1; used when either side asks).
    pub fn checksum(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.checksum = yes;
        self
    }

    /// How long a subflow we joined waits after its handshake before it
    /// carries data (20 ms by default; zero: at once). It keeps data from
    /// reaching a Linux peer before that peer links the subflow into its
    /// connection, which it may put in the wrong place
    /// (`MptcpConfig::join_data_delay`, `docs/interop.md`).
    pub fn join_data_delay(mut self, delay: std::time::Duration) -> StackBuilder {
        self.config.connection.mptcp.join_data_delay = delay.into();
        self
    }

    /// Path manager: open subflows from every other path and to addresses
    /// the peer announces (on by default).
    pub fn open_subflows(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.open_subflows = yes;
        self
    }

    /// Server: flag C in the SYN-ACK, and joins to the connection's initial
    /// address and port refused (off by default): for servers behind a
    /// load balancer, which announce addresses of their own
    /// (`docs/scaling.md`).
    pub fn no_join_initial(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.no_join_initial = yes;
        self
    }

    /// Path manager: the most subflows per connection (8 by default).
    pub fn max_subflows(mut self, n: usize) -> StackBuilder {
        self.config.connection.mptcp.max_subflows = n.max(1);
        self
    }

    /// Path manager: announce `addr` with ADD_ADDR on every accepted
    /// connection (a `signal` endpoint, in the kernel's words).
    pub fn signal(mut self, addr: IpAddr) -> StackBuilder {
        self.signal.push(addr);
        self
    }

    /// Opportunistic reinjection (on by default).
    pub fn opportunistic_reinjection(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.opportunistic_reinjection = yes;
        self
    }

    /// Send and receive buffer of each connection, in bytes.
    pub fn buffers(mut self, send: usize, recv: usize) -> StackBuilder {
        self.config.connection.send_buffer = send.max(4096);
        self.config.connection.recv_buffer = recv.max(4096);
        self
    }

    /// Use the TUN devices' segmentation offloads (on by default): trains
    /// of segments go to the kernel in one write, and the kernel may hand
    /// over trains. Off: one packet per read and write.
    pub fn offload(mut self, yes: bool) -> StackBuilder {
        self.no_offload = !yes;
        self
    }

    /// Run the stack on `n` workers (1 by default): each has its own
    /// endpoint, its own queue of every path's device (opened with
    /// `IFF_MULTI_QUEUE`: the kernel spreads flows over the queues) and its
    /// own driver task, so that a multi-threaded tokio runtime runs them on
    /// as many cores. Each endpoint draws its tokens in its own shard of
    /// one table; a join that arrives on another worker's queue is handed
    /// to its connection's worker by token (see
    /// [`Endpoint::steer`](mptcp_proto::endpoint::Endpoint::steer)). Streams
    /// stay on their worker; listeners accept from all of them; outgoing
    /// connections go to each worker in turn.
    pub fn workers(mut self, n: usize) -> StackBuilder {
        self.workers = Some(n.max(1));
        self
    }

    /// Run on one worker, rather than fail, when a path's device exists
    /// and takes one queue only (made without `multi_queue`); off by
    /// default.
    pub fn fewer_workers_if_needed(mut self, yes: bool) -> StackBuilder {
        self.fewer_workers = yes;
        self
    }

    /// Seed of the endpoint's randomness (keys, ports, sequence numbers);
    /// drawn from the OS unless set.
    pub fn seed(mut self, seed: u64) -> StackBuilder {
        self.seed = Some(seed);
        self
    }

    /// A path-manager endpoint (as `ip mptcp endpoint add`): once one is
    /// given, the path manager uses only those given (see
    /// [`Endpoint::add_endpoint`]).
    pub fn endpoint(mut self, ep: PmEndpoint) -> StackBuilder {
        self.endpoints.push(ep);
        self
    }

    /// The path manager's limits (as `ip mptcp limits`); by default every
    /// subflow up to the maximum.
    pub fn pm_limits(mut self, limits: PmLimits) -> StackBuilder {
        self.config.connection.mptcp.pm.limits = Some(limits);
        self
    }

    /// Which path manager decides: the in-kernel policy (default) or only
    /// the application.
    pub fn path_manager(mut self, kind: PmKind) -> StackBuilder {
        self.config.connection.mptcp.pm.kind = kind;
        self
    }

    /// Report path-manager events ([`Stack::pm_events`]).
    pub fn pm_events(mut self, yes: bool) -> StackBuilder {
        self.config.connection.mptcp.pm.events = yes;
        self
    }

    /// Open the devices and start the driver on the current tokio runtime.
    /// Devices are found (or created) in the calling thread's network
    /// namespace. Needs CAP_NET_ADMIN.
    pub fn build(self) -> io::Result<Stack> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| io::Error::other("Stack::build must run inside a tokio runtime"))?;
        if self.paths.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a stack needs at least one path",
            ));
        }
        let mut config = self.config;
        config.seed = match self.seed {
            Some(s) => s,
            None => sys::random_seed()?,
        };
        let _guard = rt.enter();
        let mut n = self.workers.unwrap_or(1).max(1);
        // One queue of each path's device per worker.
        let open = |n| {
            self.paths
                .iter()
                .map(|p| Device::open_queues(p, !self.no_offload, n))
                .collect::<io::Result<Vec<_>>>()
        };
        let mut queues = match open(n) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported && self.fewer_workers => {
                tracing::warn!(error = %e, "one worker");
                n = 1;
                open(1)?
            }
            r => r?,
        };
        // Checksums are left to the devices only if all of them take it.
        let partial = queues.iter().flatten().all(|d| d.tun.get_ref().offload());
        config.connection.subflow.checksum_offload = partial;
        config.connection.subflow.segmentation_offload = partial;
        for d in queues.iter_mut().flatten() {
            d.partial_checksums = partial;
        }
        let (events_tx, events_rx) = if config.connection.mptcp.pm.events {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let counters: Vec<_> = queues
            .iter()
            .map(|q| (q[0].config.clone(), q[0].counters.clone()))
            .collect();
        let paths: Vec<PathConfig> = queues.iter().map(|q| q[0].config.clone()).collect();
        let links: Vec<(String, IpAddr)> =
            paths.iter().map(|p| (p.device.clone(), p.addr)).collect();
        // Every worker's endpoint draws its keys in its own shard of one
        // token table, so that any worker finds a join's owner.
        let tokens: SharedTokens = Arc::new(TokenTable::new(TokenTableConfig::default()));
        let mut workers = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        for i in 0..n {
            let mut c = config;
            c.seed = config
                .seed
                .wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            c.shard = Shard::new(i as u32, n as u32).expect("i < n");
            let mut ep = Endpoint::with_tokens(c, tokens.clone());
            for p in &paths {
                ep.add_address(p.addr, p.mtu.unwrap_or(1500));
            }
            for &a in &self.signal {
                ep.signal_address(a, None);
            }
            for &e in &self.endpoints {
                ep.add_endpoint(e)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            }
            let mut state = State::new(ep);
            state.pm_events = events_tx.clone();
            let (shared, inbox) = Shared::new(state, counters.clone());
            shared.handle_opened();
            workers.push(shared);
            inboxes.push(inbox);
        }
        for (i, inbox) in inboxes.into_iter().enumerate() {
            let devices = queues.iter_mut().map(|q| q.remove(0)).collect();
            rt.spawn(driver::run(driver::Worker {
                shared: workers[i].clone(),
                devices,
                inbox,
                index: i,
                peers: workers.clone(),
            }));
        }
        let weak = workers.iter().map(Arc::downgrade).collect();
        rt.spawn(links::watch_links(weak, links));
        Ok(Stack {
            handle: Arc::new(StackHandle {
                workers,
                next: std::sync::atomic::AtomicUsize::new(0),
                paths,
                pm_events: std::sync::Mutex::new(events_rx),
            }),
        })
    }
}
