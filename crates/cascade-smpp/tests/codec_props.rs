//! Property tests: every PDU type round-trips through encode → decode with arbitrary valid
//! field values, streams split anywhere decode the same, and `decode` never panics.
//!
//! Case counts follow proptest's defaults (256, or `PROPTEST_CASES`): the soak run behind
//! the fuzz note raises them, e.g. `PROPTEST_CASES=2000000 cargo test --release -p
//! cascade-smpp --test codec_props`.

include!("support/decode_harness.rs");

use bytes::{Bytes, BytesMut};
use cascade_smpp::pdu::{
    AlertNotification, Bind, BindResp, DataSm, DataSmResp, DeliverSm, DeliverSmResp, Outbind,
    SubmitSm, SubmitSmResp, Tlv, TlvList, max,
};
use cascade_smpp::{COctetString, CommandId, CommandStatus, Pdu, PduBody, decode, encode};
use proptest::prelude::*;

/// A C-octet string that fits a field of size `max` (NUL included): no NUL inside.
fn c_string(max: usize) -> impl Strategy<Value = COctetString> {
    prop::collection::vec(1u8..=255, 0..max).prop_map(COctetString::from)
}

/// Empty, or 16 characters like `250103141530000+`.
fn time() -> impl Strategy<Value = COctetString> {
    prop_oneof![
        Just(COctetString::new()),
        "[0-9]{12}[0-9][0-4][0-9][+\\-R]".prop_map(COctetString::from),
    ]
}

fn tlvs() -> impl Strategy<Value = TlvList> {
    prop::collection::vec(
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(tag, v)| Tlv::new(tag, v)),
        0..4,
    )
    .prop_map(TlvList::from)
}

fn short_message() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max::SHORT_MESSAGE).prop_map(Bytes::from)
}

fn bind() -> impl Strategy<Value = Bind> {
    (
        c_string(max::SYSTEM_ID),
        c_string(max::PASSWORD),
        c_string(max::SYSTEM_TYPE),
        any::<[u8; 3]>(),
        c_string(max::ADDRESS_RANGE),
    )
        .prop_map(
            |(system_id, password, system_type, [v, ton, npi], address_range)| Bind {
                system_id,
                password,
                system_type,
                interface_version: v,
                addr_ton: ton,
                addr_npi: npi,
                address_range,
            },
        )
}

fn bind_resp() -> impl Strategy<Value = BindResp> {
    (c_string(max::SYSTEM_ID), tlvs()).prop_map(|(system_id, tlvs)| BindResp { system_id, tlvs })
}

/// The shared submit_sm/deliver_sm layout, as a tuple mapped into either type.
macro_rules! sm_strategy {
    ($name:ident, $ty:ident) => {
        fn $name() -> impl Strategy<Value = $ty> {
            (
                (
                    c_string(max::SERVICE_TYPE),
                    any::<[u8; 4]>(),
                    c_string(max::SM_ADDR),
                    c_string(max::SM_ADDR),
                ),
                (any::<[u8; 3]>(), time(), time(), any::<[u8; 4]>()),
                (short_message(), tlvs()),
            )
                .prop_map(
                    |((service_type, a, src, dst), (b, sched, validity, c), (sm, tlvs))| $ty {
                        service_type,
                        source_addr_ton: a[0],
                        source_addr_npi: a[1],
                        source_addr: src,
                        dest_addr_ton: a[2],
                        dest_addr_npi: a[3],
                        destination_addr: dst,
                        esm_class: b[0],
                        protocol_id: b[1],
                        priority_flag: b[2],
                        schedule_delivery_time: sched,
                        validity_period: validity,
                        registered_delivery: c[0],
                        replace_if_present_flag: c[1],
                        data_coding: c[2],
                        sm_default_msg_id: c[3],
                        short_message: sm,
                        tlvs,
                    },
                )
        }
    };
}
sm_strategy!(submit_sm, SubmitSm);
sm_strategy!(deliver_sm, DeliverSm);

