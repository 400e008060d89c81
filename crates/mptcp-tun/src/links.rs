//! Mobility: the stack watches its TUN devices and tells the engine when a
//! path becomes unusable or usable again (`Endpoint::set_link`): a path is
//! unusable while its device is down, or while the device has lost every
//! address of the path's family (it is up, but nothing routes through it).
//! Unusable: every connection withdraws the path's address (REMOVE_ADDR,
//! its subflows reset). Usable again: the path manager uses it again
//! (joins, ADD_ADDR for a `signal` endpoint).

use crate::shared::Shared;
use crate::sys;
use std::net::IpAddr;
use std::sync::Weak;

/// How often the devices' state is looked at.
const LINK_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// What the watcher knows of one path's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    /// Usable, as last told to the engine.
    usable: bool,
    /// The device has had an address of the path's family since the stack
    /// started (a device that never had one, reached by the runtime's host
    /// route alone, has nothing to lose).
    had_addr: bool,
    /// It had one and has none now.
    lost: bool,
}

impl Link {
    /// A usable path whose device has an address of its family
    /// (`has_addr`; `None`: unknown) when the stack starts.
    fn new(has_addr: Option<bool>) -> Link {
        Link {
            usable: true,
            had_addr: has_addr == Some(true),
            lost: false,
        }
    }

    /// The device is `up`, and has an address of the path's family
    /// (`None`: unknown, the last answer holds). Returns the new state if
    /// it changed.
    fn observe(&mut self, up: bool, has_addr: Option<bool>) -> Option<bool> {
        match has_addr {
            Some(true) => {
                self.had_addr = true;
                self.lost = false;
            }
            Some(false) => self.lost = self.had_addr,
            None => {}
        }
        let usable = up && !self.lost;
        (usable != std::mem::replace(&mut self.usable, usable)).then_some(usable)
    }
}

/// Whether the device `dev` has an address of `addr`'s family (for IPv6
/// not a link-local one: those say nothing of routes).
fn has_addr_of_family(dev: &str, addr: IpAddr) -> Option<bool> {
    let addrs = sys::ifaddrs::addresses(dev).ok()?;
    Some(addrs.iter().any(|a| match (a, addr) {
        (IpAddr::V4(_), IpAddr::V4(_)) => true,
        (IpAddr::V6(a), IpAddr::V6(_)) => a.segments()[0] & 0xffc0 != 0xfe80,
        _ => false,
    }))
}

/// Watch the devices of `links` (device, our address behind it) every
/// [`LINK_POLL`]. Their addresses are looked at once at once (a path could
/// lose its address before the first poll). Ends with the stack.
pub(crate) fn watch_links(
    workers: Vec<Weak<Shared>>,
    links: Vec<(String, IpAddr)>,
) -> impl Future<Output = ()> + Send {
    let mut state: Vec<Link> = links
        .iter()
        .map(|(dev, addr)| Link::new(has_addr_of_family(dev, *addr)))
        .collect();
    async move {
        loop {
            tokio::time::sleep(LINK_POLL).await;
            let live: Vec<_> = workers.iter().filter_map(Weak::upgrade).collect();
            if live.is_empty() {
                return;
            }
            for (link, (dev, addr)) in state.iter_mut().zip(&links) {
                // A device that cannot be asked (gone) counts as down.
                let up = sys::tun::is_up(dev).unwrap_or(false);
                let Some(usable) = link.observe(up, has_addr_of_family(dev, *addr)) else {
                    continue;
                };
                for shared in &live {
                    let mut st = shared.lock();
                    st.ep.set_link(*addr, usable);
                    shared.unlock(st);
                    shared.kick();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Link;

    #[test]
    fn a_path_is_unusable_while_down_or_while_its_lost_address_is_gone() {
        let mut l = Link::new(Some(false));
        // Never had an address (the host route alone): usable while up.
        assert_eq!(l.observe(true, Some(false)), None);
        assert_eq!(l.observe(false, Some(false)), Some(false));
        assert_eq!(l.observe(true, Some(false)), Some(true));
        // It gets one, then loses it while up.
        assert_eq!(l.observe(true, Some(true)), None);
        assert_eq!(l.observe(true, Some(false)), Some(false));
        assert_eq!(l.observe(true, Some(false)), None);
        // Unknown changes nothing.
        assert_eq!(l.observe(true, None), None);
        assert_eq!(l.observe(true, Some(true)), Some(true));
        assert_eq!(l.observe(true, None), None);
        // Down with its address: unusable; up again: usable.
        assert_eq!(l.observe(false, Some(true)), Some(false));
        assert_eq!(l.observe(true, Some(true)), Some(true));
        // An address present when the stack started, lost before the
        // first poll.
        let mut l = Link::new(Some(true));
        assert_eq!(l.observe(true, Some(false)), Some(false));
    }
}
