//! SYN cookies (RFC 4987 §3.6): when the half-open backlog is full, a SYN
//! is answered without keeping any state. The SYN-ACK's initial sequence
//! number carries what the SYN said (MSS, window scale, SACK, timestamps,
//! the MPTCP version and checksum wish) under a keyed MAC, and the server's
//! MPTCP key is derived from the same inputs: RFC 8684 §3.1 lets a v1 (and
//! a v0) server be stateless, since the client's third ACK carries both
//! keys. A third ACK whose acknowledgment number is a valid cookie then
//! creates the connection, already past its SYN-ACK.
//!
//! Layout of the cookie (the ISS): 19 bits of MAC over the 4-tuple, the
//! client's ISN, the time slot and the fields, then 13 bits of fields: the
//! time slot's low bit, the MSS index (3 bits), the peer's window shift (4
//! bits, 15: none), SACK, timestamps, MPTCP (2 bits: none, v0, v1) and the
//! checksum wish. A slot lasts 64 seconds; a cookie is good for the current
//! and the previous one. A blind attacker needs about 2^19 guesses per
//! connection it opens.

use crate::crypto::MptcpVersion;
use crate::subflow::FourTuple;
use crate::time::Instant;
use mptcp_wire::SubflowSeq;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// The MSS values a cookie can say: the largest not above the peer's is
/// used.
const MSS_TABLE: [u16; 8] = [536, 1220, 1360, 1400, 1440, 1460, 4312, 8960];

/// How long one time slot lasts, in microseconds.
const SLOT_MICROS: u64 = 64 * 1_000_000;

const FIELD_BITS: u32 = 13;

/// What a cookie remembers of a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynParams {
    /// The MSS the peer may receive (rounded down to the table).
    pub mss: u16,
    /// The peer's window shift, if it offered scaling.
    pub wscale: Option<u8>,
    /// SACK permitted by both.
    pub sack: bool,
    /// Timestamps offered by the peer (and used by us).
    pub timestamps: bool,
    /// MPTCP accepted, with this version.
    pub mptcp: Option<MptcpVersion>,
    /// The peer asked for DSS checksums.
    pub checksum: bool,
}

impl SynParams {
    fn encode(&self) -> u32 {
        let mss = MSS_TABLE.iter().rposition(|&m| m <= self.mss).unwrap_or(0) as u32;
        let ws = self.wscale.map_or(15, |w| u32::from(w.min(14)));
        let mp = match self.mptcp {
            None => 0,
            Some(MptcpVersion::V0) => 1,
            Some(MptcpVersion::V1) => 2,
        };
        (mss << 9)
            | (ws << 5)
            | (u32::from(self.sack) << 4)
            | (u32::from(self.timestamps) << 3)
            | (mp << 1)
            | u32::from(self.checksum)
    }

    fn decode(bits: u32) -> Option<SynParams> {
        let mss = MSS_TABLE[((bits >> 9) & 7) as usize];
        let ws = ((bits >> 5) & 15) as u8;
        let mptcp = match (bits >> 1) & 3 {
            0 => None,
            1 => Some(MptcpVersion::V0),
            2 => Some(MptcpVersion::V1),
            _ => return None,
        };
        Some(SynParams {
            mss,
            wscale: (ws != 15).then_some(ws),
            sack: bits & 16 != 0,
            timestamps: bits & 8 != 0,
            mptcp,
            checksum: bits & 1 != 0,
        })
    }
}

/// The endpoint's cookie secret.
#[derive(Clone, Copy, Debug)]
pub struct CookieJar {
    key: (u64, u64),
}

impl CookieJar {
    /// A jar keyed by `key` (from the endpoint's randomness).
    pub fn new(key: (u64, u64)) -> CookieJar {
        CookieJar { key }
    }

