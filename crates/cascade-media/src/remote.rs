//! Whose RTP is the callee's, and where Cascade's own RTP goes.
//!
//! Cascade sends to the address the callee's SDP answer gave and takes as the callee's
//! audio only packets from that address. A callee behind NAT gives an address nobody
//! can reach (a private one), and its packets come from its router's: for such an
//! answer Cascade learns the source (symmetric RTP), but only a source that sends
//! [`PROBATION`] packets in sequence under one SSRC, and only once. A public or
//! loopback answer is never re-pointed unless the trunk's section asks for it
//! ([`Learning::Always`], for a border controller that sends from another port than
//! it names). Without these guards any stream that reaches the call's port first (a
//! stray one, or an attacker's, the "RTP bleed" of 2017) takes the call's audio and
//! feeds the machine detector. With learning, a stream that passes the probation
//! before the callee's first packet still wins: learning trades that for reaching
//! callees behind NAT.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::rtp::Packet;

/// Packets in sequence, one SSRC, from one source, before that source is learned.
pub const PROBATION: u8 = 3;

/// Sources followed at once while learning; a further one replaces the oldest.
const CANDIDATES: usize = 4;

/// When another source than the answer's address may become the callee's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Learning {
    /// Only for an answer whose address may be behind NAT ([`may_be_behind_nat`]).
    #[default]
    Private,
    /// For any answer.
    Always,
}

/// The callee's media address, as signalled and as learned.
#[derive(Debug, Clone)]
pub struct Remote {
    signalled: SocketAddr,
    current: SocketAddr,
    locked: bool,
    may_learn: bool,
    candidates: Vec<Candidate>,
    dropped: u64,
}

#[derive(Debug, Clone)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    next_sequence: u16,
    seen: u8,
}

impl Remote {
    /// The callee's media as its SDP answer gave it.
    pub fn new(signalled: SocketAddr, learning: Learning) -> Remote {
        let signalled = canonical(signalled);
        Remote {
            signalled,
            current: signalled,
            locked: false,
            may_learn: learning == Learning::Always || may_be_behind_nat(signalled.ip()),
            candidates: Vec::new(),
            dropped: 0,
        }
    }

    /// Whether another source may still become the callee's (nothing settled yet and
    /// learning allowed for this answer).
    pub fn learning(&self) -> bool {
        self.may_learn && !self.locked
    }

    /// Packets not taken as the callee's so far (other sources, and a learned source's
    /// packets while on probation).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Where Cascade's RTP goes now.
    pub fn destination(&self) -> SocketAddr {
        self.current
    }

    /// Whether the destination was learned from the callee's packets (it differs from
    /// the signalled one).
    pub fn learned(&self) -> bool {
        self.current != self.signalled
    }

    /// Whether `packet`, received from `from`, is the callee's. A packet from the
    /// current address settles it; while nothing is settled and the signalled address
    /// may be behind NAT, a source whose [`PROBATION`]th packet in sequence this is
    /// becomes the destination (that packet is the callee's, the ones before it are not).
    pub fn accept(&mut self, from: SocketAddr, packet: &Packet) -> bool {
        let accepted = self.judge(canonical(from), packet);
        if !accepted {
            self.dropped += 1;
        }
        accepted
    }

    fn judge(&mut self, from: SocketAddr, packet: &Packet) -> bool {
        if from == self.current {
            self.settle();
            return true;
        }
        if self.locked || !self.may_learn {
            return false;
        }
        match self.candidates.iter_mut().find(|c| c.from == from) {
            Some(c) if c.ssrc == packet.ssrc && c.next_sequence == packet.sequence => {
                c.seen += 1;
                c.next_sequence = packet.sequence.wrapping_add(1);
                if c.seen >= PROBATION {
                    self.current = from;
                    self.settle();
                    return true;
                }
            }
            Some(c) => {
                // Out of sequence or another SSRC: that source starts over.
                *c = Candidate::first(from, packet);
            }
            None => {
                if self.candidates.len() == CANDIDATES {
                    self.candidates.remove(0);
                }
                self.candidates.push(Candidate::first(from, packet));
            }
        }
        false
    }

