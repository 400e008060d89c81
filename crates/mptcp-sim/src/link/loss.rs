//! Bursty loss: the Gilbert-Elliott two-state Markov chain, and the batched
//! release of packets at fixed instants.
//!
//! Pure functions of their inputs and a random stream, so the simulator and a
//! real-clock driver share them.

use core::fmt;

use mptcp_proto::time::Instant;
use rand::{Rng, RngExt};

/// A Gilbert-Elliott loss model, stepped once per packet.
///
/// The chain starts in the good state. For each packet that reaches this
/// stage, first the chain moves: from good to bad with probability
/// `good_to_bad`, from bad to good with probability `bad_to_good`; then the
/// packet is lost with the loss probability of the state it is now in
/// (`loss_in_good` or `loss_in_bad`).
///
/// In the long run a share `π_bad = good_to_bad / (good_to_bad +
/// bad_to_good)` of the packets sees the bad state, so the loss rate is
/// `π_bad × loss_in_bad + (1 − π_bad) × loss_in_good`; a stay in the bad
/// state lasts `1 / bad_to_good` packets on average (geometric). With
/// `loss_in_bad = 1` and `loss_in_good = 0` (the Gilbert model) that is also
/// the mean length of a run of consecutive losses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state, per packet.
    pub good_to_bad: f64,
    /// Probability of moving from the bad to the good state, per packet.
    pub bad_to_good: f64,
    /// Loss probability in the bad state.
    pub loss_in_bad: f64,
    /// Loss probability in the good state (usually 0).
    pub loss_in_good: f64,
}

impl GilbertElliott {
    /// A model with no loss in the good state.
    pub fn new(good_to_bad: f64, bad_to_good: f64, loss_in_bad: f64) -> GilbertElliott {
        GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_in_bad,
            loss_in_good: 0.0,
        }
    }

    /// The four probabilities, named.
    pub fn fields(&self) -> [(&'static str, f64); 4] {
        [
            ("ge good-to-bad", self.good_to_bad),
            ("ge bad-to-good", self.bad_to_good),
            ("ge loss-in-bad", self.loss_in_bad),
            ("ge loss-in-good", self.loss_in_good),
        ]
    }

    /// The long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        let moves = self.good_to_bad + self.bad_to_good;
        let bad = if moves > 0.0 {
            self.good_to_bad / moves
        } else {
            0.0
        };
        bad * self.loss_in_bad + (1.0 - bad) * self.loss_in_good
    }

    /// Steps the chain (`bad` is its state) for one packet and draws
    /// whether that packet is lost. A probability of 0 or 1 draws nothing
    /// from `rng`; any other draws one value.
    pub fn step<R: Rng + ?Sized>(&self, bad: &mut bool, rng: &mut R) -> bool {
        let flip = if *bad {
            self.bad_to_good
        } else {
            self.good_to_bad
        };
        if draw(rng, flip) {
            *bad = !*bad;
        }
        let loss = if *bad {
            self.loss_in_bad
        } else {
            self.loss_in_good
        };
        draw(rng, loss)
    }
}

/// True with probability `p`; draws nothing when `p` is 0 or 1.
fn draw<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    if p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random_bool(p)
    }
}

impl fmt::Display for GilbertElliott {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ge:{}/{}/{}",
            self.good_to_bad, self.bad_to_good, self.loss_in_bad
        )?;
        if self.loss_in_good > 0.0 {
            write!(f, "/{}", self.loss_in_good)?;
        }
        Ok(())
    }
}

/// The first multiple of `interval_us` microseconds (since time zero) at or
/// after `at`; `at` itself when `interval_us` is 0. Monotone, so it keeps
/// FIFO order.
pub fn batch_release(at: Instant, interval_us: u64) -> Instant {
    if interval_us == 0 {
        return at;
    }
    let t = at.as_micros();
    Instant::from_micros(t.div_ceil(interval_us).saturating_mul(interval_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn gilbert_rates_and_bursts() {
        let ge = GilbertElliott::new(0.01, 0.25, 1.0);
        assert!((ge.mean_loss() - 0.01 / 0.26).abs() < 1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut bad = false;
        let n = 400_000;
        let (mut lost, mut bursts, mut prev) = (0u64, 0u64, false);
        for _ in 0..n {
            let l = ge.step(&mut bad, &mut rng);
            lost += u64::from(l);
            bursts += u64::from(l && !prev);
            prev = l;
        }
        let rate = lost as f64 / n as f64;
        assert!(
            (rate - ge.mean_loss()).abs() < 0.1 * ge.mean_loss(),
            "{rate}"
        );
        let mean_burst = lost as f64 / bursts as f64;
        assert!((mean_burst - 4.0).abs() < 0.4, "{mean_burst}");
    }

    #[test]
    fn certain_probabilities_draw_nothing() {
        let ge = GilbertElliott::new(1.0, 0.0, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let before = rng.clone();
        let mut bad = false;
        assert!(ge.step(&mut bad, &mut rng));
        assert!(bad);
        assert_eq!(rng, before);
    }

    #[test]
    fn batches_round_up() {
        let b = |t| batch_release(Instant::from_micros(t), 5000).as_micros();
        assert_eq!([b(0), b(1), b(5000), b(5001)], [0, 5000, 5000, 10_000]);
        assert_eq!(batch_release(Instant::from_micros(7), 0).as_micros(), 7);
    }
}
