//! The windowed filters of BBR's path model (draft-ietf-ccwg-bbr §5.5).

use std::collections::VecDeque;

/// BBR.max_bw's filter: the largest delivery rate of the current and the
/// previous ProbeBW cycle (§5.5.2, BBR.MaxBwFilterLen = 2). A cycle is a
/// slot: advancing forgets the older one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxBwFilter {
    previous: u64,
    current: u64,
}

impl MaxBwFilter {
    /// A sample in the current cycle.
    pub fn update(&mut self, bw: u64) {
        self.current = self.current.max(bw);
    }

    /// A new cycle starts: the previous one is forgotten.
    pub fn advance(&mut self) {
        self.previous = self.current;
        self.current = 0;
    }

    /// The filter's value.
    pub fn get(&self) -> u64 {
        self.previous.max(self.current)
    }
}

/// The largest value seen over the last `len` units of a clock (BBR's
/// extra_acked filter counts round trips, §5.5.9). Exact: it keeps the
/// values that may still become the maximum, at most one per clock value.
#[derive(Clone, Debug, Default)]
pub struct WindowedMax {
    /// (time, value), times increasing, values decreasing.
    samples: VecDeque<(u64, u64)>,
}

impl WindowedMax {
    /// Add `value` at `time` (never earlier than the last one) and return
    /// the maximum over the window `(time - len, time]`.
    pub fn update(&mut self, time: u64, value: u64, len: u64) -> u64 {
        while self.samples.back().is_some_and(|&(_, v)| v <= value) {
            self.samples.pop_back();
        }
        if self.samples.back().is_none_or(|&(t, _)| t < time) {
            self.samples.push_back((time, value));
        }
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| t.saturating_add(len.max(1)) <= time)
        {
            self.samples.pop_front();
        }
        self.get()
    }

    /// The current maximum (0 when empty).
    pub fn get(&self) -> u64 {
        self.samples.front().map_or(0, |&(_, v)| v)
    }
}
