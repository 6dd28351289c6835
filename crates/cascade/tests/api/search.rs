//! §6: `POST /failover/tracking` — filters, date range, order, paging, tenancy and the
//! errors of bad parameters.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use cascade_core::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

// --- calling the endpoint ----------------------------------------------------------------

/// `POST /failover/tracking` with `query` parameters and an optional JSON body (no
/// body at all when `None`).
async fn post_search(
    app: &TestApp,
    token: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/failover/tracking"))
        .bearer_auth(token)
        .query(query);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// A search that must succeed; returns the page.
async fn search(app: &TestApp, query: &[(&str, &str)], body: Option<&Value>) -> Value {
    let token = app.token().await;
    let r = post_search(app, &token, query, body).await;
    let status = r.status();
    let page: Value = r.json().await.expect("a JSON page");
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// A search that must be refused with `400022001` naming `property`.
async fn assert_rejected(
    app: &TestApp,
    query: &[(&str, &str)],
    body: Option<&Value>,
    property: &str,
) {
    let token = app.token().await;
    let r = post_search(app, &token, query, body).await;
    let status = r.status();
    let error: Value = r.json().await.expect("a JSON error");
    let what = format!("query {query:?}, body {body:?}: {error}");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    assert_eq!(error["code"], "400022001", "{what}");
    assert!(
        error["properties"].get(property).is_some(),
        "expected the property {property:?}; {what}"
    );
}

/// The trackingIds of a page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["content"]
        .as_array()
        .expect("content is an array")
        .iter()
        .map(|t| t["trackingId"].as_str().expect("a trackingId").to_owned())
        .collect()
}

fn millis(t: &Value, key: &str) -> i64 {
    Timestamp::parse(t[key].as_str().expect("a time"))
        .expect("RFC 3339")
        .as_millis()
}

fn filter(field: &str, op: &str, term: &str) -> Value {
    json!({"fieldName": field, "searchOperator": op, "searchTerm": term})
}

fn sms_to(to: &str) -> Value {
    let mut step = sms_step(1, "Hello");
    step["to"] = json!(to);
    step
}

/// Send `count` one-step SMS flows (each to its own number) and wait until all are
/// final; returns their trackings.
async fn send_sms_flows(app: &TestApp, count: usize) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            app.send_flow(&flow(vec![sms_to(&format!("+3069100000{i:02}"))]))
                .await,
        );
    }
    let mut trackings = Vec::new();
    for id in &ids {
        trackings.push(app.wait_final(id).await);
    }
    trackings
}

// --- a varied set of flows ------------------------------------------------------------

const TO_VIBER_SMS: &str = "+306900000002";
const TO_FAILED: &str = "+306900000004";
const TO_PENDING: &str = "+306900000006";

/// Six flows of the test account, by name:
/// - `sms`: Sms to +306900000001 — Succeeded on Sms;
/// - `viber_sms`: Viber (expires) then Sms, both to +306900000002 — Succeeded on Sms;
/// - `voice`: Voice to +441234567890 — Succeeded on Voice;
/// - `failed`: Sms to +306900000004 — Failed on Sms;
/// - `sip`: Voice to the SIP address `Alice@Example.COM` — Succeeded on Voice;
/// - `pending`: Sms to +306900000006 that is never reported — InProgress on Sms.
async fn seeded() -> (TestApp, HashMap<&'static str, String>) {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Viber", "to": TO_VIBER_SMS, "events": [{"afterMs": 5, "status": "EXPIRED"}]}))
        .await;
    app.scenario(
        json!({"channel": "Sms", "to": TO_FAILED, "events": [{"afterMs": 5, "status": "Failed"}]}),
    )
    .await;
    app.scenario(json!({"channel": "Sms", "to": TO_PENDING, "events": []}))
        .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["to"] = json!(TO_VIBER_SMS);
    let mut then_sms = sms_to(TO_VIBER_SMS);
    then_sms["order"] = json!(2);
    let mut voice = voice_step(1);
    voice["to"] = json!({"phone": "+441234567890"});
    let mut sip = voice_step(1);
    sip["to"] = json!({"sip": "Alice@Example.COM"});

    let mut ids = HashMap::new();
    ids.insert(
        "sms",
        app.send_flow(&flow(vec![sms_to("+306900000001")])).await,
    );
    ids.insert(
        "viber_sms",
        app.send_flow(&flow(vec![viber, then_sms])).await,
    );
    ids.insert("voice", app.send_flow(&flow(vec![voice])).await);
    ids.insert(
        "failed",
        app.send_flow(&flow(vec![sms_to(TO_FAILED)])).await,
    );
    ids.insert("sip", app.send_flow(&flow(vec![sip])).await);
    ids.insert(
        "pending",
        app.send_flow(&flow(vec![sms_to(TO_PENDING)])).await,
    );
    for (name, id) in &ids {
        let (t, expected) = match *name {
            "pending" => (
                app.wait_for(id, Duration::from_secs(20), |t| t["status"] == "InProgress")
                    .await,
                "InProgress",
            ),
            "failed" => (app.wait_final(id).await, "Failed"),
            _ => (app.wait_final(id).await, "Succeeded"),
        };
        assert_eq!(t["status"], expected, "{name}: {t}");
    }
    (app, ids)
}

