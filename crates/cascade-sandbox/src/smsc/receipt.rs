//! The delivery receipt a scripted report becomes, and what the simulator remembers of
//! each message to fill it in.

use bytes::Bytes;
use cascade_core::machines::Report;
use cascade_core::reasons::receipt::{EXPIRED, UNKNOWN_STATUS};
use cascade_core::sandbox::{Delivery, ScriptedReply};
use cascade_core::{StatusKind, Timestamp};
use cascade_smpp::pdu::DeliverSm;
use cascade_smpp::pdu::consts::ESM_CLASS_DELIVERY_RECEIPT;
use cascade_smpp::{ReceiptState, Tlv, TlvList, vendor_tlv};
use cascade_store::SandboxReport;

use super::{SimState, lock};

/// A message's addresses are kept this long for its receipts (then receipts go without).
const ORIGINAL_LIFETIME_MS: i64 = 6 * 60 * 60 * 1000;

/// What a receipt repeats of its message.
#[derive(Debug, Clone)]
pub(super) struct Original {
    source: Bytes,
    destination: Bytes,
    text: String,
    submitted: Timestamp,
}

/// Keep a message's addresses and the start of its text for its receipts.
pub(super) fn remember(
    state: &SimState,
    message_id: &str,
    source: &Bytes,
    destination: &Bytes,
    text: &str,
) {
    lock(&state.originals).insert(
        message_id.to_owned(),
        Original {
            source: source.clone(),
            destination: destination.clone(),
            text: text.chars().take(20).collect(),
            submitted: state.clock.now(),
        },
    );
}

/// Forget messages whose receipts are long overdue.
pub(super) fn prune_originals(state: &SimState) {
    let oldest = state.clock.now().plus_millis(-ORIGINAL_LIFETIME_MS);
    lock(&state.originals).retain(|_, o| o.submitted >= oldest);
}

/// The `stat:` of a scripted report.
fn receipt_state(report: &Report) -> ReceiptState {
    match report.status {
        StatusKind::Delivered => ReceiptState::Delivered,
        StatusKind::Undelivered if report.detailed_status.as_deref() == Some(EXPIRED) => {
            ReceiptState::Expired
        }
        StatusKind::Undelivered => ReceiptState::Undeliverable,
        StatusKind::Failed if report.detailed_status.as_deref() == Some(UNKNOWN_STATUS) => {
            ReceiptState::Unknown
        }
        StatusKind::Failed => ReceiptState::Rejected,
        StatusKind::Queued | StatusKind::Sent => ReceiptState::Enroute,
        _ => ReceiptState::Unknown,
    }
}

/// What the simulator sends for a due planned report: a delivery receipt, or the
/// recipient's scripted reply as a mobile-originated `deliver_sm`.
pub(super) fn deliver_pdu(
    report: &SandboxReport,
    original: Option<&Original>,
    now: Timestamp,
) -> DeliverSm {
    match &report.delivery {
        Delivery::Report(r) => receipt_pdu(report, r, original, now),
        Delivery::Inbound(reply) => mo_pdu(reply),
    }
}

/// A reply from the handset: GSM-7 (data_coding 0, unpacked) when it fits, else UCS-2.
fn mo_pdu(reply: &ScriptedReply) -> DeliverSm {
    let (data_coding, text) = match cascade_core::sms::encoding::encode_gsm7(&reply.inbound) {
        Some(octets) => (0, octets),
        None => (8, cascade_core::sms::encoding::encode_ucs2(&reply.inbound)),
    };
    DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: reply.from.trim_start_matches('+').to_owned().into(),
        destination_addr: reply.to.clone().into(),
        esm_class: 0,
        data_coding,
        short_message: Bytes::from(text),
        ..DeliverSm::default()
    }
}