    fn hash(&self, tuple: &FourTuple, peer_isn: SubflowSeq, slot: u64, extra: u64) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.key.0, self.key.1);
        h.write(&super::format_tuple(tuple));
        h.write_u32(peer_isn.0);
        h.write_u64(slot);
        h.write_u64(extra);
        h.finish()
    }

    fn slot(now: Instant) -> u64 {
        now.as_micros() / SLOT_MICROS
    }

    /// The ISS that answers a SYN from `tuple` with ISN `peer_isn`.
    pub fn iss(
        &self,
        tuple: &FourTuple,
        peer_isn: SubflowSeq,
        now: Instant,
        params: &SynParams,
    ) -> SubflowSeq {
        let slot = CookieJar::slot(now);
        let fields = (params.encode() << 1 | (slot & 1) as u32) & ((1 << FIELD_BITS) - 1);
        let mac = self.hash(tuple, peer_isn, slot, u64::from(fields)) >> (64 - (32 - FIELD_BITS));
        SubflowSeq(((mac as u32) << FIELD_BITS) | fields)
    }

    /// What the SYN said, if `iss` is a cookie this jar issued for it
    /// during the current or the previous slot.
    pub fn check(
        &self,
        tuple: &FourTuple,
        peer_isn: SubflowSeq,
        iss: SubflowSeq,
        now: Instant,
    ) -> Option<SynParams> {
        let fields = iss.0 & ((1 << FIELD_BITS) - 1);
        let now_slot = CookieJar::slot(now);
        let slot = if u64::from(fields & 1) == now_slot & 1 {
            now_slot
        } else {
            now_slot.checked_sub(1)?
        };
        let mac = self.hash(tuple, peer_isn, slot, u64::from(fields)) >> (64 - (32 - FIELD_BITS));
        if (iss.0 >> FIELD_BITS) != mac as u32 {
            return None;
        }
        SynParams::decode(fields >> 1)
    }

    /// The server's MPTCP key for the connection a cookie opens: derived
    /// from the same inputs, so the third ACK's receiver key can be checked.
    pub fn key(&self, tuple: &FourTuple, peer_isn: SubflowSeq, iss: SubflowSeq) -> u64 {
        self.hash(tuple, peer_isn, u64::MAX, u64::from(iss.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: "10.0.0.2:80".parse().expect("addr"),
            remote: format!("10.0.0.1:{port}").parse().expect("addr"),
        }
    }

    #[test]
    fn a_cookie_round_trips_its_fields_and_binds_its_inputs() {
        let jar = CookieJar::new((1, 2));
        let p = SynParams {
            mss: 1460,
            wscale: Some(7),
            sack: true,
            timestamps: true,
            mptcp: Some(MptcpVersion::V1),
            checksum: false,
        };
        let now = Instant::from_micros(5_000_000);
        let iss = jar.iss(&tuple(1000), SubflowSeq(77), now, &p);
        assert_eq!(jar.check(&tuple(1000), SubflowSeq(77), iss, now), Some(p));
        // Still good in the next slot, not the one after.
        let later = now + crate::time::Duration::from_secs(64);
        assert_eq!(jar.check(&tuple(1000), SubflowSeq(77), iss, later), Some(p));
        let much_later = now + crate::time::Duration::from_secs(128);
        assert_eq!(
            jar.check(&tuple(1000), SubflowSeq(77), iss, much_later),
            None
        );
        // Another tuple, ISN, or a flipped bit: refused.
        assert_eq!(jar.check(&tuple(1001), SubflowSeq(77), iss, now), None);
        assert_eq!(jar.check(&tuple(1000), SubflowSeq(78), iss, now), None);
        assert_eq!(
            jar.check(&tuple(1000), SubflowSeq(77), SubflowSeq(iss.0 ^ 4), now),
            None
        );
        // MSS rounds down to the table; no window scale survives as none.
        let q = SynParams {
            mss: 1400 + 30,
            wscale: None,
            sack: false,
            timestamps: false,
            mptcp: None,
            checksum: true,
        };
        let iss = jar.iss(&tuple(9), SubflowSeq(1), now, &q);
        let got = jar
            .check(&tuple(9), SubflowSeq(1), iss, now)
            .expect("valid");
        assert_eq!(got.mss, 1400);
        assert_eq!(got.wscale, None);
        assert!(got.checksum && !got.sack && !got.timestamps && got.mptcp.is_none());
    }

    #[test]
    fn blind_guesses_rarely_pass() {
        let jar = CookieJar::new((3, 4));
        let now = Instant::from_micros(1);
        let passed = (0..200_000u32)
            .filter(|i| {
                jar.check(
                    &tuple(2000),
                    SubflowSeq(5),
                    SubflowSeq(i.wrapping_mul(2_654_435_761)),
                    now,
                )
                .is_some()
            })
            .count();
        assert!(passed <= 3, "{passed} of 200,000 random cookies passed");
    }
}