/// The names of `ids` found on `page`.
fn names(page: &Value, named: &HashMap<&'static str, String>) -> BTreeSet<&'static str> {
    let by_id: HashMap<&str, &'static str> =
        named.iter().map(|(n, id)| (id.as_str(), *n)).collect();
    ids(page)
        .iter()
        .map(|id| {
            *by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("unknown flow {id} on the page"))
        })
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

// --- filters ---------------------------------------------------------------------------

#[tokio::test]
async fn each_filter_and_operator_selects_its_flows() {
    let (app, ids) = seeded().await;
    let all = set(&["sms", "viber_sms", "voice", "failed", "sip", "pending"]);
    let but = |excluded: &str| -> BTreeSet<&'static str> {
        all.iter().copied().filter(|n| *n != excluded).collect()
    };
    let voice_id = ids["voice"].clone();
    // (filter, the flows it selects)
    let rows: Vec<(Value, BTreeSet<&'static str>)> = vec![
        (
            filter("type", "is", "Sms"),
            set(&["sms", "viber_sms", "failed", "pending"]),
        ),
        (filter("type", "is", "Viber"), set(&["viber_sms"])),
        (filter("type", "is", "Voice"), set(&["voice", "sip"])),
        (filter("type", "is_not", "Sms"), set(&["voice", "sip"])),
        (filter("type", "is_not", "Viber"), but("viber_sms")),
        (filter("to", "is", TO_VIBER_SMS), set(&["viber_sms"])),
        (filter("to", "is_not", TO_VIBER_SMS), but("viber_sms")),
        (filter("to", "contains", "1234"), set(&["voice"])),
        (filter("to", "contains", "example"), set(&["sip"])),
        (filter("to", "starts_with", "+44"), set(&["voice"])),
        (
            filter("to", "starts_with", "+3069000000"),
            set(&["sms", "viber_sms", "failed", "pending"]),
        ),
        (filter("to", "ends_with", "0004"), set(&["failed"])),
        (filter("to", "ends_with", ".com"), set(&["sip"])),
        (filter("to", "is", "+3069"), set(&[])),
        (
            filter("status", "is", "Succeeded"),
            set(&["sms", "viber_sms", "voice", "sip"]),
        ),
        (filter("status", "is", "Failed"), set(&["failed"])),
        (filter("status", "is", "InProgress"), set(&["pending"])),
        (filter("status", "is", "Queued"), set(&[])),
        (
            filter("status", "is_not", "Succeeded"),
            set(&["failed", "pending"]),
        ),
        (
            filter("terminationChannel", "is", "Sms"),
            set(&["sms", "viber_sms", "failed", "pending"]),
        ),
        (
            filter("terminationChannel", "is", "Voice"),
            set(&["voice", "sip"]),
        ),
        (filter("terminationChannel", "is", "Viber"), set(&[])),
        (
            filter("terminationChannel", "is_not", "Sms"),
            set(&["voice", "sip"]),
        ),
        (filter("trackingId", "is", &voice_id), set(&["voice"])),
        (filter("trackingId", "is_not", &voice_id), but("voice")),
        // The operator defaults to `is`.
        (
            json!({"fieldName": "to", "searchTerm": TO_FAILED}),
            set(&["failed"]),
        ),
        // Matching is case-insensitive: field names, operators and terms.
        (
            filter("TYPE", "IS", "sMs"),
            set(&["sms", "viber_sms", "failed", "pending"]),
        ),
        (filter("To", "Starts_With", "ALICE@example"), set(&["sip"])),
        (filter("to", "IS", "alice@EXAMPLE.com"), set(&["sip"])),
        (filter("to", "ENDS_WITH", "Example.Com"), set(&["sip"])),
        (
            filter("STATUS", "is_NOT", "succeeded"),
            set(&["failed", "pending"]),
        ),
        (
            filter("terminationchannel", "is", "VOICE"),
            set(&["voice", "sip"]),
        ),
        (
            filter("trackingid", "is", &voice_id.to_uppercase()),
            set(&["voice"]),
        ),
    ];
    for (f, expected) in rows {
        let page = search(&app, &[("size", "100")], Some(&json!([f]))).await;
        assert_eq!(names(&page, &ids), expected, "{f}");
        assert_eq!(page["totalElements"], expected.len(), "{f}");
    }
}

