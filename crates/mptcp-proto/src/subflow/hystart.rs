//! HyStart++ (RFC 9406): leave slow start when the RTT starts to grow,
//! before the bottleneck queue overflows.
//!
//! Each round (one window of data) records its minimum RTT. When a round's
//! minimum exceeds the previous round's by a threshold, slow start enters
//! Conservative Slow Start (CSS): growth is divided by four, and after five
//! rounds of CSS slow start ends. An RTT back below the CSS baseline
//! resumes ordinary slow start. A loss ends HyStart++ for the connection
//! (RFC 9406 §4.2: it applies to the initial slow start only).

use crate::time::Duration;
use mptcp_wire::SubflowSeq;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: u64 = 4;
const CSS_ROUNDS: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Ordinary slow start, watching the RTT.
    SlowStart,
    /// Conservative slow start since the RTT grew past `baseline`.
    Css { baseline: Duration, rounds: u32 },
    /// Over: slow start ended, or a loss happened.
    Done,
}

/// What HyStart++ tells the sender after an acknowledgment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Advice {
    /// Grow by the acknowledged bytes divided by this.
    Grow(u64),
    /// End slow start now (ssthresh = cwnd).
    Exit,
}

/// HyStart++ state of one subflow.
#[derive(Clone, Copy, Debug)]
pub(super) struct HyStart {
    phase: Phase,
    window_end: Option<SubflowSeq>,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    samples: u32,
}

impl Default for HyStart {
    fn default() -> HyStart {
        HyStart {
            phase: Phase::SlowStart,
            window_end: None,
            last_round_min: None,
            current_round_min: None,
            samples: 0,
        }
    }
}

impl HyStart {
    /// An acknowledgment during slow start: `una` after it, `nxt` the next
    /// sequence number to send, `rtt` its sample if any.
    pub(super) fn on_ack(
        &mut self,
        una: SubflowSeq,
        nxt: SubflowSeq,
        rtt: Option<Duration>,
    ) -> Advice {
        if self.phase == Phase::Done {
            return Advice::Grow(1);
        }
        if self.window_end.is_none_or(|end| una.ge(end)) {
            self.new_round(nxt);
            if let Phase::Css { baseline, rounds } = self.phase {
                if rounds + 1 >= CSS_ROUNDS {
                    self.phase = Phase::Done;
                    return Advice::Exit;
                }
                self.phase = Phase::Css {
                    baseline,
                    rounds: rounds + 1,
                };
            }
        }
        if let Some(rtt) = rtt {
            self.current_round_min = Some(self.current_round_min.map_or(rtt, |m| m.min(rtt)));
            self.samples += 1;
        }
        self.check();
        match self.phase {
            Phase::Css { .. } => Advice::Grow(CSS_GROWTH_DIVISOR),
            _ => Advice::Grow(1),
        }
    }

    fn new_round(&mut self, nxt: SubflowSeq) {
        self.last_round_min = self.current_round_min;
        self.current_round_min = None;
        self.samples = 0;
        self.window_end = Some(nxt);
    }

    /// RFC 9406 §4.2: the delay-increase test, and the way back from CSS.
    fn check(&mut self) {
        let (Some(current), Some(last)) = (self.current_round_min, self.last_round_min) else {
            return;
        };
        match self.phase {
            Phase::SlowStart if self.samples >= N_RTT_SAMPLE => {
                let thresh = Duration::from_micros(last.as_micros() / MIN_RTT_DIVISOR)
                    .clamp_to(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if current >= last + thresh {
                    self.phase = Phase::Css {
                        baseline: current,
                        rounds: 0,
                    };
                }
            }
            Phase::Css { baseline, .. } if self.samples >= N_RTT_SAMPLE && current < baseline => {
                self.phase = Phase::SlowStart;
            }
            _ => {}
        }
    }

    /// A loss or timeout: HyStart++ is over.
    pub(super) fn on_loss(&mut self) {
        self.phase = Phase::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feed one round of `n` ACKs with RTT `rtt`; the round ends at
    /// sequence `end`.
    fn round(h: &mut HyStart, start: u32, end: u32, rtt: Duration) -> Vec<Advice> {
        (0..10)
            .map(|i| h.on_ack(SubflowSeq(start + i), SubflowSeq(end), Some(rtt)))
            .collect()
    }

    #[test]
    fn flat_rtt_stays_in_slow_start() {
        let mut h = HyStart::default();
        for r in 0..10u32 {
            let adv = round(&mut h, r * 100, (r + 1) * 100, ms(50));
            assert!(adv.iter().all(|a| *a == Advice::Grow(1)), "{adv:?}");
        }
    }

    #[test]
    fn rising_rtt_enters_css_then_exits_after_five_rounds() {
        let mut h = HyStart::default();
        round(&mut h, 0, 100, ms(40));
        round(&mut h, 100, 200, ms(40));
        // 40 ms / 8 = 5 ms threshold: 46 ms is a delay increase.
        let adv = round(&mut h, 200, 300, ms(46));
        assert_eq!(adv.last(), Some(&Advice::Grow(CSS_GROWTH_DIVISOR)));
        let mut exits = 0;
        for r in 3..12u32 {
            exits += round(&mut h, r * 100, (r + 1) * 100, ms(46))
                .iter()
                .filter(|a| **a == Advice::Exit)
                .count();
        }
        assert_eq!(exits, 1);
        assert_eq!(h.phase, Phase::Done);
    }

    #[test]
    fn rtt_back_below_baseline_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 100, ms(40));
        round(&mut h, 100, 200, ms(40));
        round(&mut h, 200, 300, ms(50));
        assert!(matches!(h.phase, Phase::Css { .. }));
        round(&mut h, 300, 400, ms(41));
        assert_eq!(h.phase, Phase::SlowStart);
    }

    #[test]
    fn loss_ends_it() {
        let mut h = HyStart::default();
        h.on_loss();
        assert_eq!(
            h.on_ack(SubflowSeq(5), SubflowSeq(9), Some(ms(1))),
            Advice::Grow(1)
        );
    }
}
