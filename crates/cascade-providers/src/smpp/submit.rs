//! Turning an SMS step into `submit_sm` PDUs: addressing (TON/NPI), data coding, flash,
//! long-message concatenation and the validity period. Pure: no I/O, no clock.

use bytes::Bytes;
use cascade_core::flow::SmsStep;
use cascade_core::sms::encoding::{SmsEncoding, encode_gsm7, encode_ucs2};
use cascade_smpp::pdu::SubmitSm;
use cascade_smpp::pdu::consts::{ESM_CLASS_UDHI, REGISTERED_DELIVERY_FINAL};
use cascade_smpp::{COctetString, Tlv, TlvList};

use super::settings::{Gsm7Coding, LongMessages};

/// Type of number: international / network specific / alphanumeric.
pub const TON_INTERNATIONAL: u8 = 1;
pub const TON_NETWORK_SPECIFIC: u8 = 3;
pub const TON_ALPHANUMERIC: u8 = 5;
/// Numbering plan: unknown / ISDN (E.164).
pub const NPI_UNKNOWN: u8 = 0;
pub const NPI_ISDN: u8 = 1;

/// Longest numeric sender treated as a short code (TON 3) rather than a full number.
const SHORT_CODE_MAX_DIGITS: usize = 8;

/// How one step's submits are built.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub long_messages: LongMessages,
    /// The alphabet GSM-7 text goes in.
    pub gsm7: Gsm7Coding,
    /// Reference shared by the parts of one concatenated message.
    pub reference: u16,
    /// Seconds the SMSC may keep trying (the step's remaining TTL); `None` leaves the
    /// SMSC's default.
    pub validity_seconds: Option<u64>,
}

/// The `submit_sm` PDUs for one SMS step, in part order, and which of the step's parts
/// (message entries) each one carries: one PDU per part, except with
/// `LongMessages::Payload`, where one PDU carries every part.
pub fn build_submit_pdus(step: &SmsStep, options: BuildOptions) -> Vec<(SubmitSm, Vec<usize>)> {
    let (source_addr_ton, source_addr_npi, source) = source_address(step.from.as_ref());
    let template = SubmitSm {
        source_addr_ton,
        source_addr_npi,
        source_addr: source.into(),
        dest_addr_ton: TON_INTERNATIONAL,
        dest_addr_npi: NPI_ISDN,
        destination_addr: step.to.digits().to_owned().into(),
        esm_class: 0,
        registered_delivery: REGISTERED_DELIVERY_FINAL,
        data_coding: data_coding(step.encoding, step.flash, options.gsm7),
        validity_period: options
            .validity_seconds
            .map_or_else(COctetString::new, |s| relative_validity(s).into()),
        ..SubmitSm::default()
    };
    let encoded: Vec<Vec<u8>> = step
        .parts
        .iter()
        .map(|p| encode(p, step.encoding, step.flash, options.gsm7))
        .collect();
    let total = encoded.len();
    if total <= 1 {
        let mut pdu = template;
        pdu.short_message = Bytes::from(encoded.into_iter().next().unwrap_or_default());
        return vec![(pdu, vec![0])];
    }
    match options.long_messages {
        LongMessages::Payload => {
            let mut pdu = template;
            pdu.tlvs = TlvList::new().with(Tlv::message_payload(encoded.concat()));
            vec![(pdu, (0..total).collect())]
        }
        LongMessages::Udh => {
            // 8-bit reference concatenation IE: 05 00 03 ref total seq.
            let reference = options.reference.to_be_bytes()[1];
            let total_u8 = u8::try_from(total).unwrap_or(u8::MAX);
            encoded
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
                    let mut message = vec![0x05, 0x00, 0x03, reference, total_u8, seq];
                    message.extend_from_slice(&body);
                    let mut pdu = template.clone();
                    pdu.esm_class |= ESM_CLASS_UDHI;
                    pdu.short_message = Bytes::from(message);
                    (pdu, vec![i])
                })
                .collect()
        }
        LongMessages::Sar => {
            let total_u8 = u8::try_from(total).unwrap_or(u8::MAX);
            encoded
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut pdu = template.clone();
                    pdu.short_message = Bytes::from(body);
                    pdu.tlvs = TlvList::new()
                        .with(Tlv::sar_msg_ref_num(options.reference))
                        .with(Tlv::sar_total_segments(total_u8))
                        .with(Tlv::sar_segment_seqnum(
                            u8::try_from(i + 1).unwrap_or(u8::MAX),
                        ));
                    (pdu, vec![i])
                })
                .collect()
        }
    }
}

