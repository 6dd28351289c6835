//! Search over an account's flows.

use std::collections::HashMap;

use cascade_core::StatusKind;
use cascade_core::machines::{FlowState, FlowStatus, Report};
use cascade_core::search::parse_search;
use cascade_store::{ReportOutcome, StoredFlow};
use serde_json::{Value, json};

use crate::support::*;

async fn search(
    f: &Fixture,
    account: &str,
    params: &[(&str, &str)],
    body: Value,
) -> (Vec<String>, u64) {
    let params: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let query = parse_search(&params, &body).expect("a valid search");
    let page = f.store.search(account, &query).await.unwrap();
    let ids = page
        .flows
        .iter()
        .map(|s| s.definition.tracking_id.to_string())
        .collect();
    (ids, page.total)
}

pub async fn search_filters_pages_and_counts_within_one_account(f: &Fixture) {
    let other = new_account(&*f.store, "acc-2").await;
    let mut mine = Vec::new();
    let mut flows = Vec::new();
    for i in 0..12 {
        let to = format!("+3069123456{i:02}");
        let def = f.flow(sms_to(&to, 10), at(i * 1_000));
        let mut state = FlowState::new(def.created_at);
        state.status = if i % 3 == 0 {
            FlowStatus::Failed
        } else {
            FlowStatus::Succeeded
        };
        mine.push(def.tracking_id.to_string());
        flows.push(StoredFlow {
            definition: def,
            state,
        });
    }
    let foreign = f.flow_of(&other, sms_to("+306912345600", 10), at(500));
    flows.push(StoredFlow {
        state: FlowState::new(foreign.created_at),
        definition: foreign,
    });
    f.store.import_flows(flows).await.unwrap();

    let (page, total) = search(f, &f.account, &[], Value::Null).await;
    assert_eq!(
        total, 12,
        "the other account's flow is neither listed nor counted"
    );
    let newest_first: Vec<String> = mine.iter().rev().take(10).cloned().collect();
    assert_eq!(page, newest_first, "newest first, a page of 10");
    let (page, _) = search(f, &f.account, &[("page", "1")], Value::Null).await;
    assert_eq!(page, [mine[1].clone(), mine[0].clone()]);
    let (_, failed) = search(
        f,
        &f.account,
        &[],
        json!({"fieldName": "status", "searchTerm": "Failed"}),
    )
    .await;
    assert_eq!(failed, 4);
    let (hit, n) = search(
        f,
        &f.account,
        &[],
        json!([{"fieldName": "to", "searchOperator": "ends_with", "searchTerm": "45607"}]),
    )
    .await;
    assert_eq!((hit, n), (vec![mine[7].clone()], 1));
    let (_, n) = search(
        f,
        &f.account,
        &[],
        json!([{"fieldName": "to", "searchOperator": "contains", "searchTerm": "234560"}]),
    )
    .await;
    assert_eq!(n, 10, "+30691234560 then 0..9");
    let (_, n) = search(
        f,
        &f.account,
        &[
            ("dateStart", &at(3_000).to_rfc3339()),
            ("dateEnd", &at(6_000).to_rfc3339()),
        ],
        Value::Null,
    )
    .await;
    assert_eq!(n, 3, "start inclusive, end exclusive");
}

/// What `status` and `terminationChannel` find at each point of two flows' lives, with
/// their totals: the columns and indexes behind them follow every change (a step sent
/// starts the flow; a report that ends nothing leaves both; a failover changes the
/// channel alone; an end, the status).
pub async fn status_and_termination_channel_follow_a_flow_s_life(f: &Fixture) {
    async fn found(f: &Fixture, field: &str, term: &str) -> (Vec<String>, u64) {
        let (mut ids, total) = search(
            f,
            &f.account,
            &[],
            json!({"fieldName": field, "searchTerm": term}),
        )
        .await;
        ids.sort();
        (ids, total)
    }
    async fn expect(f: &Fixture, when: &str, wanted: &[(&str, &str, &[&String])]) {
        for (field, term, ids) in wanted {
            let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
            ids.sort();
            let n = ids.len() as u64;
            assert_eq!(
                found(f, field, term).await,
                (ids, n),
                "{when}: {field} is {term}"
            );
        }
    }
    async fn report(
        f: &Fixture,
        pmid: &str,
        status: StatusKind,
        ms: i64,
    ) -> Vec<cascade_store::Job> {
        match f
            .store
            .apply_report(
                "prov",
                &[pmid.to_owned()],
                Report::status(status, at(ms)),
                at(ms),
            )
            .await
            .unwrap()
        {
            ReportOutcome::Applied(applied) => applied.jobs,
            ReportOutcome::Held => panic!("the report for {pmid} was held"),
        }
    }
    let a_def = f.flow(sms_then_voice(), at(0));
    let b_def = f.flow(sms(10), at(1));
    let (a, b) = (a_def.tracking_id.to_string(), b_def.tracking_id.to_string());
    let a_job = f
        .store
        .accept_flow(a_def, at(0))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let b_job = f
        .store
        .accept_flow(b_def, at(1))
        .await
        .unwrap()
        .jobs
        .remove(0);
    expect(
        f,
        "accepted",
        &[
            ("status", "Queued", &[&a, &b][..]),
            ("status", "InProgress", &[][..]),
            ("terminationChannel", "Sms", &[&a, &b][..]),
            ("terminationChannel", "Voice", &[][..]),
        ],
    )
    .await;

    f.store
        .job_submitted(&a_job, "prov", vec!["a-1".into()], at(10))
        .await
        .unwrap();
    expect(
        f,
        "one sent",
        &[
            ("status", "Queued", &[&b][..]),
            ("status", "InProgress", &[&a][..]),
            ("terminationChannel", "Sms", &[&a, &b][..]),
        ],
    )
    .await;
    f.store
        .job_submitted(&b_job, "prov", vec!["b-1".into()], at(11))
        .await
        .unwrap();
    // A report that ends nothing changes neither column.
    assert!(report(f, "b-1", StatusKind::Sent, 15).await.is_empty());
    expect(
        f,
        "both sent",
        &[
            ("status", "Queued", &[][..]),
            ("status", "InProgress", &[&a, &b][..]),
            ("terminationChannel", "Sms", &[&a, &b][..]),
        ],
    )
    .await;

    let b_next = report(f, "b-1", StatusKind::Delivered, 20).await;
    assert!(b_next.is_empty());
    let voice = report(f, "a-1", StatusKind::Undelivered, 21).await;
    assert_eq!(voice.len(), 1, "the SMS failed over to the call");
    expect(
        f,
        "one delivered, one failed over",
        &[
            ("status", "InProgress", &[&a][..]),
            ("status", "Succeeded", &[&b][..]),
            ("terminationChannel", "Sms", &[&b][..]),
            ("terminationChannel", "Voice", &[&a][..]),
        ],
    )
    .await;

    f.store
        .job_submitted(&voice[0], "prov", vec!["a-2".into()], at(30))
        .await
        .unwrap();
    report(f, "a-2", StatusKind::Failed, 40).await;
    expect(
        f,
        "the call failed too",
        &[
            ("status", "InProgress", &[][..]),
            ("status", "Failed", &[&a][..]),
            ("status", "Succeeded", &[&b][..]),
            ("terminationChannel", "Voice", &[&a][..]),
        ],
    )
    .await;
}
