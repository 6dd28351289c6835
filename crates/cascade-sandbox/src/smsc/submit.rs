//! `submit_sm` handling: the parts of one message are grouped, the message is recorded in
//! the store (which picks its scenario rule and schedules its receipts) once every part has
//! arrived, and each part is answered as the rule says — accepted with its own message id,
//! refused (`rejectWith`), or throttled first (`throttle`).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cascade_core::Channel;
use cascade_core::sandbox::{Rule, SendKind};
use cascade_core::sms::encoding::{decode_gsm7, decode_ucs2};
use cascade_smpp::driver::ConnId;
use cascade_smpp::pdu::SubmitSm;
use cascade_smpp::pdu::consts::ESM_CLASS_UDHI;
use cascade_smpp::{CommandStatus, vendor_tlv};
use cascade_store::SandboxSend;
use serde_json::json;

use super::receipt::remember;
use super::{PROVIDER_PREFIX, SimState, lock};

/// Parts of a concatenated message are grouped for this long after the first one.
const GROUP_LIFETIME: Duration = Duration::from_secs(600);
/// How often the group and address tables are swept.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

type SharedGroup = Arc<tokio::sync::Mutex<Group>>;

/// The messages being received, by grouping key.
#[derive(Debug)]
pub(super) struct Groups {
    groups: HashMap<u64, (Instant, SharedGroup)>,
    pruned: Instant,
}

impl Groups {
    pub(super) fn new(now: Instant) -> Self {
        Groups {
            groups: HashMap::new(),
            pruned: now,
        }
    }

    /// The group of `key`, created by `make` when there is none; true when created.
    fn get_or_create(&mut self, key: u64, make: impl FnOnce() -> Group) -> (SharedGroup, bool) {
        let mut created = false;
        let entry = self.groups.entry(key).or_insert_with(|| {
            created = true;
            (Instant::now(), Arc::new(tokio::sync::Mutex::new(make())))
        });
        (Arc::clone(&entry.1), created)
    }

    /// Forget messages some of whose parts never came; true when it is time to sweep the
    /// other tables too.
    fn prune(&mut self, now: Instant) -> bool {
        if now.duration_since(self.pruned) < PRUNE_EVERY {
            return false;
        }
        self.pruned = now;
        self.groups
            .retain(|_, (created, _)| now.duration_since(*created) < GROUP_LIFETIME);
        true
    }

    /// A new group for `key` in place of the one there (which its parts still hold).
    fn replace(&mut self, key: u64, group: Group) -> SharedGroup {
        let shared = Arc::new(tokio::sync::Mutex::new(group));
        self.groups
            .insert(key, (Instant::now(), Arc::clone(&shared)));
        shared
    }

    /// Forget `group`, if it is still the one of `key` (a newer group may have taken it).
    fn remove(&mut self, key: u64, group: &SharedGroup) {
        if self
            .groups
            .get(&key)
            .is_some_and(|(_, g)| Arc::ptr_eq(g, group))
        {
            self.groups.remove(&key);
        }
    }
}

/// One message (all its parts) as the simulator grouped it. Parts are answered as they
/// come, each with its own id; the send is recorded, and its receipts scheduled, once
/// every part has arrived (so the record shows the whole text).
#[derive(Debug)]
struct Group {
    client_ref: String,
    ids: Vec<String>,
    texts: Vec<Option<String>>,
    /// The send is in the store (by us, or by an earlier life of the simulator).
    recorded: bool,
    /// No copy of this message can be in the store: every part so far came from an ESME
    /// that named it and said it never sent it before, or from one that did not name it
    /// (its message is named here, anew). The store then need not look for a copy.
    first_attempt: bool,
    /// The scenario rule applied when it was recorded.
    rule: Option<Rule>,
    /// Throttled answers given, per part.
    throttled: HashMap<u8, u32>,
    /// Parts answered for good (accepted or refused): once all are, the group goes.
    answered: HashSet<u8>,
}

impl Group {
    /// Whether `part` belongs to this message when its ESME is not Cascade's sandbox
    /// bind (whose client reference names the message). A part of a concatenated
    /// message always does: its reference names the message, and an ESME may send the
    /// whole message again after one part was throttled. A single part does unless it
    /// was answered: then the copy is another message with the same content (a copy
    /// arriving while the first is in flight waits for this group's lock and finds it
    /// answered), while a part coming again after a throttled answer or a store error
    /// rejoins its message.
    fn takes(&self, part: &Part) -> bool {
        part.total > 1 || !self.answered.contains(&part.number)
    }
}

