//! A table of deadlines indexed by a timer enum, as quinn-proto's
//! `TimerTable`: each timer is set where its cause happens and stopped where
//! the cause goes away, the next deadline is one minimum over the table,
//! and a timer fires only from the table (no second set of rules that
//! decides again whether it is due). The subflow and the connection each
//! have one, keyed by their own enum.

use crate::time::Instant;
use std::marker::PhantomData;

/// The kinds of timer one table holds: a dense index from 0 to `N - 1`.
pub trait TimerKind: Copy + 'static {
    /// Every kind, in the order expired timers fire.
    const ALL: &'static [Self];

    /// The kind's slot in the table.
    fn index(self) -> usize;
}

/// The deadline of every timer of kind `K` (at most `N` kinds).
#[derive(Clone, Copy, Debug)]
pub struct TimerTable<K, const N: usize> {
    at: [Option<Instant>; N],
    kind: PhantomData<K>,
}

impl<K, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        TimerTable {
            at: [None; N],
            kind: PhantomData,
        }
    }
}

impl<K: TimerKind, const N: usize> TimerTable<K, N> {
    /// Arm `kind` to fire at `at` (replacing its deadline).
    pub fn set(&mut self, kind: K, at: Instant) {
        self.at[kind.index()] = Some(at);
    }

    /// Arm `kind` at `at`, or stop it when `at` is `None`.
    pub fn set_or_stop(&mut self, kind: K, at: Option<Instant>) {
        self.at[kind.index()] = at;
    }

    /// Stop `kind`: it does not fire.
    pub fn cancel(&mut self, kind: K) {
        self.at[kind.index()] = None;
    }

    /// The deadline of `kind`.
    pub fn get(&self, kind: K) -> Option<Instant> {
        self.at[kind.index()]
    }

    /// Whether `kind` is armed.
    pub fn is_armed(&self, kind: K) -> bool {
        self.get(kind).is_some()
    }

    /// Stop every timer.
    pub fn clear_all(&mut self) {
        self.at = [None; N];
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Take (stop) every timer due at `now`, in the order of `K::ALL`.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = K> + use<K, N> {
        let mut due = [None; N];
        let mut n = 0;
        for &kind in K::ALL {
            if self.get(kind).is_some_and(|t| t <= now) {
                self.cancel(kind);
                due[n] = Some(kind);
                n += 1;
            }
        }
        due.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        A,
        B,
        C,
    }

    impl TimerKind for T {
        // Fire order differs from the slots' order on purpose.
        const ALL: &'static [T] = &[T::C, T::A, T::B];
        fn index(self) -> usize {
            self as usize
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn the_next_deadline_is_the_earliest_armed() {
        let mut t = TimerTable::<T, 3>::default();
        assert_eq!(t.next(), None);
        t.set(T::A, at(30));
        t.set(T::B, at(10));
        assert_eq!(t.next(), Some(at(10)));
        t.set(T::B, at(50));
        assert_eq!(t.next(), Some(at(30)), "set replaces");
        t.cancel(T::A);
        assert_eq!(t.next(), Some(at(50)));
        t.set_or_stop(T::B, None);
        assert_eq!(t.next(), None);
        assert!(!t.is_armed(T::B));
    }

    #[test]
    fn expired_timers_fire_once_in_kind_order_and_later_ones_wait() {
        let mut t = TimerTable::<T, 3>::default();
        t.set(T::A, at(10));
        t.set(T::B, at(20));
        t.set(T::C, at(15));
        assert_eq!(t.expired(at(9)).count(), 0);
        let fired: Vec<T> = t.expired(at(15)).collect();
        assert_eq!(fired, vec![T::C, T::A], "ALL's order, not the slots'");
        assert_eq!(t.expired(at(15)).count(), 0, "taken once");
        assert_eq!(t.next(), Some(at(20)));
        assert_eq!(t.expired(at(100)).collect::<Vec<_>>(), vec![T::B]);
    }

    #[test]
    fn a_stopped_timer_never_fires() {
        let mut t = TimerTable::<T, 3>::default();
        t.set(T::A, at(10));
        t.cancel(T::A);
        assert_eq!(t.expired(at(1000)).count(), 0);
        t.set(T::C, at(10));
        t.clear_all();
        assert_eq!(t.expired(at(1000)).count(), 0);
        assert_eq!(t.next(), None);
    }
}