/// `data_coding`: 0 (GSM 7-bit default alphabet; 3 Latin-1 or 1 IA5 when the SMSC wants
/// those) or 8 (UCS-2). A flash message is message class 0 in the general data coding
/// group (0x10 / 0x18), which only knows GSM-7 and UCS-2, so it always goes as GSM-7.
pub fn data_coding(encoding: SmsEncoding, flash: bool, gsm7: Gsm7Coding) -> u8 {
    match (encoding, flash, gsm7) {
        (SmsEncoding::Ucs2, true, _) => 0x18,
        (SmsEncoding::Ucs2, false, _) => 0x08,
        (SmsEncoding::Gsm7, true, _) | (SmsEncoding::Gsm7, false, Gsm7Coding::Gsm) => {
            if flash {
                0x10
            } else {
                0x00
            }
        }
        (SmsEncoding::Gsm7, false, Gsm7Coding::Latin1) => 0x03,
        (SmsEncoding::Gsm7, false, Gsm7Coding::Ia5) => 0x01,
    }
}

/// The SMPP bytes of one part: GSM-7 unpacked (one septet per octet), Latin-1 or ASCII
/// for SMSCs that want GSM text so (a character the alphabet lacks becomes `?`), or
/// UTF-16BE.
fn encode(part: &str, encoding: SmsEncoding, flash: bool, gsm7: Gsm7Coding) -> Vec<u8> {
    let narrow = |max: u32| {
        part.chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|b| u32::from(*b) <= max)
                    .unwrap_or(b'?')
            })
            .collect()
    };
    match (encoding, flash, gsm7) {
        (SmsEncoding::Gsm7, false, Gsm7Coding::Latin1) => return narrow(0xFF),
        (SmsEncoding::Gsm7, false, Gsm7Coding::Ia5) => return narrow(0x7F),
        _ => {}
    }
    match encoding {
        // Parts were planned as GSM-7, so every character encodes; should one not, UCS-2
        // would be wrong for data_coding 0, so the text goes with the unknown characters
        // dropped rather than garbled.
        SmsEncoding::Gsm7 => encode_gsm7(part).unwrap_or_else(|| {
            part.chars()
                .filter_map(|c| encode_gsm7(c.encode_utf8(&mut [0; 4])))
                .flatten()
                .collect()
        }),
        SmsEncoding::Ucs2 => encode_ucs2(part),
    }
}

/// TON, NPI and the address for a sender id: alphanumeric → TON 5 / NPI 0; a short code
/// (up to 8 digits, no `+`) → TON 3 / NPI 0; a full number → TON 1 / NPI 1 without the `+`.
pub fn source_address(sender: &str) -> (u8, u8, String) {
    let digits = sender.strip_prefix('+').unwrap_or(sender);
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !numeric {
        (TON_ALPHANUMERIC, NPI_UNKNOWN, sender.to_owned())
    } else if sender.starts_with('+') || digits.len() > SHORT_CODE_MAX_DIGITS {
        (TON_INTERNATIONAL, NPI_ISDN, digits.to_owned())
    } else {
        (TON_NETWORK_SPECIFIC, NPI_UNKNOWN, digits.to_owned())
    }
}