/// What one `submit_sm` says about the message it belongs to.
#[derive(Debug)]
struct Part {
    /// Cascade's message id, when Cascade's own ESME sent it (vendor TLV).
    client_ref: Option<String>,
    /// Cascade's ESME said it never handed this message over before (vendor TLV); always
    /// so for a message no ESME named.
    first_attempt: bool,
    /// Which group it belongs to.
    key: u64,
    total: u8,
    /// 1-based.
    number: u8,
    source: Bytes,
    destination: Bytes,
    text: String,
}

impl Part {
    fn of(submit: &SubmitSm, system_id: &str) -> Part {
        let (reference, total, number) = concatenation(submit).unwrap_or((0, 1, 1));
        let (total, number) = (total.max(1), number.clamp(1, total.max(1)));
        let source = submit.source_addr.clone().into_bytes();
        let destination = submit.destination_addr.clone().into_bytes();
        let client_ref = vendor_tlv::read_text(&submit.tlvs, vendor_tlv::CLIENT_REF);
        let first_attempt =
            client_ref.is_none() || vendor_tlv::read_flag(&submit.tlvs, vendor_tlv::FIRST_ATTEMPT);
        // Cascade's own ESME names its message (idempotent resends); any other ESME's
        // message is grouped by sender, addresses and reference (a single part by content,
        // so that a throttled resend finds its group again).
        let key = {
            let mut h = DefaultHasher::new();
            match &client_ref {
                Some(r) => r.hash(&mut h),
                None => {
                    (system_id, &source, &destination, reference, total).hash(&mut h);
                    if total == 1 {
                        submit.short_message.hash(&mut h);
                        submit.tlvs.message_payload().hash(&mut h);
                    }
                }
            }
            h.finish()
        };
        Part {
            client_ref,
            first_attempt,
            key,
            total,
            number,
            source,
            destination,
            text: decode_text(submit),
        }
    }

    fn index(&self) -> usize {
        usize::from(self.number) - 1
    }

    fn new_group(&self) -> Group {
        Group {
            client_ref: self
                .client_ref
                .clone()
                .unwrap_or_else(|| format!("smpp-{}", uuid::Uuid::now_v7().simple())),
            ids: (0..self.total).map(|_| new_message_id()).collect(),
            texts: vec![None; usize::from(self.total)],
            recorded: false,
            first_attempt: self.first_attempt,
            rule: None,
            throttled: HashMap::new(),
            answered: HashSet::new(),
        }
    }
}

/// One `submit_sm`, from arrival to its `submit_sm_resp`.
pub(super) async fn handle_submit(state: Arc<SimState>, conn: ConnId, seq: u32, submit: SubmitSm) {
    let Some(system_id) = lock(&state.systems).get(&conn).cloned() else {
        return;
    };
    let part = Part::of(&submit, &system_id);
    let (mut shared, created) = {
        let mut groups = lock(&state.groups);
        if groups.prune(Instant::now()) {
            super::receipt::prune_originals(&state);
        }
        groups.get_or_create(part.key, || part.new_group())
    };
    // Another ESME's single parts are grouped by content: a copy of one already
    // answered is a message of its own, with a group (and an id) of its own.
    let mut group = loop {
        let group = Arc::clone(&shared).lock_owned().await;
        if part.client_ref.is_some() || group.takes(&part) {
            break group;
        }
        // (Never Cascade's own bind: `created` below only matters for that.)
        drop(group);
        shared = lock(&state.groups).replace(part.key, part.new_group());
    };
    group.first_attempt &= part.first_attempt;
    // A resend after Cascade restarted, of a message sent before: its parts must get the
    // ids they had. (A single part is recorded at once, and the store's own check of the
    // client reference gives back the old id then.)
    if created
        && part.client_ref.is_some()
        && !part.first_attempt
        && part.total > 1
        && let Err(e) = recover_ids(&state, &mut group).await
    {
        store_failed(&state, conn, seq, "look a message up", &e).await;
        return;
    }
    if let Some(slot) = group.texts.get_mut(part.index()) {
        *slot = Some(part.text.clone());
    }
    // Known before the receipt can fall due: a receipt carries the message's addresses.
    if let Some(id) = group.ids.get(part.index()) {
        remember(&state, id, &part.source, &part.destination, &part.text);
    }
    if !group.recorded
        && group.texts.iter().all(Option::is_some)
        && let Err(e) = record(&state, &mut group, &submit, &system_id, &part).await
    {
        store_failed(&state, conn, seq, "record a message", &e).await;
        return;
    }
    answer(&state, &shared, group, &part, conn, seq).await;
}

/// The store failed the simulator: the ESME gets `ESME_RSYSERR` (a system error, which
/// Cascade's connector tries again later) and sends again.
async fn store_failed(
    state: &SimState,
    conn: ConnId,
    seq: u32,
    doing: &str,
    error: &cascade_store::StoreError,
) {
    tracing::warn!(%error, "sandbox SMSC could not {doing}; answering ESME_RSYSERR");
    let _ = state
        .server
        .reject(conn, seq, CommandStatus::ESME_RSYSERR)
        .await;
}

