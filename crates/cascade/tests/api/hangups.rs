//! Clients that hang up while their request is being written: what was committed goes on
//! at once, as if they had waited for the answer.

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

/// Flows whose `POST /failover` connection was closed soon after the request was sent,
/// each a little later than the one before (0 to 39 ms), so that some close while their
/// write is under way whatever the machine's load: some are not stored (the server saw
/// the close first), some are stored without an answer, some are answered. Every stored
/// one is sent and ends within seconds, not after its job's 5-minute lease.
#[tokio::test]
async fn a_flow_whose_client_hung_up_is_still_sent_at_once() {
    let app = spawn_app().await;
    let token = app.token().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = serde_json::to_string(&flow(vec![sms_step(1, "hung up")])).expect("json");
    let request = format!(
        "POST /failover HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut hung_up = Vec::new();
    for delay_ms in 0..40 {
        let request = request.clone();
        let addr = addr.clone();
        hung_up.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connects");
            stream.write_all(request.as_bytes()).await.expect("sent");
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            // Gone without reading the answer: hyper drops the request's future when it
            // sees this before the answer is ready.
            drop(stream);
        }));
    }
    for h in hung_up {
        h.await.expect("the client task");
    }
    // One flow sent the normal way after them: once it is stored, so is everything the
    // hung-up requests queued before it (the store writes in order).
    let sentinel = app.send_flow(&flow(vec![sms_step(1, "after them")])).await;
    // Whatever was stored must finish, not wait for a lease.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (stored, open) = loop {
        let page: Value = app
            .client
            .post(app.url("/failover/tracking"))
            .bearer_auth(&token)
            .query(&[("size", "100")])
            .send()
            .await
            .expect("searched")
            .json()
            .await
            .expect("a page");
        let content = page["content"].as_array().cloned().unwrap_or_default();
        let open: Vec<String> = content
            .iter()
            .filter(|t| !matches!(t["status"].as_str(), Some("Succeeded" | "Failed")))
            .map(|t| format!("{} {}", t["trackingId"], t["status"]))
            .collect();
        if open.is_empty() || tokio::time::Instant::now() > deadline {
            break (content.len(), open);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        stored > 1,
        "no hung-up request reached the store (only {sentinel}): nothing was tested"
    );
    assert!(
        open.is_empty(),
        "{} of {stored} stored flows still open after 20 s: {open:?}",
        open.len()
    );
    assert_eq!(i64::try_from(stored).unwrap(), app.flow_count().await);
}