#[tokio::test]
async fn filters_are_anded_and_the_body_may_be_one_object_or_nothing() {
    let (app, ids) = seeded().await;
    let sms = filter("type", "is", "Sms");
    let page = search(
        &app,
        &[],
        Some(&json!([sms, filter("status", "is", "Succeeded")])),
    )
    .await;
    assert_eq!(names(&page, &ids), set(&["sms", "viber_sms"]));
    let page = search(
        &app,
        &[],
        Some(&json!([
            sms,
            filter("status", "is_not", "Failed"),
            filter("to", "starts_with", "+30690000000"),
            filter("to", "is_not", TO_PENDING)
        ])),
    )
    .await;
    assert_eq!(names(&page, &ids), set(&["sms", "viber_sms"]));
    assert_eq!(page["totalElements"], 2);

    // One filter object instead of an array.
    let page = search(&app, &[], Some(&filter("status", "is", "Failed"))).await;
    assert_eq!(names(&page, &ids), set(&["failed"]));

    // No filter: an empty array, an empty body, `null`, an empty JSON body.
    let everything = set(&["sms", "viber_sms", "voice", "failed", "sip", "pending"]);
    for body in [Some(json!([])), None, Some(Value::Null)] {
        let page = search(&app, &[], body.as_ref()).await;
        assert_eq!(names(&page, &ids), everything, "{body:?}");
        assert_eq!(page["totalElements"], 6);
    }
    let token = app.token().await;
    let r = app
        .client
        .post(app.url("/failover/tracking"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["totalElements"], 6);
}

#[tokio::test]
async fn results_are_the_tracking_objects_themselves() {
    let (app, ids) = seeded().await;
    let page = search(
        &app,
        &[],
        Some(&filter("trackingId", "is", &ids["viber_sms"])),
    )
    .await;
    assert_eq!(page["content"][0], app.tracking(&ids["viber_sms"]).await);
}

// --- date range ------------------------------------------------------------------------

#[tokio::test]
async fn the_date_range_is_on_created_at_start_inclusive_end_exclusive() {
    let app = spawn_app().await;
    let flows = send_sms_flows(&app, 4).await;
    let created: Vec<i64> = flows.iter().map(|t| millis(t, "createdAt")).collect();
    let id = |i: usize| flows[i]["trackingId"].as_str().unwrap().to_owned();
    let within = |start: i64, end: i64| -> BTreeSet<String> {
        (0..flows.len())
            .filter(|&i| created[i] >= start && created[i] < end)
            .map(id)
            .collect()
    };

    let (start, end) = (created[1], created[3]);
    let (start_text, end_text) = (
        Timestamp::from_millis(start).to_rfc3339(),
        Timestamp::from_millis(end).to_rfc3339(),
    );
    let page = search(
        &app,
        &[("dateStart", &start_text), ("dateEnd", &end_text)],
        None,
    )
    .await;
    let found: BTreeSet<String> = ids(&page).into_iter().collect();
    assert!(found.contains(&id(1)), "the start is inclusive");
    assert!(!found.contains(&id(3)), "the end is exclusive");
    assert_eq!(found, within(start, end));
    assert_eq!(page["totalElements"], found.len());

    // Only one bound.
    let page = search(&app, &[("dateStart", &start_text)], None).await;
    assert_eq!(
        ids(&page).into_iter().collect::<BTreeSet<_>>(),
        within(start, i64::MAX)
    );
    let page = search(&app, &[("dateEnd", &end_text)], None).await;
    assert_eq!(
        ids(&page).into_iter().collect::<BTreeSet<_>>(),
        within(i64::MIN, end)
    );

    // The minutes-only form, and an offset other than Z.
    let minute = |ms: i64| {
        Timestamp::from_millis(ms - ms.rem_euclid(60_000)).to_rfc3339()[..16].to_owned() + "Z"
    };
    let (first_minute, after_last) = (minute(created[0]), minute(created[3] + 60_000));
    let page = search(
        &app,
        &[("dateStart", &first_minute), ("dateEnd", &after_last)],
        None,
    )
    .await;
    assert_eq!(page["totalElements"], 4, "{first_minute} .. {after_last}");
    let page = search(&app, &[("dateEnd", &first_minute)], None).await;
    assert_eq!(
        page["totalElements"], 0,
        "everything was created at or after {first_minute}"
    );
    let shifted = Timestamp::from_millis(start + 2 * 3_600_000)
        .to_rfc3339()
        .replace('Z', "+02:00");
    let page = search(
        &app,
        &[("dateStart", &shifted), ("dateEnd", &end_text)],
        None,
    )
    .await;
    assert_eq!(
        ids(&page).into_iter().collect::<BTreeSet<_>>(),
        within(start, end)
    );
}

// --- order and paging ------------------------------------------------------------------

/// Walk every page of `size` in `sort` order; returns the trackingIds in page order.
async fn walk(app: &TestApp, sort: &str, size: usize, total: usize) -> Vec<String> {
    let pages = total.div_ceil(size);
    let mut seen = Vec::new();
    for number in 0..pages {
        let (n, s) = (number.to_string(), size.to_string());
        let page = search(app, &[("sort", sort), ("page", &n), ("size", &s)], None).await;
        assert_eq!(page["totalElements"], total, "{sort} page {number}");
        assert_eq!(page["totalPages"], pages, "{sort} page {number}");
        assert_eq!(page["number"], number);
        assert_eq!(page["size"], size);
        assert_eq!(page["first"], number == 0);
        assert_eq!(page["last"], number + 1 == pages);
        let expected_len = size.min(total - number * size);
        assert_eq!(
            page["numberOfElements"], expected_len,
            "{sort} page {number}"
        );
        seen.extend(ids(&page));
    }
    seen
}

#[tokio::test]
async fn every_order_is_total_and_paging_through_it_shows_each_flow_once() {
    let app = spawn_app().await;
    let flows = send_sms_flows(&app, 7).await;
    // The order the spec defines: the timestamp, then trackingId, in one direction.
    let ordered = |key: &str, descending: bool| -> Vec<String> {
        let mut keyed: Vec<(i64, String)> = flows
            .iter()
            .map(|t| (millis(t, key), t["trackingId"].as_str().unwrap().to_owned()))
            .collect();
        keyed.sort();
        if descending {
            keyed.reverse();
        }
        keyed.into_iter().map(|(_, id)| id).collect()
    };
    for (sort, key, descending) in [
        ("createdAt,desc", "createdAt", true),
        ("createdAt,asc", "createdAt", false),
        ("updatedAt,desc", "updatedAt", true),
        ("UPDATEDAT,ASC", "updatedAt", false),
    ] {
        let seen = walk(&app, sort, 2, 7).await;
        assert_eq!(seen, ordered(key, descending), "{sort}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 7, "{sort}: each flow exactly once");
    }
    // The default is createdAt,desc.
    let page = search(&app, &[("size", "7")], None).await;
    assert_eq!(ids(&page), ordered("createdAt", true));
}

#[tokio::test]
async fn paging_edges() {
    let app = spawn_app().await;
    send_sms_flows(&app, 5).await;

    // The default page: 10 per page, page 0.
    let page = search(&app, &[], None).await;
    assert_eq!(
        (
            &page["number"],
            &page["size"],
            &page["totalPages"],
            &page["numberOfElements"]
        ),
        (&json!(0), &json!(10), &json!(1), &json!(5))
    );
    assert_eq!(
        (&page["first"], &page["last"]),
        (&json!(true), &json!(true))
    );

    // The last page is partly filled.
    let page = search(&app, &[("page", "2"), ("size", "2")], None).await;
    assert_eq!(page["numberOfElements"], 1);
    assert_eq!(page["totalPages"], 3);
    assert_eq!(
        (&page["first"], &page["last"]),
        (&json!(false), &json!(true))
    );
    let page = search(&app, &[("page", "1"), ("size", "2")], None).await;
    assert_eq!(
        (&page["first"], &page["last"]),
        (&json!(false), &json!(false))
    );

    // A page past the end is empty but tells the truth about the rest.
    let page = search(&app, &[("page", "7"), ("size", "2")], None).await;
    assert_eq!(page["content"], json!([]));
    assert_eq!(page["numberOfElements"], 0);
    assert_eq!(page["totalElements"], 5);
    assert_eq!(page["totalPages"], 3);
    assert_eq!(page["number"], 7);
    assert_eq!(
        (&page["first"], &page["last"]),
        (&json!(false), &json!(true))
    );

    // The smallest and largest sizes.
    let page = search(&app, &[("size", "1")], None).await;
    assert_eq!(
        (&page["numberOfElements"], &page["totalPages"]),
        (&json!(1), &json!(5))
    );
    let page = search(&app, &[("size", "1000")], None).await;
    assert_eq!(
        (&page["numberOfElements"], &page["totalPages"]),
        (&json!(5), &json!(1))
    );

    // Nothing matches: no pages at all.
    let page = search(&app, &[], Some(&filter("status", "is", "Queued"))).await;
    assert_eq!(
        (
            &page["totalElements"],
            &page["totalPages"],
            &page["content"]
        ),
        (&json!(0), &json!(0), &json!([]))
    );
    assert_eq!(
        (&page["first"], &page["last"]),
        (&json!(true), &json!(true))
    );

    for (name, value) in [("size", "0"), ("size", "1001"), ("page", "-1")] {
        assert_rejected(&app, &[(name, value)], None, name).await;
    }
}

// --- tenancy -----------------------------------------------------------------------------

#[tokio::test]
async fn another_accounts_flows_are_never_found_nor_counted() {
    let app = spawn_app().await;
    let mine = send_sms_flows(&app, 2).await;
    let other_account = app.create_account(50.0).await;
    let (other_app, other_secret) = app
        .create_application(&other_account, json!({"name": "other"}))
        .await;
    let other_token = app.token_for(&other_app, &other_secret, None).await;
    // The other account sends to the very same numbers, and more of them.
    let mut theirs = Vec::new();
    for t in mine.iter().chain(mine.iter()) {
        let to = t["messages"][0]["to"].as_str().unwrap();
        let r = app
            .post_flow_with(&other_token, &flow(vec![sms_to(to)]))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        theirs.push(
            r.json::<Value>().await.unwrap()["trackingId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let my_ids: BTreeSet<String> = mine
        .iter()
        .map(|t| t["trackingId"].as_str().unwrap().to_owned())
        .collect();

    let page = search(&app, &[("size", "1000")], None).await;
    assert_eq!(ids(&page).into_iter().collect::<BTreeSet<_>>(), my_ids);
    assert_eq!(page["totalElements"], 2);
    let to = mine[0]["messages"][0]["to"].as_str().unwrap();
    for f in [
        filter("to", "is", to),
        filter("type", "is", "Sms"),
        filter("to", "starts_with", "+3069"),
    ] {
        let page = search(&app, &[], Some(&json!([f]))).await;
        assert!(ids(&page).iter().all(|id| my_ids.contains(id)), "{f}");
        assert!(page["totalElements"].as_u64().unwrap() <= 2, "{f}: {page}");
    }
    let page = search(&app, &[], Some(&filter("trackingId", "is", &theirs[0]))).await;
    assert_eq!(
        page["totalElements"], 0,
        "another account's id is not found"
    );

    // And the other way round.
    let r = post_search(&app, &other_token, &[("size", "1000")], None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["totalElements"], 4);
    assert!(ids(&page).iter().all(|id| !my_ids.contains(id)));
}

// --- errors ----------------------------------------------------------------------------

#[tokio::test]
async fn each_kind_of_bad_parameter_is_a_400_naming_it() {
    let app = spawn_app().await;
    let ok = filter("type", "is", "Sms");
    // (query, body, the property named)
    type BadRequest<'a> = (Vec<(&'a str, &'a str)>, Option<Value>, &'a str);
    #[rustfmt::skip]
    let rows: Vec<BadRequest> = vec![
        (vec![("dateStart", "yesterday")], None, "dateStart"),
        (vec![("dateStart", "2026-05-05")], None, "dateStart"),
        (vec![("dateEnd", "2026-05-05T15:00")], None, "dateEnd"),
        (vec![("dateStart", "2026-05-05T15:00Z"), ("dateEnd", "2026-05-05T14:00Z")], None, "dateEnd"),
        (vec![("page", "-1")], None, "page"),
        (vec![("page", "first")], None, "page"),
        (vec![("size", "0")], None, "size"),
        (vec![("size", "1001")], None, "size"),
        (vec![("size", "ten")], None, "size"),
        (vec![("sort", "createdAt")], None, "sort"),
        (vec![("sort", "status,desc")], None, "sort"),
        (vec![("sort", "createdAt,up")], None, "sort"),
        (vec![], Some(json!("type")), "filters"),
        (vec![], Some(json!(["type"])), "filters[0]"),
        (vec![], Some(json!([{"searchTerm": "Sms"}])), "filters[0].fieldName"),
        (vec![], Some(json!([filter("channel", "is", "Sms")])), "filters[0].fieldName"),
        (vec![], Some(json!([filter("to", "like", "+30")])), "filters[0].searchOperator"),
        (vec![], Some(json!([filter("type", "contains", "Sms")])), "filters[0].searchOperator"),
        (vec![], Some(json!([filter("status", "starts_with", "Succ")])), "filters[0].searchOperator"),
        (vec![], Some(json!([filter("terminationChannel", "ends_with", "s")])), "filters[0].searchOperator"),
        (vec![], Some(json!([filter("trackingId", "contains", "01")])), "filters[0].searchOperator"),
        (vec![], Some(json!([ok, {"fieldName": "to"}])), "filters[1].searchTerm"),
        (vec![], Some(json!([filter("to", "is", " ")])), "filters[0].searchTerm"),
        (vec![], Some(json!([filter("type", "is", "Email")])), "filters[0].searchTerm"),
        (vec![], Some(json!([filter("terminationChannel", "is", "Fax")])), "filters[0].searchTerm"),
        (vec![], Some(json!([filter("status", "is", "Delivered")])), "filters[0].searchTerm"),
        (vec![], Some(json!([filter("trackingId", "is", "not-a-uuid")])), "filters[0].searchTerm"),
    ];
    for (query, body, property) in &rows {
        assert_rejected(&app, query, body.as_ref(), property).await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_and_a_missing_scope_are_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let r = app
        .client
        .post(app.url("/failover/tracking"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("[{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "400000000");

    let r = post_search(&app, "not-a-token", &[], None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let sms_only = app
        .token_for(&app.app_id, &app.app_secret, Some("sms"))
        .await;
    let r = post_search(&app, &sms_only, &[], None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "403000000");
}