/// The ids an earlier life of the simulator gave this message, if it recorded it.
async fn recover_ids(state: &SimState, group: &mut Group) -> Result<(), cascade_store::StoreError> {
    if let Some(ids) = state.store.sandbox_provider_ids(&group.client_ref).await?
        && ids.len() == group.ids.len()
    {
        group.ids = ids;
        group.recorded = true;
    }
    Ok(())
}

/// Every part has arrived: record the message, which picks its rule and schedules its
/// receipts.
async fn record(
    state: &SimState,
    group: &mut Group,
    submit: &SubmitSm,
    system_id: &str,
    part: &Part,
) -> Result<(), cascade_store::StoreError> {
    let parts: Vec<String> = group.texts.iter().flatten().cloned().collect();
    let coding = submit.data_coding;
    let send = SandboxSend {
        first_attempt: group.first_attempt,
        provider: format!("{PROVIDER_PREFIX}{system_id}"),
        channel: Channel::Sms,
        client_ref: group.client_ref.clone(),
        to: format!("+{}", String::from_utf8_lossy(&part.destination)),
        payload: json!({
            "from": String::from_utf8_lossy(&part.source),
            "parts": parts,
            "encoding": if coding & 0x0C == 0x08 { "Ucs2" } else { "Gsm7" },
            "flash": coding & 0xF3 == 0x10 || coding & 0xF3 == 0xF0,
            "dataCoding": coding,
            "systemId": system_id,
        }),
        provider_ids: group.ids.clone(),
        // registered_delivery 0: the ESME asked for no receipt (bits 0-1, SMPP 3.4 §5.2.17).
        kind: SendKind::SmscMessage {
            wants_receipt: submit.registered_delivery & 0x03 != 0,
        },
    };
    let outcome = state.store.sandbox_send(send, state.clock.now()).await?;
    if outcome.duplicate && outcome.provider_ids.len() == group.ids.len() {
        group.ids = outcome.provider_ids;
    }
    group.recorded = true;
    group.rule = outcome.scenario.as_ref().map(Rule::from_scenario);
    state.wake_reporter.notify_one();
    Ok(())
}

/// Answer one part as the message's rule says.
async fn answer(
    state: &SimState,
    shared: &SharedGroup,
    mut group: tokio::sync::OwnedMutexGuard<Group>,
    part: &Part,
    conn: ConnId,
    seq: u32,
) {
    let rule = group.rule.clone().unwrap_or_default();
    if let Some(status) = rule.reject_with {
        finish_part(state, shared, &mut group, part);
        let _ = state.server.reject(conn, seq, CommandStatus(status)).await;
        return;
    }
    if let Some(limit) = rule.throttle {
        let given = group.throttled.entry(part.number).or_insert(0);
        if *given < limit {
            *given += 1;
            let _ = state
                .server
                .reject(conn, seq, CommandStatus::ESME_RTHROTTLED)
                .await;
            return;
        }
    }
    let Some(message_id) = group.ids.get(part.index()).cloned() else {
        let _ = state
            .server
            .reject(conn, seq, CommandStatus::ESME_RSUBMITFAIL)
            .await;
        return;
    };
    finish_part(state, shared, &mut group, part);
    drop(group);
    if !lock(&state.originals).contains_key(&message_id) {
        remember(
            state,
            &message_id,
            &part.source,
            &part.destination,
            &part.text,
        );
    }
    if let Err(e) = state.server.accept(conn, seq, message_id).await {
        tracing::debug!(error = %e, "sandbox SMSC: the ESME left before its answer");
    }
}

/// Marks the part answered for good; the group is forgotten once every part is (a resend
/// from Cascade is still recognised, by its message id in the store).
fn finish_part(state: &SimState, shared: &SharedGroup, group: &mut Group, part: &Part) {
    group.answered.insert(part.number);
    if group.answered.len() >= usize::from(part.total) && group.recorded {
        lock(&state.groups).remove(part.key, shared);
    }
}

/// A message id as this SMSC hands them out: upper-case hex without leading zeros.
fn new_message_id() -> String {
    format!("{:X}", uuid::Uuid::now_v7().as_u128())
}

