//! From an SMPP delivery receipt to a Cascade report. Pure.

use cascade_core::machines::Report;
use cascade_core::reasons::receipt::{EXPIRED, REJECTED, UNDELIVERED, UNKNOWN_STATUS};
use cascade_core::{StatusKind, Timestamp};
use cascade_smpp::{DeliveryReceipt, ReceiptState, TlvList};

use cascade_smpp::vendor_tlv;

/// The report a receipt stands for.
///
/// `stat` (or the `message_state` TLV) decides the status: DELIVRD → Delivered; UNDELIV →
/// Undelivered; EXPIRED → Undelivered / "Expired"; REJECTD → Failed / "Rejected";
/// DELETED and UNKNOWN (and a state nobody recognises) → Failed / "Unknown Status";
/// ENROUTE and ACCEPTD → Sent (not final). The error code travels in the description.
///
/// With `sandbox_tlvs` (only for Cascade's own simulator) the vendor TLVs carrying a
/// scenario's `detailedStatus`, `description` and `operator` override the defaults.
pub fn to_report(
    receipt: &DeliveryReceipt,
    tlvs: &TlvList,
    sandbox_tlvs: bool,
    now: Timestamp,
) -> Report {
    let (status, detailed) = match receipt.state {
        Some(ReceiptState::Delivered) => (StatusKind::Delivered, None),
        Some(ReceiptState::Undeliverable) => (StatusKind::Undelivered, Some(UNDELIVERED)),
        Some(ReceiptState::Expired) => (StatusKind::Undelivered, Some(EXPIRED)),
        Some(ReceiptState::Rejected) => (StatusKind::Failed, Some(REJECTED)),
        Some(ReceiptState::Enroute | ReceiptState::Accepted) => (StatusKind::Sent, None),
        Some(ReceiptState::Deleted | ReceiptState::Unknown) | None => {
            (StatusKind::Failed, Some(UNKNOWN_STATUS))
        }
    };
    let mut report = Report::status(status, now);
    report.detailed_status = detailed.map(str::to_owned);
    if detailed.is_some() {
        report.description = Some(describe(receipt));
    }
    if sandbox_tlvs {
        let text = |tag| vendor_tlv::read_text(tlvs, tag);
        if let Some(d) = text(vendor_tlv::DETAILED_STATUS) {
            report.detailed_status = Some(d);
        }
        if let Some(d) = text(vendor_tlv::DESCRIPTION) {
            report.description = Some(d);
        }
        report.operator = text(vendor_tlv::OPERATOR);
    }
    report
}

/// "SMSC receipt stat:UNDELIV err:034" (whatever of the two the SMSC sent).
fn describe(receipt: &DeliveryReceipt) -> String {
    let stat = receipt
        .stat
        .clone()
        .or_else(|| receipt.state.map(|s| s.stat().to_owned()))
        .unwrap_or_else(|| "?".to_owned());
    match &receipt.error {
        Some(err) => format!("SMSC receipt stat:{stat} err:{err}"),
        None => format!("SMSC receipt stat:{stat}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_smpp::Tlv;

    fn receipt(text: &str) -> DeliveryReceipt {
        DeliveryReceipt::parse_text(text.as_bytes())
    }

    fn status_of(text: &str) -> (StatusKind, Option<String>, Option<String>) {
        let r = to_report(
            &receipt(text),
            &TlvList::new(),
            false,
            Timestamp::from_millis(1),
        );
        (r.status, r.detailed_status, r.description)
    }

    #[test]
    fn maps_every_stat() {
        let t = |stat: &str| {
            format!(
                "id:1 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:{stat} err:034 text:x"
            )
        };
        assert_eq!(
            status_of(&t("DELIVRD")),
            (StatusKind::Delivered, None, None)
        );
        let (s, d, desc) = status_of(&t("UNDELIV"));
        assert_eq!(
            (s, d.as_deref()),
            (StatusKind::Undelivered, Some("Undelivered"))
        );
        assert_eq!(desc.as_deref(), Some("SMSC receipt stat:UNDELIV err:034"));
        let (s, d, _) = status_of(&t("EXPIRED"));
        assert_eq!(
            (s, d.as_deref()),
            (StatusKind::Undelivered, Some("Expired"))
        );
        let (s, d, _) = status_of(&t("REJECTD"));
        assert_eq!((s, d.as_deref()), (StatusKind::Failed, Some("Rejected")));
        for stat in ["DELETED", "UNKNOWN", "WHATEVER"] {
            let (s, d, desc) = status_of(&t(stat));
            assert_eq!(
                (s, d.as_deref()),
                (StatusKind::Failed, Some("Unknown Status")),
                "{stat}"
            );
            assert!(desc.unwrap().contains("err:034"), "{stat}");
        }
        assert_eq!(status_of(&t("ENROUTE")).0, StatusKind::Sent);
        assert_eq!(status_of(&t("ACCEPTD")).0, StatusKind::Sent);
    }

    #[test]
    fn the_message_state_tlv_wins_over_the_text() {
        let tlvs = TlvList::new().with(Tlv::message_state(ReceiptState::Delivered.message_state()));
        let r = DeliveryReceipt::from_parts(b"id:1 stat:UNDELIV err:000", &tlvs);
        let report = to_report(&r, &tlvs, false, Timestamp::from_millis(1));
        assert_eq!(report.status, StatusKind::Delivered);
    }

    #[test]
    fn vendor_tlvs_only_from_the_simulator() {
        let tlvs = TlvList::new()
            .with(Tlv::new(
                vendor_tlv::DETAILED_STATUS,
                &b"Unknown Number\0"[..],
            ))
            .with(Tlv::new(vendor_tlv::OPERATOR, &b"Cosmote\0"[..]));
        let r = DeliveryReceipt::from_parts(b"id:1 stat:UNDELIV err:001", &tlvs);
        let trusted = to_report(&r, &tlvs, true, Timestamp::from_millis(1));
        assert_eq!(trusted.detailed_status.as_deref(), Some("Unknown Number"));
        assert_eq!(trusted.operator.as_deref(), Some("Cosmote"));
        let real = to_report(&r, &tlvs, false, Timestamp::from_millis(1));
        assert_eq!(real.detailed_status.as_deref(), Some("Undelivered"));
        assert_eq!(real.operator, None);
    }
}
