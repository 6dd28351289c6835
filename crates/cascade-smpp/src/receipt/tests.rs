//! Receipt parsing table: formats seen from real SMSCs and gateways.

use super::*;
use crate::pdu::{Tlv, tag};

/// What one row expects. `None` fields are expected to be absent.
struct Expect {
    id: Option<&'static str>,
    state: Option<ReceiptState>,
    error: Option<&'static str>,
    submit_seconds: Option<Option<u8>>,
    text: Option<&'static str>,
}

const fn expect(id: &'static str, state: ReceiptState) -> Expect {
    Expect {
        id: Some(id),
        state: Some(state),
        error: None,
        submit_seconds: None,
        text: None,
    }
}

use ReceiptState::*;

fn table() -> Vec<(&'static str, &'static [u8], TlvList, Expect)> {
    let none = TlvList::new;
    vec![
        (
            "Appendix B canonical",
            b"id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 stat:DELIVRD err:000 text:Hello",
            none(),
            Expect { error: Some("000"), submit_seconds: Some(None), text: Some("Hello"), ..expect("0123456789", Delivered) },
        ),
        (
            "Kannel-style with seconds",
            b"id:c449ab9744f47b6af1879e49e75e4f40 sub:001 dlvrd:001 submit date:250103141530 done date:250103141547 stat:DELIVRD err:000 text:Your code is 1234",
            none(),
            Expect { submit_seconds: Some(Some(30)), text: Some("Your code is 1234"), error: Some("000"), ..expect("c449ab9744f47b6af1879e49e75e4f40", Delivered) },
        ),
        (
            "uppercase keys",
            b"ID:A1B2C3 SUB:001 DLVRD:000 SUBMIT DATE:2501031415 DONE DATE:2501031416 STAT:UNDELIV ERR:001 TEXT:hi",
            none(),
            Expect { error: Some("001"), text: Some("hi"), ..expect("A1B2C3", Undeliverable) },
        ),
        (
            "Title-case keys, Text: capitalised",
            b"Id:77 Sub:1 Dlvrd:1 Submit date:2501031415 Done date:2501031416 Stat:DELIVRD Err:0 Text:ok",
            none(),
            Expect { error: Some("0"), text: Some("ok"), ..expect("77", Delivered) },
        ),
        (
            "no dates",
            b"id:123456 sub:001 dlvrd:000 stat:EXPIRED err:000",
            none(),
            Expect { error: Some("000"), ..expect("123456", Expired) },
        ),
        (
            "extra spaces everywhere",
            b"id:  98765   sub: 001  dlvrd: 001   submit date: 2501031415  done date:2501031416   stat:  DELIVRD   err: 000  text:  spaced out  ",
            none(),
            Expect { error: Some("000"), text: Some("spaced out"), ..expect("98765", Delivered) },
        ),
        (
            "fields in another order",
            b"stat:REJECTD err:069 id:xyz-1 done date:2501031416 submit date:2501031415 dlvrd:000 sub:001 text:",
            none(),
            Expect { error: Some("069"), text: Some(""), ..expect("xyz-1", Rejected) },
        ),
        (
            "UUID id",
            b"id:2f1e0d3c-4b5a-6978-8796-a5b4c3d2e1f0 sub:001 dlvrd:001 submit date:2501031415 done date:2501031416 stat:DELIVRD err:000 text:",
            none(),
            Expect { error: Some("000"), text: Some(""), ..expect("2f1e0d3c-4b5a-6978-8796-a5b4c3d2e1f0", Delivered) },
        ),
        (
            "underscored date keys and state/error spellings",
            b"id:42 submit_date:2501031415 done_date:2501031416 state:DELIVERED error:0",
            none(),
            Expect { error: Some("0"), submit_seconds: Some(None), ..expect("42", Delivered) },
        ),
        (
            "user text containing keys",
            b"id:555 sub:001 dlvrd:001 submit date:2501031415 done date:2501031416 stat:DELIVRD err:000 text:your id: 9 stat: fine",
            none(),
            Expect { error: Some("000"), text: Some("your id: 9 stat: fine"), ..expect("555", Delivered) },
        ),
        (
            "intermediate ENROUTE with CRLF",
            b"id:1001 sub:001 dlvrd:000 submit date:2501031415 done date:2501031415 stat:ENROUTE err:000\r\n",
            none(),
            Expect { error: Some("000"), ..expect("1001", Enroute) },
        ),
        (
            "ACCEPTD, nothing else",
            b"id:1002 stat:ACCEPTD",
            none(),
            expect("1002", Accepted),
        ),
        (
            "TLV-only receipt",
            b"",
            TlvList::new()
                .with(Tlv::receipted_message_id(&"1A2B".into()))
                .with(Tlv::message_state(2)),
            expect("1A2B", Delivered),
        ),
        (
            "TLVs win over text",
            b"id:6699 stat:DELIVRD err:000",
            TlvList::new()
                .with(Tlv::receipted_message_id(&"1A2B".into()))
                .with(Tlv::message_state(5))
                .with(Tlv::network_error_code(NetworkErrorCode { network_type: 3, error_code: 27 })),
            Expect { error: Some("027"), ..expect("1A2B", Undeliverable) },
        ),
        (
            "receipted_message_id without NUL, text has the rest",
            b"sub:001 dlvrd:001 submit date:2501031415 done date:2501031416 stat:DELIVRD err:000",
            TlvList::new().with(Tlv::new(tag::RECEIPTED_MESSAGE_ID, &b"ABC123"[..])),
            Expect { error: Some("000"), ..expect("ABC123", Delivered) },
        ),
        (
            "invalid message_state TLV falls back to text",
            b"id:7 stat:UNDELIV err:005",
            TlvList::new().with(Tlv::message_state(42)),
            Expect { error: Some("005"), ..expect("7", Undeliverable) },
        ),
        (
            "numeric stat",
            b"id:8 stat:3",
            none(),
            expect("8", Expired),
        ),
        (
            "Latin-1 garbage in text does not hide the fields",
            b"id:9 stat:DELIVRD err:000 text:caf\xE9",
            none(),
            Expect { error: Some("000"), text: Some("caf\u{FFFD}"), ..expect("9", Delivered) },
        ),
    ]
}

