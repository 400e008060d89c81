use super::*;
use crate::MptcpStream;
use crate::shared::State;
use mptcp_proto::endpoint::{Endpoint, EndpointConfig};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// Counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stack's shared state with one address and no driver.
fn shared() -> Arc<Shared> {
    let mut ep = Endpoint::new(EndpointConfig::default());
    ep.add_address("10.9.0.1".parse().unwrap(), 1500);
    Shared::new(State::new(ep), Vec::new()).0
}

/// A connection the application holds, still in its handshake.
fn stream(shared: &Arc<Shared>) -> MptcpStream {
    let mut st = shared.lock();
    let now = st.clock.now();
    let local = "10.9.0.1".parse().unwrap();
    let h = st.ep.connect(now, local, "10.9.0.2:80".parse().unwrap());
    let h = h.expect("connect");
    let id = st.adopt(h, true);
    shared.unlock(st);
    MptcpStream::adopted(shared.clone(), h, id)
}

fn poll_read(s: &mut MptcpStream, waker: &Waker) -> Poll<io::Result<usize>> {
    let mut buf = [0u8; 64];
    let mut buf = ReadBuf::new(&mut buf);
    let mut cx = Context::from_waker(waker);
    Pin::new(s)
        .poll_read(&mut cx, &mut buf)
        .map_ok(|()| buf.filled().len())
}

/// A CI run hung for minutes, the peer's data unacknowledged and our
/// process asleep: a driver that is gone must not leave the application
/// waiting on it.
#[test]
fn a_driver_that_panics_fails_every_waiting_call() {
    let shared = shared();
    let mut s = stream(&shared);
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    assert!(
        poll_read(&mut s, &waker).is_pending(),
        "nothing to read yet"
    );
    let listener =
        crate::listener::MptcpListener::bind_workers(vec![shared.clone()], 8080).unwrap();

    let driver = shared.clone();
    let panicked = std::panic::catch_unwind(move || {
        let _stop = StopGuard(driver);
        panic!("a bug in the engine");
    });
    assert!(panicked.is_err());

    assert_eq!(count.0.load(Ordering::SeqCst), 1, "the reader was woken");
    let read = poll_read(&mut s, &waker);
    assert!(matches!(read, Poll::Ready(Err(_))), "{read:?}");
    let again = stream(&shared);
    let info = finished(again.wait_info(|_| false));
    assert!(
        info.is_err(),
        "a connection opened after the stop ends at once"
    );
    let accept = finished(listener.accept());
    assert!(accept.is_err(), "the listener is closed");
    let bind = crate::listener::MptcpListener::bind_workers(vec![shared.clone()], 8081);
    assert!(bind.is_err(), "no new listener either");
}

/// Drive a future that must finish without a runtime's help.
fn finished<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Count::default()));
    let mut cx = Context::from_waker(&waker);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("still waiting after the driver stopped"),
    }
}
