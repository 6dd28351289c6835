//! Flows, the engine's writes, jobs, reports and timers.

use cascade_core::machines::{Event, FlowStatus, Report, TimelineKind, TimerKind};
use cascade_core::{Channel, FlowId, StatusKind};
use cascade_store::{ReportOutcome, StoreError, StoredFlow};

use crate::support::*;

const LEASE_MS: i64 = 60_000;

/// Accept `body` at `at(0)` and hand its first job to a provider answering `ids`.
async fn sent(f: &Fixture, body: serde_json::Value, ids: &[&str]) -> FlowId {
    let def = f.flow(body, at(0));
    let id = def.tracking_id;
    let applied = f.store.accept_flow(def, at(0)).await.unwrap();
    let job = applied.jobs.into_iter().next().expect("a job");
    f.store
        .job_submitted(
            &job,
            "prov",
            ids.iter().map(|s| (*s).to_owned()).collect(),
            at(10),
        )
        .await
        .unwrap();
    id
}

pub async fn accepting_stores_the_flow_and_leases_its_first_job(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    let id = def.tracking_id;
    let applied = f.store.accept_flow(def.clone(), at(0)).await.unwrap();
    assert_eq!(applied.status, Some(FlowStatus::Queued));
    assert_eq!(applied.jobs.len(), 1);
    assert_eq!(
        applied.changes.accepted,
        [Channel::Sms],
        "counted as accepted once"
    );
    assert!(applied.changes.finished.is_empty() && applied.changes.failovers.is_empty());
    let job = &applied.jobs[0];
    assert_eq!((job.flow_id, job.order, job.attempts), (id, 1, 0));
    assert_eq!(job.payload.step, def.steps[0]);
    let stored = f.stored(id).await;
    assert_eq!(stored.definition, def);
    assert_eq!(stored.state.steps.len(), 1, "the first step started");
    assert_eq!(f.store.count_flows().await.unwrap(), 1);
    assert!(
        f.store
            .claim_jobs(at(1), LEASE_MS, 10)
            .await
            .unwrap()
            .is_empty(),
        "the new job is leased to the caller that accepted the flow"
    );
    let account = f.store.account(&f.account).await.unwrap().unwrap();
    assert_eq!(
        account.balance.get(),
        100_000_000 - def.steps[0].unit_price.get(),
        "the SMS was paid for when its step started"
    );
}

