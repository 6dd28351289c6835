//! The sandbox providers' rules, sends and owed reports.

use cascade_core::sandbox::{NewScenario, SendKind};
use cascade_core::{Channel, StatusKind, Timestamp};
use cascade_store::SandboxSend;
use serde_json::json;

use crate::support::*;

fn rule(to: &str, events: serde_json::Value, times: Option<u32>) -> NewScenario {
    NewScenario {
        channel: Channel::Viber,
        to: to.into(),
        rule: json!({"events": events}),
        times,
    }
}

/// The reports due at `now`, as a reporter reads them.
async fn due(
    f: &Fixture,
    prefix: &str,
    now: Timestamp,
    limit: u32,
    skip: &[i64],
) -> Vec<cascade_store::SandboxReport> {
    f.store
        .due_sandbox_reports(prefix, now, limit, skip)
        .await
        .unwrap()
}

fn send(client_ref: &str, to: &str) -> SandboxSend {
    SandboxSend {
        first_attempt: false,
        provider: "sandbox-viber".into(),
        channel: Channel::Viber,
        client_ref: client_ref.into(),
        to: to.into(),
        payload: json!({"text": "hi"}),
        provider_ids: vec![format!("pid-{client_ref}")],
        kind: SendKind::Step {
            channel: Channel::Viber,
            hang_up_on_machine: false,
        },
    }
}

pub async fn the_newest_matching_rule_with_sends_left_is_chosen(f: &Fixture) {
    let any = f
        .store
        .create_scenario(&rule("*", json!([]), None), at(0))
        .await
        .unwrap();
    let once = f
        .store
        .create_scenario(
            &rule(
                "+306912345678",
                json!([{"afterMs": 5, "status": "EXPIRED"}]),
                Some(1),
            ),
            at(1),
        )
        .await
        .unwrap();
    let first = f
        .store
        .sandbox_send(send("m1", "+306912345678"), at(2))
        .await
        .unwrap();
    assert_eq!(first.scenario.as_ref().map(|s| s.id), Some(once.id));
    assert_eq!(first.scenario.unwrap().times_left, Some(0), "used up");
    let second = f
        .store
        .sandbox_send(send("m2", "+306912345678"), at(3))
        .await
        .unwrap();
    assert_eq!(
        second.scenario.map(|s| s.id),
        Some(any.id),
        "used up: the wildcard now"
    );
    let listed = f.store.scenarios().await.unwrap();
    assert_eq!(
        listed.iter().find(|s| s.id == once.id).unwrap().times_left,
        Some(0)
    );
}

/// An SMSC cannot tell a resend from a first send, so every one is looked up; sends of
/// one reference that race each other (in one batch, or one committing while the other
/// is looked up) still record it once and all get its first ids.
pub async fn sends_of_one_reference_racing_each_other_record_it_once(f: &Fixture) {
    let refs: Vec<String> = (0..20).map(|i| format!("race-{i}")).collect();
    let mut sends = Vec::new();
    for round in 0..3 {
        for r in &refs {
            let mut s = send(r, "+306912345678");
            s.provider_ids = vec![format!("pid-{r}-{round}")];
            sends.push(f.store.sandbox_send(s, at(round)));
        }
    }
    let outcomes = futures_util::future::join_all(sends).await;
    for r in &refs {
        let mine: Vec<_> = outcomes
            .iter()
            .zip((0..3).flat_map(|_| refs.iter()))
            .filter(|(_, of)| *of == r)
            .map(|(o, _)| o.as_ref().expect("sent"))
            .collect();
        assert_eq!(mine.len(), 3);
        assert_eq!(
            mine.iter().filter(|o| !o.duplicate).count(),
            1,
            "{r}: one first send"
        );
        let stored = f.store.sandbox_provider_ids(r).await.unwrap();
        for o in &mine {
            assert_eq!(
                Some(&o.provider_ids),
                stored.as_ref(),
                "{r}: the stored ids"
            );
        }
    }
    let messages = f.store.sandbox_messages(1000).await.unwrap();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.client_ref.starts_with("race-"))
            .count(),
        refs.len()
    );
}

pub async fn a_resend_gets_its_first_ids_and_schedules_nothing(f: &Fixture) {
    let first = f
        .store
        .sandbox_send(send("m1", "+306912345678"), at(0))
        .await
        .unwrap();
    assert!(!first.duplicate);
    let mut again = send("m1", "+306912345678");
    again.provider_ids = vec!["another".into()];
    let second = f.store.sandbox_send(again, at(1)).await.unwrap();
    assert!(second.duplicate);
    assert_eq!(second.provider_ids, first.provider_ids);
    assert_eq!(
        f.store.sandbox_provider_ids("m1").await.unwrap(),
        Some(first.provider_ids)
    );
    let due = due(f, "sandbox-", at(1_000_000), 100, &[]).await;
    assert_eq!(
        due.len(),
        2,
        "the default DELIVERED and SEEN, once: {due:?}"
    );
}

