//! `accept`: `POST /failover` throughput under concurrent load.

use crate::Cli;
use crate::load::{Load, drive, sms_flow};
use crate::server::start_cascade;

pub async fn accept(cli: &Cli) -> anyhow::Result<Load> {
    let run = start_cascade(cli).await?;
    let url = format!("{}/failover", run.base);
    let token = run.token.clone();
    let flow = sms_flow();
    let load = drive(cli.concurrency, cli.seconds, move |c| {
        let (url, token, flow) = (url.clone(), token.clone(), flow.clone());
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&flow)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    run.stop().await;
    Ok(load)
}