/// Where a `submit_sm` sits in its message: (reference, total, this part's number).
fn concatenation(submit: &SubmitSm) -> Option<(u16, u8, u8)> {
    if let (Some(r), Some(t), Some(s)) = (
        submit.tlvs.sar_msg_ref_num(),
        submit.tlvs.sar_total_segments(),
        submit.tlvs.sar_segment_seqnum(),
    ) {
        return Some((r, t, s));
    }
    if submit.esm_class & ESM_CLASS_UDHI == 0 {
        return None;
    }
    let (udh, _) = split_udh(&submit.short_message);
    let mut ies = udh.get(1..)?;
    while let [iei, len, rest @ ..] = ies {
        let len = usize::from(*len);
        let data = rest.get(..len)?;
        match (iei, data) {
            (0x00, [r, t, s]) => return Some((u16::from(*r), *t, *s)),
            (0x08, [r1, r2, t, s]) => return Some((u16::from_be_bytes([*r1, *r2]), *t, *s)),
            _ => {}
        }
        ies = rest.get(len..)?;
    }
    None
}

/// (UDH including its length octet, the rest); an empty UDH when there is none.
fn split_udh(message: &[u8]) -> (&[u8], &[u8]) {
    match message.first() {
        Some(&udhl) if message.len() > usize::from(udhl) => message.split_at(usize::from(udhl) + 1),
        _ => (&[], message),
    }
}

fn decode_text(submit: &SubmitSm) -> String {
    let body: &[u8] = match submit.tlvs.message_payload() {
        Some(payload) => payload,
        None if submit.esm_class & ESM_CLASS_UDHI != 0 => split_udh(&submit.short_message).1,
        None => &submit.short_message,
    };
    match submit.data_coding & 0x0F {
        0x08 => decode_ucs2(body).unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned()),
        0x00 | 0x01 => {
            decode_gsm7(body).unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_smpp::{Tlv, TlvList};

    fn submit(message: &[u8], esm_class: u8, tlvs: TlvList) -> SubmitSm {
        SubmitSm {
            esm_class,
            short_message: Bytes::copy_from_slice(message),
            tlvs,
            ..SubmitSm::default()
        }
    }

    #[test]
    fn finds_the_part_of_a_concatenated_message() {
        assert_eq!(
            concatenation(&submit(
                b"\x05\x00\x03\x2a\x03\x02abc",
                0x40,
                TlvList::new()
            )),
            Some((0x2a, 3, 2))
        );
        assert_eq!(
            concatenation(&submit(
                b"\x06\x08\x04\x01\x02\x02\x01abc",
                0x40,
                TlvList::new()
            )),
            Some((0x0102, 2, 1))
        );
        let sar = TlvList::new()
            .with(Tlv::sar_msg_ref_num(7))
            .with(Tlv::sar_total_segments(4))
            .with(Tlv::sar_segment_seqnum(4));
        assert_eq!(concatenation(&submit(b"abc", 0, sar)), Some((7, 4, 4)));
        // No UDHI bit: the bytes are text, whatever they look like.
        assert_eq!(
            concatenation(&submit(b"\x05\x00\x03\x2a\x03\x02abc", 0, TlvList::new())),
            None
        );
        // A truncated header is not a part.
        assert_eq!(
            concatenation(&submit(b"\x05\x00\x03", 0x40, TlvList::new())),
            None
        );
    }

    #[test]
    fn only_a_named_message_without_the_first_attempt_flag_is_looked_for_in_the_store() {
        let named = |flag: Option<Tlv>| {
            let mut tlvs = TlvList::new().with(vendor_tlv::text(vendor_tlv::CLIENT_REF, "m-1"));
            if let Some(flag) = flag {
                tlvs.push(flag);
            }
            Part::of(&submit(b"Hi", 0, tlvs), "cascade")
        };
        // Cascade's first try: no copy can be in the store.
        let first = named(Some(vendor_tlv::flag(vendor_tlv::FIRST_ATTEMPT)));
        assert!(first.first_attempt && first.new_group().first_attempt);
        // A retry, a job taken over after a restart, or an ESME that does not say.
        assert!(!named(None).first_attempt);
        assert!(!named(Some(Tlv::new(vendor_tlv::FIRST_ATTEMPT, vec![0]))).first_attempt);
        // Another ESME's message is named here, anew: nothing to look for.
        let unnamed = Part::of(&submit(b"Hi", 0, TlvList::new()), "other");
        assert!(unnamed.client_ref.is_none() && unnamed.first_attempt);
        assert!(unnamed.new_group().client_ref.starts_with("smpp-"));
    }

    #[test]
    fn decodes_what_the_handset_would_show() {
        let mut s = submit(b"\x05\x00\x03\x01\x02\x01Hi \x1b\x65", 0x40, TlvList::new());
        assert_eq!(decode_text(&s), "Hi €");
        s.data_coding = 8;
        s.esm_class = 0;
        s.short_message = Bytes::from_static(&[0x03, 0x93, 0x03, 0xB5]);
        assert_eq!(decode_text(&s), "Γε");
    }
}