pub async fn owed_reports_fall_due_and_go_when_acknowledged(f: &Fixture) {
    f.store
        .sandbox_send(send("m1", "+306912345678"), at(0))
        .await
        .unwrap();
    assert_eq!(
        f.store.next_sandbox_report_due("sandbox-").await.unwrap(),
        Some(at(20))
    );
    assert!(due(f, "sandbox-", at(19), 10, &[]).await.is_empty());
    let first = due(f, "sandbox-", at(20), 10, &[]).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].report().unwrap().status, StatusKind::Delivered);
    assert_eq!(first[0].provider_message_id, "pid-m1");
    assert!(
        due(f, "smsc-sim:", at(20), 10, &[]).await.is_empty(),
        "by provider prefix"
    );
    f.store.ack_sandbox_reports(&[first[0].id]).await.unwrap();
    let rest = due(f, "sandbox-", at(100), 10, &[]).await;
    assert_eq!(
        rest.iter()
            .map(|r| r.report().unwrap().status)
            .collect::<Vec<_>>(),
        [StatusKind::Seen]
    );
}

/// A report read but not acknowledged (the reporter sent its message's earlier report
/// first) is due again at once for the reader: on PostgreSQL the read claims it, and the
/// claim must keep other nodes away, not the node that holds it.
pub async fn a_report_read_and_not_acknowledged_is_due_again_at_once(f: &Fixture) {
    f.store
        .sandbox_send(send("m1", "+306912345678"), at(0))
        .await
        .unwrap();
    let both = due(f, "sandbox-", at(1_000_000), 10, &[]).await;
    assert_eq!(both.len(), 2, "DELIVERED and SEEN: {both:?}");
    f.store.ack_sandbox_reports(&[both[0].id]).await.unwrap();
    let next = f
        .store
        .next_sandbox_report_due("sandbox-")
        .await
        .unwrap()
        .expect("one report owed");
    assert!(
        next <= at(1_000_000),
        "due already, not at the end of a lease: {next:?}"
    );
    let again = due(f, "sandbox-", at(1_000_001), 10, &[]).await;
    assert_eq!(
        again.iter().map(|r| r.id).collect::<Vec<_>>(),
        [both[1].id],
        "the skipped one, at once"
    );
}

pub async fn rules_and_messages_are_listed_and_deleted(f: &Fixture) {
    f.store
        .create_scenario(&rule("*", json!([]), None), at(0))
        .await
        .unwrap();
    f.store
        .sandbox_send(send("m1", "+306912345678"), at(1))
        .await
        .unwrap();
    let messages = f.store.sandbox_messages(10).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].client_ref, "m1");
    assert_eq!(messages[0].payload, json!({"text": "hi"}));
    assert_eq!(f.store.delete_scenarios().await.unwrap(), 1);
    assert!(f.store.scenarios().await.unwrap().is_empty());
}

/// The reports a reporter is delivering already are left out of its next read, and the
/// limit counts only the others: a full page of reports in flight must not hide the
/// ones that fell due since.
pub async fn reports_being_delivered_are_left_out_of_the_next_read(f: &Fixture) {
    for m in ["m1", "m2", "m3"] {
        f.store
            .sandbox_send(send(m, "+306912345678"), at(0))
            .await
            .unwrap();
    }
    let page = due(f, "sandbox-", at(1_000_000), 2, &[]).await;
    assert_eq!(page.len(), 2, "{page:?}");
    let skip: Vec<i64> = page.iter().map(|r| r.id).collect();
    let next = due(f, "sandbox-", at(1_000_000), 2, &skip).await;
    assert_eq!(next.len(), 2, "{next:?}");
    assert!(
        next.iter().all(|r| !skip.contains(&r.id)),
        "none of {skip:?} again: {next:?}"
    );
    let all = due(f, "sandbox-", at(1_000_000), 100, &[]).await;
    assert_eq!(all.len(), 6, "two per message, none acknowledged: {all:?}");
    let rest: Vec<i64> = all
        .iter()
        .map(|r| r.id)
        .filter(|id| !skip.contains(id))
        .collect();
    let without = due(f, "sandbox-", at(1_000_000), 100, &skip).await;
    assert_eq!(
        without.iter().map(|r| r.id).collect::<Vec<_>>(),
        rest,
        "the others, in due order"
    );
}