    fn settle(&mut self) {
        self.locked = true;
        self.candidates = Vec::new();
    }
}

impl Candidate {
    fn first(from: SocketAddr, packet: &Packet) -> Candidate {
        Candidate {
            from,
            ssrc: packet.ssrc,
            next_sequence: packet.sequence.wrapping_add(1),
            seen: 1,
        }
    }
}

/// An IPv4 address as itself, also when a dual-stack socket reports it IPv4-mapped.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// An address a callee behind NAT would signal: private (RFC 1918), shared
/// (RFC 6598, carrier-grade NAT), link-local, unique local (RFC 4193) or unspecified.
/// Loopback and public addresses are reachable where they say.
pub fn may_be_behind_nat(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => may_be_behind_nat(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6 == Ipv6Addr::UNSPECIFIED || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn packet(ssrc: u32, sequence: u16) -> Packet {
        Packet {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp: u32::from(sequence) * 160,
            ssrc,
            payload: vec![0xFF; 160],
        }
    }

    #[test]
    fn the_signalled_address_is_the_callee() {
        let mut r = Remote::new(addr("203.0.113.5:4000"), Learning::Private);
        assert!(r.accept(addr("203.0.113.5:4000"), &packet(1, 10)));
        assert_eq!(r.destination(), addr("203.0.113.5:4000"));
        assert!(!r.learned());
    }

    #[test]
    fn a_public_or_loopback_answer_is_never_re_pointed() {
        for signalled in ["203.0.113.5:4000", "127.0.0.1:4000", "[2001:db8::1]:4000"] {
            let mut r = Remote::new(addr(signalled), Learning::Private);
            assert!(!r.learning());
            // A stray stream on the same host, another port, long and in sequence.
            for seq in 0..50 {
                assert!(!r.accept(addr("127.0.0.1:20002"), &packet(7, seq)));
                assert!(!r.accept(addr("203.0.113.5:4002"), &packet(8, seq)));
            }
            assert_eq!(r.destination(), addr(signalled), "{signalled}");
        }
    }

    #[test]
    fn a_private_answer_learns_a_source_after_probation() {
        let mut r = Remote::new(addr("192.168.1.20:4000"), Learning::Private);
        let nat = addr("198.51.100.9:61000");
        for seq in 100..100 + u16::from(PROBATION) - 1 {
            assert!(
                !r.accept(nat, &packet(5, seq)),
                "packet {seq} is on probation"
            );
            assert_eq!(r.destination(), addr("192.168.1.20:4000"));
        }
        assert!(r.learning());
        assert!(r.accept(nat, &packet(5, 100 + u16::from(PROBATION) - 1)));
        assert!(!r.learning(), "settled");
        assert_eq!(r.destination(), nat);
        assert!(r.learned());
        // Settled: another source, however regular, is not the callee.
        for seq in 0..20 {
            assert!(!r.accept(addr("198.51.100.10:5000"), &packet(6, seq)));
        }
        assert!(
            r.accept(nat, &packet(5, 500)),
            "any later packet of the callee"
        );
        assert_eq!(r.destination(), nat);
    }

    #[test]
    fn out_of_sequence_or_another_ssrc_starts_probation_over() {
        let mut r = Remote::new(addr("10.0.0.2:4000"), Learning::Private);
        let from = addr("198.51.100.9:61000");
        assert!(!r.accept(from, &packet(5, 1)));
        assert!(!r.accept(from, &packet(5, 2)));
        assert!(!r.accept(from, &packet(5, 9)), "a gap");
        assert!(!r.accept(from, &packet(5, 10)));
        assert!(!r.accept(from, &packet(6, 11)), "another SSRC");
        assert!(!r.accept(from, &packet(6, 12)));
        assert!(r.accept(from, &packet(6, 13)));
        assert_eq!(r.destination(), from);
    }

    #[test]
    fn interleaved_sources_each_keep_their_count() {
        let mut r = Remote::new(addr("100.64.3.4:4000"), Learning::Private);
        let (a, b) = (addr("198.51.100.1:1000"), addr("198.51.100.2:2000"));
        assert!(!r.accept(a, &packet(1, 0)));
        assert!(!r.accept(b, &packet(2, 50)));
        assert!(!r.accept(a, &packet(1, 1)));
        assert!(!r.accept(b, &packet(2, 51)));
        assert!(r.accept(a, &packet(1, 2)), "the first to finish probation");
        assert!(!r.accept(b, &packet(2, 52)));
        assert_eq!(r.destination(), a);
    }

    #[test]
    fn the_signalled_address_speaking_first_settles_it() {
        let mut r = Remote::new(addr("192.168.1.20:4000"), Learning::Private);
        assert!(r.accept(addr("192.168.1.20:4000"), &packet(1, 0)));
        for seq in 0..10 {
            assert!(!r.accept(addr("198.51.100.9:61000"), &packet(2, seq)));
        }
        assert_eq!(r.destination(), addr("192.168.1.20:4000"));
    }

    #[test]
    fn learning_always_re_points_a_public_answer_after_probation() {
        let mut r = Remote::new(addr("203.0.113.5:4000"), Learning::Always);
        let sbc = addr("203.0.113.5:4002");
        assert!(!r.accept(sbc, &packet(9, 0)));
        assert!(!r.accept(sbc, &packet(9, 1)));
        assert!(r.accept(sbc, &packet(9, 2)));
        assert_eq!(r.destination(), sbc);
        assert_eq!(r.dropped(), 2, "the probation's packets");
        assert!(
            !r.accept(addr("203.0.113.5:4000"), &packet(1, 0)),
            "settled"
        );
        assert_eq!(r.dropped(), 3);
    }

    #[test]
    fn an_ipv4_mapped_source_is_the_ipv4_callee() {
        // A dual-stack RTP socket reports an IPv4 callee as ::ffff:a.b.c.d.
        let mut r = Remote::new(addr("203.0.113.5:4000"), Learning::Private);
        assert!(r.accept(addr("[::ffff:203.0.113.5]:4000"), &packet(1, 0)));
        assert_eq!(r.destination(), addr("203.0.113.5:4000"));
        assert_eq!(r.dropped(), 0);
        let mut mapped = Remote::new(addr("[::ffff:203.0.113.5]:4000"), Learning::Private);
        assert!(mapped.accept(addr("203.0.113.5:4000"), &packet(1, 0)));
    }

    #[test]
    fn which_addresses_may_be_behind_nat() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::",
            "::ffff:192.168.1.1",
        ] {
            assert!(may_be_behind_nat(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "2001:db8::1",
            "::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!may_be_behind_nat(ip.parse().unwrap()), "{ip}");
        }
    }

    proptest! {
        /// Whatever arrives, the destination is the signalled address or a source that
        /// sent a packet accepted as the callee's; once a packet is accepted, the
        /// destination never changes again.
        #[test]
        fn the_destination_only_moves_once_and_only_to_an_accepted_source(
            private in any::<bool>(),
            always in any::<bool>(),
            arrivals in proptest::collection::vec((0u8..4, 0u32..2, 0u16..4), 0..80),
        ) {
            let signalled = if private { addr("192.168.7.7:4000") } else { addr("203.0.113.7:4000") };
            let sources = [signalled, addr("198.51.100.1:1000"), addr("198.51.100.2:2000"), addr("127.0.0.1:3000")];
            let learning = if always { Learning::Always } else { Learning::Private };
            let mut r = Remote::new(signalled, learning);
            let mut dropped = 0u64;
            let mut settled: Option<SocketAddr> = None;
            for (source, ssrc, sequence) in arrivals {
                let from = sources[usize::from(source)];
                let accepted = r.accept(from, &packet(ssrc, sequence));
                dropped += u64::from(!accepted);
                prop_assert_eq!(r.dropped(), dropped);
                if accepted {
                    prop_assert_eq!(r.destination(), from);
                    if let Some(s) = settled {
                        prop_assert_eq!(s, from);
                    }
                    settled = Some(from);
                }
                match settled {
                    Some(s) => prop_assert_eq!(r.destination(), s),
                    None => prop_assert_eq!(r.destination(), signalled),
                }
                if !private && !always {
                    prop_assert_eq!(r.destination(), signalled);
                }
            }
        }
    }
}
