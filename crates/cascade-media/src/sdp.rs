//! The SDP (RFC 4566) of a call, as far as Cascade needs it: an offer of one audio stream
//! with PCMU and PCMA (and telephone events), and, from the answer, where to send RTP
//! and which codec the callee chose (the first of its formats that Cascade offered).

use std::net::IpAddr;

use crate::g711::Codec;

/// The RTP payload type Cascade offers for telephone events (RFC 4733).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// What Cascade offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The address the callee sends RTP to (the external IP behind NAT).
    pub address: IpAddr,
    pub rtp_port: u16,
    /// Offered in this order.
    pub codecs: Vec<Codec>,
    /// `o=` session id and version.
    pub session_id: u64,
}

impl Offer {
    /// The SDP body, lines ending in CRLF.
    pub fn to_sdp(&self) -> String {
        let ip = match self.address {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut formats: Vec<String> = self
            .codecs
            .iter()
            .map(|c| c.payload_type().to_string())
            .collect();
        formats.push(TELEPHONE_EVENT_PT.to_string());
        let mut lines = vec![
            "v=0".to_owned(),
            format!(
                "o=cascade {id} {id} IN {ip} {addr}",
                id = self.session_id,
                addr = self.address
            ),
            "s=cascade".to_owned(),
            format!("c=IN {ip} {}", self.address),
            "t=0 0".to_owned(),
            format!("m=audio {} RTP/AVP {}", self.rtp_port, formats.join(" ")),
        ];
        for c in &self.codecs {
            lines.push(format!("a=rtpmap:{} {}/8000", c.payload_type(), c.name()));
        }
        lines.push(format!(
            "a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000"
        ));
        lines.push(format!("a=fmtp:{TELEPHONE_EVENT_PT} 0-15"));
        lines.push("a=ptime:20".to_owned());
        lines.push("a=sendrecv".to_owned());
        let mut sdp = lines.join("\r\n");
        sdp.push_str("\r\n");
        sdp
    }
}

/// What the callee answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Where to send RTP.
    pub address: IpAddr,
    pub rtp_port: u16,
    /// The callee's first format that Cascade offered.
    pub codec: Codec,
}

/// Why an answer cannot carry the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// No `m=audio` line, or its port is 0 (the stream was refused).
    NoAudio,
    /// No connection address for the audio stream.
    NoAddress,
    /// None of the offered codecs (SIP answers this with 488).
    NoCommonCodec,
}

/// Read an SDP answer against the codecs offered.
///
/// # Errors
/// See [`AnswerError`].
pub fn read_answer(sdp: &str, offered: &[Codec]) -> Result<Answer, AnswerError> {
    let mut session_address: Option<IpAddr> = None;
    let mut media_address: Option<IpAddr> = None;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut in_audio = false;
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                in_audio = false;
                let mut parts = value.split_whitespace();
                if parts.next() == Some("audio") && audio.is_none() {
                    let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok());
                    let _proto = parts.next();
                    let formats = parts.filter_map(|f| f.parse().ok()).collect();
                    if let Some(port) = port {
                        audio = Some((port, formats));
                        in_audio = true;
                    }
                }
            }
            "c" => {
                let address = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse().ok());
                if in_audio {
                    media_address = address;
                } else if audio.is_none() {
                    session_address = address;
                }
            }
            "a" if in_audio => {
                if let Some(map) = value.strip_prefix("rtpmap:")
                    && let Some((pt, name)) = map.split_once(' ')
                    && let Ok(pt) = pt.parse()
                {
                    rtpmap.push((
                        pt,
                        name.split('/').next().unwrap_or("").to_ascii_uppercase(),
                    ));
                }
            }
            _ => {}
        }
    }
    let (port, formats) = audio.ok_or(AnswerError::NoAudio)?;
    if port == 0 {
        return Err(AnswerError::NoAudio);
    }
    let address = media_address
        .or(session_address)
        .ok_or(AnswerError::NoAddress)?;
    // A static payload type is known by number; a dynamic one by its rtpmap name.
    let codec = formats
        .iter()
        .find_map(|&pt| {
            let by_number = Codec::from_payload_type(pt);
            let by_name = rtpmap
                .iter()
                .find(|(p, _)| *p == pt)
                .and_then(|(_, name)| offered.iter().copied().find(|c| c.name() == name));
            by_name.or(by_number).filter(|c| offered.contains(c))
        })
        .ok_or(AnswerError::NoCommonCodec)?;
    Ok(Answer {
        address,
        rtp_port: port,
        codec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Offer {
        Offer {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 20_000,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            session_id: 42,
        }
    }

    #[test]
    fn the_offer_lists_both_codecs_in_order_and_events() {
        let sdp = offer().to_sdp();
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("c=IN IP4 192.0.2.10\r\n"));
        assert!(sdp.contains("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"));
        assert!(sdp.ends_with("a=sendrecv\r\n"));
    }

    #[test]
    fn an_answer_gives_the_address_port_and_the_callees_first_offered_codec() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                   m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n";
        let answer = read_answer(sdp, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!(answer.address, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!((answer.rtp_port, answer.codec), (30_000, Codec::Pcma));
    }

    #[test]
    fn a_media_level_address_wins_and_a_reply_to_our_own_offer_reads_back() {
        let sdp = "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 10.0.0.2\n";
        let answer = read_answer(sdp, &[Codec::Pcmu]).unwrap();
        assert_eq!(answer.address, "10.0.0.2".parse::<IpAddr>().unwrap());
        let ours = read_answer(&offer().to_sdp(), &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!((ours.rtp_port, ours.codec), (20_000, Codec::Pcmu));
    }

    #[test]
    fn answers_that_cannot_carry_the_call_are_told_apart() {
        assert_eq!(
            read_answer("v=0\r\n", &[Codec::Pcmu]),
            Err(AnswerError::NoAudio)
        );
        assert_eq!(
            read_answer(
                "v=0\nc=IN IP4 10.0.0.1\nm=audio 0 RTP/AVP 0\n",
                &[Codec::Pcmu]
            ),
            Err(AnswerError::NoAudio),
            "port 0: the stream was refused"
        );
        assert_eq!(
            read_answer("v=0\nm=audio 4000 RTP/AVP 0\n", &[Codec::Pcmu]),
            Err(AnswerError::NoAddress)
        );
        assert_eq!(
            read_answer(
                "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 9 18\n",
                &[Codec::Pcmu, Codec::Pcma]
            ),
            Err(AnswerError::NoCommonCodec),
            "G.722 and G.729 only"
        );
        assert_eq!(
            read_answer(
                "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 8\n",
                &[Codec::Pcmu]
            ),
            Err(AnswerError::NoCommonCodec),
            "PCMA was not offered"
        );
    }
}
