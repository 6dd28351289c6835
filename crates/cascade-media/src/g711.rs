//! G.711: 16-bit linear PCM to and from 8-bit μ-law (PCMU, RTP payload type 0) and A-law
//! (PCMA, payload type 8), as ITU-T G.711 defines them: a sign bit, a 3-bit segment
//! (exponent) and a 4-bit step within the segment; μ-law inverts all bits, A-law inverts
//! the even ones (XOR 0x55).

/// The two codecs Cascade offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static payload type.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name (`a=rtpmap:0 PCMU/8000`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(byte),
            Codec::Pcma => alaw_decode(byte),
        }
    }

    /// Encode a run of samples (a 20 ms frame is 160).
    pub fn encode_all(self, samples: &[i16]) -> Vec<u8> {
        samples.iter().map(|&s| self.encode(s)).collect()
    }

    /// Decode a run of bytes.
    pub fn decode_all(self, bytes: &[u8]) -> Vec<i16> {
        bytes.iter().map(|&b| self.decode(b)).collect()
    }
}

/// μ-law bias: added to the magnitude so every segment starts at a power of two.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law represents (before the bias).
const ULAW_CLIP: i32 = 32_635;

/// The segment of a biased magnitude: the position of its highest set bit above bit 7.
fn segment(biased: i32, first_bit: u32) -> u32 {
    let mut seg = 0;
    while seg < 7 && biased >> (first_bit + seg + 1) != 0 {
        seg += 1;
    }
    seg
}

/// 16-bit linear to μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    let biased = x.min(ULAW_CLIP) + ULAW_BIAS;
    let seg = segment(biased, 7);
    let step = (biased >> (seg + 3)) & 0x0F;
    let byte = sign | ((seg as i32) << 4) | step;
    !(byte as u8)
}

/// μ-law to 16-bit linear.
pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let seg = u32::from((b >> 4) & 0x07);
    let step = i32::from(b & 0x0F);
    let magnitude = (((step << 3) + ULAW_BIAS) << seg) - ULAW_BIAS;
    let value = if b & 0x80 != 0 { -magnitude } else { magnitude };
    value as i16
}

/// 16-bit linear to A-law (13-bit magnitude: the sample's top bits).
pub fn alaw_encode(sample: i16) -> u8 {
    let x = i32::from(sample) >> 3;
    let (sign, magnitude) = if x >= 0 { (0x80, x) } else { (0x00, -x - 1) };
    let magnitude = magnitude.min(0x0FFF);
    // Segment 0 holds 0..32 in steps of 2; segment s ≥ 1 holds 2^(4+s)..2^(5+s) in
    // steps of 2^s.
    let byte = if magnitude < 32 {
        magnitude >> 1
    } else {
        let seg = segment(magnitude, 4);
        ((seg as i32) << 4) | ((magnitude >> seg) & 0x0F)
    };
    ((sign | byte) ^ 0x55) as u8
}

/// A-law to 16-bit linear.
pub fn alaw_decode(byte: u8) -> i16 {
    let b = i32::from(byte ^ 0x55);
    let seg = (b >> 4) & 0x07;
    let step = b & 0x0F;
    let magnitude = if seg == 0 {
        (step << 4) + 8
    } else {
        ((step << 4) + 0x108) << (seg - 1)
    };
    let value = if b & 0x80 != 0 { magnitude } else { -magnitude };
    value as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_code_words() {
        // Silence: μ-law's positive zero is 0xFF, A-law's smallest positive step 0xD5.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        // Full scale.
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
    }

    #[test]
    fn payload_types_and_names() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
        }
        assert_eq!(
            Codec::from_payload_type(13),
            None,
            "comfort noise is no codec"
        );
        assert_eq!((Codec::Pcmu.name(), Codec::Pcma.name()), ("PCMU", "PCMA"));
    }

    /// Every code word decodes to a value that encodes back to the same code word
    /// (except the duplicate zeros of μ-law).
    #[test]
    fn every_code_word_survives_a_round_trip() {
        for byte in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(byte));
            if byte == 0x7F {
                assert_eq!(back, 0xFF, "negative zero encodes as zero");
            } else {
                assert_eq!(back, byte, "μ-law {byte:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(byte)), byte, "A-law {byte:#04x}");
        }
    }

    proptest! {
        /// The quantisation error stays within half a step of the sample's segment
        /// (a step is 1/16 of the segment's span), plus the clipping at full scale.
        #[test]
        fn quantisation_error_is_bounded(sample in any::<i16>()) {
            let x = i32::from(sample);
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let y = i32::from(codec.decode(codec.encode(sample)));
                let bound = (x.abs() / 16).max(16) + if x.abs() > 32_000 { 700 } else { 0 };
                prop_assert!((x - y).abs() <= bound, "{codec:?} {x} -> {y}");
                prop_assert!(x.signum() * y.signum() >= 0 || x.abs() < 16, "{codec:?} kept the sign of {x}");
            }
        }

        /// Encoding is monotonic: a louder sample never gets a quieter code.
        #[test]
        fn encoding_is_monotonic(a in any::<i16>(), b in any::<i16>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for codec in [Codec::Pcmu, Codec::Pcma] {
                prop_assert!(codec.decode(codec.encode(lo)) <= codec.decode(codec.encode(hi)));
            }
        }
    }
}
