//! Search over an account's flows.

use std::collections::HashMap;

use cascade_core::machines::{FlowState, FlowStatus};
use cascade_core::search::parse_search;
use cascade_store::StoredFlow;
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