fn data_sm() -> impl Strategy<Value = DataSm> {
    (
        c_string(max::SERVICE_TYPE),
        any::<[u8; 7]>(),
        c_string(max::DATA_SM_ADDR),
        c_string(max::DATA_SM_ADDR),
        tlvs(),
    )
        .prop_map(
            |(service_type, b, source_addr, destination_addr, tlvs)| DataSm {
                service_type,
                source_addr_ton: b[0],
                source_addr_npi: b[1],
                source_addr,
                dest_addr_ton: b[2],
                dest_addr_npi: b[3],
                destination_addr,
                esm_class: b[4],
                registered_delivery: b[5],
                data_coding: b[6],
                tlvs,
            },
        )
}

fn alert() -> impl Strategy<Value = AlertNotification> {
    (
        any::<[u8; 4]>(),
        c_string(max::DATA_SM_ADDR),
        c_string(max::DATA_SM_ADDR),
        tlvs(),
    )
        .prop_map(|(b, source_addr, esme_addr, tlvs)| AlertNotification {
            source_addr_ton: b[0],
            source_addr_npi: b[1],
            source_addr,
            esme_addr_ton: b[2],
            esme_addr_npi: b[3],
            esme_addr,
            tlvs,
        })
}

fn message_id_and_tlvs() -> impl Strategy<Value = (COctetString, TlvList)> {
    (c_string(max::MESSAGE_ID), tlvs())
}

/// Command ids this crate does not model.
fn unknown_command_id() -> impl Strategy<Value = CommandId> {
    any::<u32>()
        .prop_map(CommandId)
        .prop_filter("unmodelled id", |id| {
            !matches!(
                *id,
                CommandId::GENERIC_NACK
                    | CommandId::BIND_RECEIVER
                    | CommandId::BIND_RECEIVER_RESP
                    | CommandId::BIND_TRANSMITTER
                    | CommandId::BIND_TRANSMITTER_RESP
                    | CommandId::BIND_TRANSCEIVER
                    | CommandId::BIND_TRANSCEIVER_RESP
                    | CommandId::SUBMIT_SM
                    | CommandId::SUBMIT_SM_RESP
                    | CommandId::DELIVER_SM
                    | CommandId::DELIVER_SM_RESP
                    | CommandId::UNBIND
                    | CommandId::UNBIND_RESP
                    | CommandId::OUTBIND
                    | CommandId::ENQUIRE_LINK
                    | CommandId::ENQUIRE_LINK_RESP
                    | CommandId::ALERT_NOTIFICATION
                    | CommandId::DATA_SM
                    | CommandId::DATA_SM_RESP
            )
        })
}