#[test]
fn receipt_table() {
    for (name, text, tlvs, want) in table() {
        let got = DeliveryReceipt::from_parts(text, &tlvs);
        assert_eq!(got.message_id.as_deref(), want.id, "{name}: id");
        assert_eq!(got.state, want.state, "{name}: state");
        assert_eq!(got.error.as_deref(), want.error, "{name}: error");
        assert_eq!(got.text.as_deref(), want.text, "{name}: text");
        if let Some(seconds) = want.submit_seconds {
            let date = got
                .submit_date
                .unwrap_or_else(|| panic!("{name}: submit date"));
            assert_eq!(date.second, seconds, "{name}: seconds");
        }
    }
}

#[test]
fn canonical_receipt_fields() {
    let r = DeliveryReceipt::parse_text(
        b"id:0123456789 sub:002 dlvrd:001 submit date:0610191018 done date:061019101859 stat:DELIVRD err:000 text:Hello",
    );
    assert_eq!(r.submitted, Some(2));
    assert_eq!(r.delivered, Some(1));
    assert_eq!(
        r.submit_date,
        Some(ReceiptTime {
            year: 2006,
            month: 10,
            day: 19,
            hour: 10,
            minute: 18,
            second: None
        })
    );
    assert_eq!(r.done_date.and_then(|d| d.second), Some(59));
    assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
    assert!(r.is_final());
}

#[test]
fn unrecognised_stat_keeps_the_raw_value() {
    let r = DeliveryReceipt::parse_text(b"id:1 stat:FAILED err:500");
    assert_eq!(r.state, None);
    assert_eq!(r.stat.as_deref(), Some("FAILED"));
    assert!(!r.is_final());
}

#[test]
fn garbage_yields_an_empty_receipt() {
    assert_eq!(
        DeliveryReceipt::parse_text(b"hello world"),
        DeliveryReceipt::default()
    );
    assert_eq!(DeliveryReceipt::parse_text(b""), DeliveryReceipt::default());
    assert_eq!(
        DeliveryReceipt::parse_text(b"id:"),
        DeliveryReceipt::default()
    );
}

#[test]
fn bad_dates_are_absent() {
    let r = DeliveryReceipt::parse_text(b"id:1 submit date:2513011200 done date:25010112");
    assert_eq!(r.submit_date, None, "month 13");
    assert_eq!(r.done_date, None, "8 digits");
}

#[test]
fn receipt_text_in_message_payload() {
    let pdu = DeliverSm {
        esm_class: crate::pdu::consts::ESM_CLASS_DELIVERY_RECEIPT,
        tlvs: TlvList::new().with(Tlv::message_payload(&b"id:77 stat:DELIVRD err:000"[..])),
        ..DeliverSm::default()
    };
    let r = DeliveryReceipt::from_deliver_sm(&pdu);
    assert_eq!(r.message_id.as_deref(), Some("77"));
    assert_eq!(r.state, Some(Delivered));
}

#[test]
fn receipt_in_data_sm() {
    let pdu = DataSm {
        esm_class: crate::pdu::consts::ESM_CLASS_DELIVERY_RECEIPT,
        tlvs: TlvList::new()
            .with(Tlv::receipted_message_id(&"00FF".into()))
            .with(Tlv::message_state(8)),
        ..DataSm::default()
    };
    let r = DeliveryReceipt::from_data_sm(&pdu);
    assert_eq!(r.message_id.as_deref(), Some("00FF"));
    assert_eq!(r.state, Some(Rejected));
    assert!(ids_match(
        "ff",
        r.message_id.as_deref().unwrap_or(""),
        MessageIdForm::Same
    ));
}