/// SMPP 3.4 §7.1.1 relative time `YYMMDDhhmmss000R` for a duration, at least one second
/// and at most 99 years.
pub fn relative_validity(seconds: u64) -> String {
    let s = seconds.max(1);
    let (minutes, sec) = (s / 60, s % 60);
    let (hours, min) = (minutes / 60, minutes % 60);
    let (days, hour) = (hours / 24, hours % 24);
    // Months and years as 30 and 365 days: SMSCs add the fields up the same way.
    let (years, days) = (days / 365, days % 365);
    let (months, day) = (days / 30, days % 30);
    let years = years.min(99);
    format!("{years:02}{months:02}{day:02}{hour:02}{min:02}{sec:02}000R")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_core::{Msisdn, SenderId};

    fn step(body_parts: &[&str], encoding: SmsEncoding, from: &str, flash: bool) -> SmsStep {
        SmsStep {
            from: SenderId::parse(from).unwrap(),
            to: Msisdn::parse("+306912345678").unwrap(),
            ttl_minutes: 10,
            body: body_parts.concat(),
            flash,
            label: None,
            inbound_url: None,
            transcode: false,
            encoding,
            parts: body_parts.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn options(long_messages: LongMessages) -> BuildOptions {
        BuildOptions {
            long_messages,
            gsm7: Gsm7Coding::Gsm,
            reference: 0x1234,
            validity_seconds: Some(600),
        }
    }

    #[test]
    fn single_gsm_part() {
        let pdus = build_submit_pdus(
            &step(&["Hi €"], SmsEncoding::Gsm7, "Cascade", false),
            options(LongMessages::Udh),
        );
        assert_eq!(pdus.len(), 1);
        let (pdu, parts) = &pdus[0];
        assert_eq!(parts, &vec![0]);
        assert_eq!(pdu.data_coding, 0);
        assert_eq!(pdu.esm_class, 0);
        assert_eq!(pdu.registered_delivery, 1);
        // '€' is an extension character: escape + 0x65.
        assert_eq!(&pdu.short_message[..], b"Hi \x1b\x65");
        assert_eq!((pdu.source_addr_ton, pdu.source_addr_npi), (5, 0));
        assert_eq!(pdu.source_addr.as_bytes(), b"Cascade");
        assert_eq!((pdu.dest_addr_ton, pdu.dest_addr_npi), (1, 1));
        assert_eq!(pdu.destination_addr.as_bytes(), b"306912345678");
        assert_eq!(pdu.validity_period.as_bytes(), b"000000001000000R");
    }

    #[test]
    fn ucs2_and_flash_codings() {
        let pdus = build_submit_pdus(
            &step(&["Γειά"], SmsEncoding::Ucs2, "+306900000000", true),
            options(LongMessages::Udh),
        );
        let pdu = &pdus[0].0;
        assert_eq!(pdu.data_coding, 0x18);
        assert_eq!(
            &pdu.short_message[..],
            &[0x03, 0x93, 0x03, 0xB5, 0x03, 0xB9, 0x03, 0xAC]
        );
        assert_eq!((pdu.source_addr_ton, pdu.source_addr_npi), (1, 1));
        assert_eq!(pdu.source_addr.as_bytes(), b"306900000000");
        assert_eq!(data_coding(SmsEncoding::Gsm7, true, Gsm7Coding::Gsm), 0x10);
        assert_eq!(data_coding(SmsEncoding::Gsm7, false, Gsm7Coding::Gsm), 0);
        assert_eq!(data_coding(SmsEncoding::Ucs2, false, Gsm7Coding::Gsm), 8);
        assert_eq!(data_coding(SmsEncoding::Ucs2, false, Gsm7Coding::Latin1), 8);
        assert_eq!(
            data_coding(SmsEncoding::Gsm7, true, Gsm7Coding::Latin1),
            0x10
        );
    }

    #[test]
    fn udh_concatenation() {
        let pdus = build_submit_pdus(
            &step(&["aaa", "bb", "c"], SmsEncoding::Gsm7, "54321", false),
            options(LongMessages::Udh),
        );
        assert_eq!(pdus.len(), 3);
        for (i, (pdu, parts)) in pdus.iter().enumerate() {
            assert_eq!(parts, &vec![i]);
            assert_eq!(pdu.esm_class, 0x40);
            let seq = u8::try_from(i + 1).unwrap();
            assert_eq!(&pdu.short_message[..6], &[5, 0, 3, 0x34, 3, seq]);
            assert!(pdu.tlvs.is_empty());
        }
        assert_eq!(&pdus[1].0.short_message[6..], b"bb");
        assert_eq!(
            (pdus[0].0.source_addr_ton, pdus[0].0.source_addr_npi),
            (3, 0)
        );
    }

    #[test]
    fn sar_concatenation() {
        let pdus = build_submit_pdus(
            &step(&["aaa", "bb"], SmsEncoding::Gsm7, "Cascade", false),
            options(LongMessages::Sar),
        );
        assert_eq!(pdus.len(), 2);
        let pdu = &pdus[1].0;
        assert_eq!(pdu.esm_class, 0);
        assert_eq!(&pdu.short_message[..], b"bb");
        assert_eq!(pdu.tlvs.sar_msg_ref_num(), Some(0x1234));
        assert_eq!(pdu.tlvs.sar_total_segments(), Some(2));
        assert_eq!(pdu.tlvs.sar_segment_seqnum(), Some(2));
    }

    #[test]
    fn message_payload_carries_every_part() {
        let pdus = build_submit_pdus(
            &step(&["aaa", "bb"], SmsEncoding::Gsm7, "Cascade", false),
            options(LongMessages::Payload),
        );
        assert_eq!(pdus.len(), 1);
        let (pdu, parts) = &pdus[0];
        assert_eq!(parts, &vec![0, 1]);
        assert!(pdu.short_message.is_empty());
        assert_eq!(
            pdu.tlvs.message_payload().map(|b| &b[..]),
            Some(&b"aaabb"[..])
        );
    }

    #[test]
    fn latin1_and_ia5_for_smscs_that_want_them() {
        let step = step(&["Ça coûte 5€"], SmsEncoding::Gsm7, "Cascade", false);
        let build_with = |gsm7| {
            build_submit_pdus(
                &step,
                BuildOptions {
                    gsm7,
                    ..options(LongMessages::Udh)
                },
            )
            .remove(0)
            .0
        };
        let latin = build_with(Gsm7Coding::Latin1);
        assert_eq!(latin.data_coding, 3);
        // '€' is not Latin-1.
        assert_eq!(&latin.short_message[..], b"\xC7a co\xFBte 5?");
        let ascii = build_with(Gsm7Coding::Ia5);
        assert_eq!(ascii.data_coding, 1);
        assert_eq!(&ascii.short_message[..], b"?a co?te 5?");
        // Flash stays GSM-7 in the class-0 coding, whatever the setting.
        let mut flash = step.clone();
        flash.flash = true;
        let pdu = build_submit_pdus(
            &flash,
            BuildOptions {
                gsm7: Gsm7Coding::Latin1,
                ..options(LongMessages::Udh)
            },
        )
        .remove(0)
        .0;
        assert_eq!(pdu.data_coding, 0x10);
        assert_eq!(pdu.short_message[0], 0x09, "'Ç' in GSM 03.38");
    }

    #[test]
    fn source_addresses() {
        assert_eq!(source_address("Cascade"), (5, 0, "Cascade".into()));
        assert_eq!(source_address("12345"), (3, 0, "12345".into()));
        assert_eq!(
            source_address("306912345678"),
            (1, 1, "306912345678".into())
        );
        assert_eq!(source_address("+1234"), (1, 1, "1234".into()));
    }

    #[test]
    fn validity_periods() {
        assert_eq!(relative_validity(0), "000000000001000R");
        assert_eq!(relative_validity(59), "000000000059000R");
        assert_eq!(
            relative_validity(3 * 86_400 + 3_600 + 61),
            "000003010101000R"
        );
        assert_eq!(relative_validity(45 * 86_400), "000115000000000R");
        assert_eq!(
            relative_validity(u64::MAX),
            "99".to_owned() + &relative_validity(u64::MAX)[2..]
        );
    }
}