pub async fn a_flow_belongs_to_its_account_only(f: &Fixture) {
    let other = new_account(&*f.store, "acc-2").await;
    let def = f.flow(sms(10), at(0));
    let id = def.tracking_id;
    f.store.accept_flow(def, at(0)).await.unwrap();
    assert!(f.store.flow(&other, id).await.unwrap().is_none());
    assert!(f.store.timeline(&other, id).await.unwrap().is_none());
    assert!(f.store.flow(&f.account, id).await.unwrap().is_some());
    assert!(
        f.store
            .flow(&f.account, FlowId::new_v7(1))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn events_apply_and_the_timeline_grows(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    let id = def.tracking_id;
    f.store.accept_flow(def, at(0)).await.unwrap();
    let before = f
        .store
        .timeline(&f.account, id)
        .await
        .unwrap()
        .unwrap()
        .len();
    let applied = f
        .store
        .apply(
            id,
            Event::InternalError {
                order: 1,
                detail: "test".into(),
            },
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(applied.status, Some(FlowStatus::Failed));
    let timeline = f.store.timeline(&f.account, id).await.unwrap().unwrap();
    assert!(timeline.len() > before);
    assert_eq!(
        timeline.last().unwrap().kind,
        TimelineKind::FlowCompleted,
        "{timeline:#?}"
    );
    let kinds: Vec<_> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds[0], TimelineKind::Accepted, "oldest first");
    let err = f
        .store
        .apply(FlowId::new_v7(1), Event::Start, at(5))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub async fn a_report_before_its_id_is_held_then_applied(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    let id = def.tracking_id;
    let applied = f.store.accept_flow(def, at(0)).await.unwrap();
    let early = f
        .store
        .apply_report(
            "prov",
            &["p-1".into()],
            Report::status(StatusKind::Delivered, at(5)),
            at(5),
        )
        .await
        .unwrap();
    assert!(matches!(early, ReportOutcome::Held));
    let job = applied.jobs.into_iter().next().unwrap();
    let submitted = f
        .store
        .job_submitted(&job, "prov", vec!["p-1".into()], at(10))
        .await
        .unwrap();
    assert_eq!(
        submitted.status,
        Some(FlowStatus::Succeeded),
        "the held report was applied with the submission"
    );
    let StoredFlow { state, .. } = f.stored(id).await;
    assert_eq!(state.steps[0].messages[0].status, StatusKind::Delivered);
    // Held once, applied once: a later copy of it is a duplicate, not a second hold.
    let again = f
        .store
        .apply_report(
            "prov",
            &["p-1".into()],
            Report::status(StatusKind::Delivered, at(20)),
            at(20),
        )
        .await
        .unwrap();
    assert!(matches!(again, ReportOutcome::Applied(_)));
}

pub async fn a_report_matches_any_form_of_its_id(f: &Fixture) {
    let id = sent(f, sms(10), &["00ab"]).await;
    // An SMSC printing the receipt's id another way: the candidates name both forms.
    let outcome = f
        .store
        .apply_report(
            "prov",
            &["171".into(), "00ab".into()],
            Report::status(StatusKind::Undelivered, at(30)),
            at(30),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, ReportOutcome::Applied(_)));
    assert_eq!(
        f.stored(id).await.state.steps[0].messages[0].status,
        StatusKind::Undelivered
    );
    // Reports are matched per provider: the same id under another name is not this one.
    let other = f
        .store
        .apply_report(
            "other",
            &["00ab".into()],
            Report::status(StatusKind::Delivered, at(31)),
            at(31),
        )
        .await
        .unwrap();
    assert!(matches!(other, ReportOutcome::Held));
}

pub async fn timers_fire_when_due_and_not_before(f: &Fixture) {
    assert_eq!(f.store.next_timer_due().await.unwrap(), None);
    let id = sent(f, sms_then_voice(), &["p-1"]).await;
    // The SMS's TTL (1 minute) runs from its submission at +10 ms.
    let due = at(10 + 60_000);
    assert_eq!(f.store.next_timer_due().await.unwrap(), Some(due));
    let early = f.store.fire_due_timers(at(60_009), 10).await.unwrap();
    assert_eq!(early.fired, 0);
    let fired = f
        .store
        .fire_due_timers(due.plus_millis(7), 10)
        .await
        .unwrap();
    assert_eq!(fired.fired, 1);
    assert_eq!(fired.lags_ms, [7], "how late it fired");
    assert_eq!(
        fired.applied.changes.failovers,
        [(Channel::Sms, Channel::Voice)],
        "the expiry failed over from SMS to Voice"
    );
    assert_eq!(fired.applied.changes.steps_ended.len(), 1);
    assert_eq!(
        fired.applied.changes.steps_ended[0].1,
        StatusKind::Undelivered
    );
    assert_eq!(
        fired.applied.jobs.len(),
        1,
        "the expiry failed over: the call's job comes with it"
    );
    let state = f.stored(id).await.state;
    assert_eq!(state.steps.len(), 2);
    assert_eq!(state.steps[0].messages[0].status, StatusKind::Undelivered);
    assert_eq!(
        f.store.fire_due_timers(due, 10).await.unwrap().fired,
        0,
        "a timer fires once"
    );
    let _ = TimerKind::Ttl;
}

pub async fn a_leased_job_is_claimed_only_after_its_lease(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    f.store.accept_flow(def, at(0)).await.unwrap();
    // The accepting caller's lease (5 minutes) must run out first.
    assert!(
        f.store
            .claim_jobs(at(299_000), LEASE_MS, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = f.store.claim_jobs(at(300_001), LEASE_MS, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].reclaimed);
    assert!(
        f.store
            .claim_jobs(at(300_002), LEASE_MS, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed by one caller at a time"
    );
    assert_eq!(
        f.store
            .claim_jobs(at(300_001 + LEASE_MS + 1), LEASE_MS, 10)
            .await
            .unwrap()
            .len(),
        1,
        "and again once that lease ran out"
    );
}

pub async fn a_retried_job_comes_back_when_due(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    let applied = f.store.accept_flow(def, at(0)).await.unwrap();
    let job = &applied.jobs[0];
    f.store.job_retry(job, at(2_000)).await.unwrap();
    assert!(
        f.store
            .claim_jobs(at(1_999), LEASE_MS, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = f.store.claim_jobs(at(2_000), LEASE_MS, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1, "the failed attempt is counted");
}

pub async fn a_finished_job_is_gone(f: &Fixture) {
    let def = f.flow(sms_then_voice(), at(0));
    let id = def.tracking_id;
    let applied = f.store.accept_flow(def, at(0)).await.unwrap();
    let job = &applied.jobs[0];
    let done = f
        .store
        .job_finished(
            job,
            Event::submit_failed(
                1,
                cascade_core::reasons::rejected_by_smsc("ESME_RINVDSTADR"),
            ),
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(done.jobs.len(), 1, "failed over to the call");
    assert_eq!(done.jobs[0].order, 2);
    let claimed = f
        .store
        .claim_jobs(at(10_000_000), LEASE_MS, 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.order).collect::<Vec<_>>(),
        [2],
        "the SMS job is gone; only the call's remains"
    );
    assert_eq!(f.stored(id).await.state.steps.len(), 2);
}

pub async fn imported_flows_read_back_and_refuse_taken_ids(f: &Fixture) {
    let def = f.flow(sms(10), at(0));
    let mut state = cascade_core::machines::FlowState::new(def.created_at);
    state.status = FlowStatus::Succeeded;
    let flow = StoredFlow {
        definition: def.clone(),
        state: state.clone(),
    };
    f.store.import_flows(vec![flow.clone()]).await.unwrap();
    let back = f.stored(def.tracking_id).await;
    assert_eq!((back.definition, back.state), (def.clone(), state));
    let err = f.store.import_flows(vec![flow]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        f.store.count_flows().await.unwrap(),
        1,
        "nothing imported twice"
    );
}

pub async fn provider_notes_land_in_the_timeline_and_change_nothing_else(f: &Fixture) {
    let id = sent(f, sms(10), &["p-9"]).await;
    let before = f.stored(id).await;
    f.store
        .note_attempt(
            id,
            1,
            "other-prov",
            "HTTP 503; trying the next provider",
            at(11),
        )
        .await
        .unwrap();
    assert!(
        f.store
            .note_provider_price("prov", "p-9", "-0.0130 USD", at(12))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .note_provider_price("prov", "unknown", "1 USD", at(12))
            .await
            .unwrap(),
        "no message carries the id"
    );
    let timeline = f.store.timeline(&f.account, id).await.unwrap().unwrap();
    let attempt = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::ProviderAttempt)
        .expect("the attempt");
    assert_eq!(attempt.provider.as_deref(), Some("other-prov"));
    assert_eq!(attempt.order, Some(1));
    assert_eq!(
        attempt.detail.as_deref(),
        Some("HTTP 503; trying the next provider")
    );
    let price = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::ProviderPrice)
        .expect("the price");
    assert_eq!(price.provider_price.as_deref(), Some("-0.0130 USD"));
    assert_eq!((price.order, price.part), (Some(1), Some(1)));
    let submitted = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Submitted)
        .expect("submitted");
    assert_eq!(
        submitted.provider.as_deref(),
        Some("prov"),
        "named on submission"
    );
    let after = f.stored(id).await;
    assert_eq!(after.state.steps, before.state.steps, "no state changed");
}

pub async fn a_call_is_claimed_once_per_step_and_provider(f: &Fixture) {
    let id = sent(f, sms(10), &["p-1"]).await;
    assert!(
        f.store.claim_dial(id, 1, "trunk", at(1)).await.unwrap(),
        "the first claim dials"
    );
    assert!(
        !f.store.claim_dial(id, 1, "trunk", at(2)).await.unwrap(),
        "placed before: never again"
    );
    assert!(
        f.store
            .claim_dial(id, 1, "backup-trunk", at(3))
            .await
            .unwrap(),
        "another provider (failover) dials once too"
    );
    assert!(
        f.store.claim_dial(id, 2, "trunk", at(4)).await.unwrap(),
        "another step"
    );
}

pub async fn calls_in_flight_are_listed_until_their_flow_ends(f: &Fixture) {
    let id = sent(f, sms(10), &["call-1"]).await;
    let other = sent(f, sms(10), &["call-2"]).await;
    assert!(
        f.store.dials_in_flight(true).await.unwrap().is_empty(),
        "nothing dialled yet"
    );
    assert!(f.store.claim_dial(id, 1, "prov", at(11)).await.unwrap());
    assert!(f.store.claim_dial(other, 1, "prov", at(11)).await.unwrap());
    // A dial claimed under another provider name than the submission: not this step's.
    assert!(
        f.store
            .claim_dial(id, 1, "elsewhere", at(11))
            .await
            .unwrap()
    );
    let mut listed = f.store.dials_in_flight(true).await.unwrap();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("prov".to_owned(), "call-1".to_owned()),
            ("prov".to_owned(), "call-2".to_owned())
        ]
    );
    f.store
        .apply_report(
            "prov",
            &["call-2".into()],
            Report::status(StatusKind::Delivered, at(20)),
            at(20),
        )
        .await
        .unwrap();
    assert_eq!(
        f.store.dials_in_flight(true).await.unwrap(),
        vec![("prov".to_owned(), "call-1".to_owned())],
        "a flow that ended is no longer in flight"
    );
}

/// A reply goes to the newest flow that sent its sender a message; a step whose
/// submission is under way (accepted, not yet recorded as sent) takes it only when no
/// sent step does, since the provider may pass a reply on before that record commits.
pub async fn a_reply_prefers_a_sent_step_to_one_still_being_submitted(f: &Fixture) {
    use cascade_core::inbound::InboundMessage;

    // The flow a reply from `from` is matched to, if any.
    let answered = |from: &str| {
        let message = InboundMessage {
            channel: Channel::Sms,
            from: from.to_owned(),
            to: "Cascade".to_owned(),
            text: "YES".to_owned(),
            received_at: at(30),
            provider: "prov".to_owned(),
            provider_message_id: None,
        };
        async move {
            let (record, _) = f.store.record_inbound(message, at(30)).await.unwrap();
            record.expect("recorded").matched.map(|m| m.flow)
        }
    };
    // Accepted and not yet handed to a provider: its step is being submitted.
    let queued = |to: &str| {
        let def = f.flow(sms_to(to, 10), at(20));
        let id = def.tracking_id;
        async move {
            f.store.accept_flow(def, at(20)).await.unwrap();
            id
        }
    };

    let older_sent = sent(f, sms_to("+306911111111", 10), &["p-a"]).await;
    queued("+306911111111").await;
    assert_eq!(
        answered("+306911111111").await,
        Some(older_sent),
        "the sent step, not the newer one queued"
    );
    let only_queued = queued("+306922222222").await;
    assert_eq!(
        answered("+306922222222").await,
        Some(only_queued),
        "no sent step: the one being submitted"
    );
    assert_eq!(answered("+306933333333").await, None, "nobody wrote to it");
}