/// A delivery receipt as SMSCs send them: Appendix B text, the receipt TLVs, and (our own
/// vendor tags) the scenario's detailed status, description and operator.
fn receipt_pdu(
    report: &SandboxReport,
    r: &Report,
    original: Option<&Original>,
    now: Timestamp,
) -> DeliverSm {
    const RECEIPT_DATE: &str = "%y%m%d%H%M%S";
    let state = receipt_state(r);
    let delivered = u8::from(state == ReceiptState::Delivered);
    let err = if matches!(state, ReceiptState::Delivered | ReceiptState::Enroute) {
        "000"
    } else {
        "001"
    };
    let submitted = original.map_or(now, |o| o.submitted);
    let text = format!(
        "id:{} sub:001 dlvrd:{delivered:03} submit date:{} done date:{} stat:{} err:{err} text:{}",
        report.provider_message_id,
        submitted.format_utc(RECEIPT_DATE),
        now.format_utc(RECEIPT_DATE),
        state.stat(),
        original.map_or("", |o| o.text.as_str()),
    );
    let mut tlvs = TlvList::new()
        .with(Tlv::receipted_message_id(
            &report.provider_message_id.clone().into(),
        ))
        .with(Tlv::message_state(state.message_state()));
    for (tag, value) in [
        (vendor_tlv::DETAILED_STATUS, &r.detailed_status),
        (vendor_tlv::DESCRIPTION, &r.description),
        (vendor_tlv::OPERATOR, &r.operator),
    ] {
        if let Some(v) = value {
            tlvs.push(vendor_tlv::text(tag, v));
        }
    }
    // The receipt travels from the handset back to the sender.
    let (source, destination) = original.map_or_else(
        || (Bytes::new(), Bytes::new()),
        |o| (o.destination.clone(), o.source.clone()),
    );
    DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: source.into(),
        destination_addr: destination.into(),
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from(text.into_bytes()),
        tlvs,
        ..DeliverSm::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_smpp::DeliveryReceipt;

    #[test]
    fn receipts_parse_back_to_the_scripted_report() {
        let mut report = Report::status(StatusKind::Undelivered, Timestamp::from_millis(0));
        report.detailed_status = Some("Expired".into());
        report.operator = Some("Cosmote".into());
        let row = SandboxReport {
            id: 1,
            provider: "smsc-sim:cascade".into(),
            provider_message_id: "ABC123".into(),
            delivery: Delivery::Report(report),
        };
        let pdu = deliver_pdu(&row, None, Timestamp::from_millis(1_767_225_600_000));
        assert_eq!(pdu.esm_class, 0x04);
        let parsed = DeliveryReceipt::from_deliver_sm(&pdu);
        assert_eq!(parsed.message_id.as_deref(), Some("ABC123"));
        assert_eq!(parsed.state, Some(ReceiptState::Expired));
        assert_eq!(parsed.stat.as_deref(), Some("EXPIRED"));
        let back = cascade_providers::smpp::receipt::to_report(
            &parsed,
            &pdu.tlvs,
            true,
            Timestamp::from_millis(5),
        );
        assert_eq!(back.status, StatusKind::Undelivered);
        assert_eq!(back.detailed_status.as_deref(), Some("Expired"));
        assert_eq!(back.operator.as_deref(), Some("Cosmote"));
        assert!(String::from_utf8_lossy(&pdu.short_message).contains("done date:2601010000"));
    }

    #[test]
    fn every_sms_status_has_a_stat() {
        let state = |status, detailed: Option<&str>| {
            let mut r = Report::status(status, Timestamp::from_millis(0));
            r.detailed_status = detailed.map(str::to_owned);
            receipt_state(&r)
        };
        assert_eq!(state(StatusKind::Delivered, None), ReceiptState::Delivered);
        assert_eq!(
            state(StatusKind::Undelivered, None),
            ReceiptState::Undeliverable
        );
        assert_eq!(state(StatusKind::Failed, None), ReceiptState::Rejected);
        assert_eq!(
            state(StatusKind::Failed, Some("Unknown Status")),
            ReceiptState::Unknown
        );
        assert_eq!(state(StatusKind::Sent, None), ReceiptState::Enroute);
    }

    #[test]
    fn a_scripted_reply_is_a_mobile_originated_message_to_the_sender() {
        let reply = |text: &str| SandboxReport {
            id: 2,
            provider: "smsc-sim:cascade".into(),
            provider_message_id: "ABC123".into(),
            delivery: Delivery::Inbound(ScriptedReply {
                inbound: text.into(),
                at: Timestamp::from_millis(0),
                from: "+306912345678".into(),
                to: "Cascade".into(),
            }),
        };
        let pdu = deliver_pdu(&reply("STOP"), None, Timestamp::from_millis(0));
        assert!(!pdu.is_receipt());
        assert_eq!(pdu.source_addr.to_string_lossy(), "306912345678");
        assert_eq!(pdu.destination_addr.to_string_lossy(), "Cascade");
        assert_eq!((pdu.data_coding, &pdu.short_message[..]), (0, &b"STOP"[..]));
        let pdu = deliver_pdu(&reply("Σ"), None, Timestamp::from_millis(0));
        assert_eq!(
            (pdu.data_coding, &pdu.short_message[..]),
            (0, &[0x18][..]),
            "Σ is GSM-7"
        );
        let pdu = deliver_pdu(&reply("ж"), None, Timestamp::from_millis(0));
        assert_eq!(
            (pdu.data_coding, &pdu.short_message[..]),
            (8, &[0x04, 0x36][..])
        );
    }
}