fn body() -> impl Strategy<Value = PduBody> {
    prop_oneof![
        bind().prop_map(PduBody::BindTransmitter),
        bind().prop_map(PduBody::BindReceiver),
        bind().prop_map(PduBody::BindTransceiver),
        bind_resp().prop_map(PduBody::BindTransmitterResp),
        bind_resp().prop_map(PduBody::BindReceiverResp),
        bind_resp().prop_map(PduBody::BindTransceiverResp),
        (c_string(max::SYSTEM_ID), c_string(max::PASSWORD)).prop_map(|(system_id, password)| {
            PduBody::Outbind(Outbind {
                system_id,
                password,
            })
        }),
        Just(PduBody::Unbind),
        Just(PduBody::UnbindResp),
        Just(PduBody::EnquireLink),
        Just(PduBody::EnquireLinkResp),
        Just(PduBody::GenericNack),
        submit_sm().prop_map(PduBody::SubmitSm),
        message_id_and_tlvs().prop_map(|(message_id, tlvs)| PduBody::SubmitSmResp(SubmitSmResp {
            message_id,
            tlvs
        })),
        deliver_sm().prop_map(PduBody::DeliverSm),
        message_id_and_tlvs().prop_map(|(message_id, tlvs)| PduBody::DeliverSmResp(
            DeliverSmResp { message_id, tlvs }
        )),
        data_sm().prop_map(PduBody::DataSm),
        message_id_and_tlvs()
            .prop_map(|(message_id, tlvs)| PduBody::DataSmResp(DataSmResp { message_id, tlvs })),
        alert().prop_map(PduBody::AlertNotification),
        (
            unknown_command_id(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(command_id, body)| PduBody::Unknown {
                command_id,
                body: Bytes::from(body)
            }),
    ]
}

fn status() -> impl Strategy<Value = CommandStatus> {
    prop_oneof![
        3 => Just(CommandStatus::ESME_ROK),
        1 => Just(CommandStatus::ESME_RTHROTTLED),
        1 => any::<u32>().prop_map(CommandStatus),
    ]
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (status(), 1u32..=0x7FFF_FFFF, body()).prop_map(|(command_status, sequence_number, body)| Pdu {
        command_status,
        sequence_number,
        body,
    })
}

/// Known command ids, to aim random bodies at the real decoders.
const KNOWN_IDS: [u32; 19] = [
    0x8000_0000,
    0x1,
    0x8000_0001,
    0x2,
    0x8000_0002,
    0x9,
    0x8000_0009,
    0x4,
    0x8000_0004,
    0x5,
    0x8000_0005,
    0x6,
    0x8000_0006,
    0xB,
    0x15,
    0x8000_0015,
    0x102,
    0x103,
    0x8000_0103,
];

/// A well-framed PDU with a known command id and a random body.
fn framed_garbage() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(&KNOWN_IDS[..]),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(id, status, seq, body)| {
            let len = u32::try_from(16 + body.len()).expect("small");
            let mut v = Vec::with_capacity(16 + body.len());
            for word in [len, id, status, seq] {
                v.extend_from_slice(&word.to_be_bytes());
            }
            v.extend_from_slice(&body);
            v
        })
}

proptest! {
    #[test]
    fn every_pdu_round_trips(pdu in pdu()) {
        let mut buf = BytesMut::new();
        encode(&pdu, &mut buf).expect("valid PDU encodes");
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        prop_assert_eq!(len as usize, buf.len());
        prop_assert_eq!(decode(&mut buf, usize::MAX), Ok(Some(pdu)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn streams_split_anywhere_decode_the_same(
        pdus in prop::collection::vec(pdu(), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = BytesMut::new();
        for pdu in &pdus {
            encode(pdu, &mut wire).expect("valid PDU encodes");
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut from = 0;
        for to in points {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            while let Some(pdu) = decode(&mut buf, usize::MAX).expect("valid stream") {
                got.push(pdu);
            }
        }
        prop_assert_eq!(got, pdus);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn decode_never_panics_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        check_decode(&data);
    }

    #[test]
    fn decode_never_panics_on_framed_garbage(frames in prop::collection::vec(framed_garbage(), 1..4)) {
        let data: Vec<u8> = frames.concat();
        check_decode(&data);
    }

    #[test]
    fn decode_never_panics_on_mutated_valid_pdus(
        pdu in pdu(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut wire = BytesMut::new();
        encode(&pdu, &mut wire).expect("valid PDU encodes");
        let mut data = wire.to_vec();
        // Keep the length word so the body decoders are reached.
        for (at, byte) in flips {
            if data.len() > 4 {
                let i = 4 + at.index(data.len() - 4);
                data[i] = byte;
            }
        }
        check_decode(&data);
    }
}

#[test]
fn harness_counts_pdus() {
    let mut wire = BytesMut::new();
    encode(&Pdu::enquire_link(1), &mut wire).expect("valid");
    encode(&Pdu::enquire_link(2), &mut wire).expect("valid");
    assert_eq!(check_decode(&wire), 2);
    assert_eq!(check_decode(b"\x00\x00\x00\x10"), 0);
    assert_eq!(HARNESS_MAX_LEN, 65_536);
}
