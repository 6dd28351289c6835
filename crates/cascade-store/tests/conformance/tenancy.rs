//! Accounts, applications, senders, tokens and settings.

use cascade_core::Micros;
use cascade_store::{AccessToken, StoreError, ViberSender};

use crate::support::*;

pub async fn accounts_applications_senders_tokens_and_settings(f: &Fixture) {
    let account = f.store.account(&f.account).await.unwrap().unwrap();
    assert_eq!(account.currency, "EUR");
    let err = f
        .store
        .create_account(&account)
        .await
        .expect_err("ids are unique");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let set = f
        .store
        .set_balance(&f.account, Micros::new(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.balance, Micros::new(5));
    assert!(
        f.store
            .set_balance("nobody", Micros::new(5))
            .await
            .unwrap()
            .is_none()
    );

    let app = f.store.application(&f.application).await.unwrap().unwrap();
    assert_eq!(app.account_id, f.account);
    assert!(
        f.store
            .set_webhook_secret(&f.application, "rotated")
            .await
            .unwrap()
    );
    assert_eq!(
        f.store
            .application(&f.application)
            .await
            .unwrap()
            .unwrap()
            .webhook_secret,
        "rotated"
    );
    assert!(!f.store.set_webhook_secret("nobody", "x").await.unwrap());

    f.store
        .add_viber_sender(&ViberSender {
            id: "snd-1".into(),
            account_id: f.account.clone(),
            name: "Brand".into(),
            created_at: at(0),
        })
        .await
        .unwrap();
    let senders = f.store.viber_senders(&f.account).await.unwrap();
    assert_eq!(senders.len(), 1);
    assert!(f.store.viber_senders("nobody").await.unwrap().is_empty());

    let token = AccessToken {
        digest: "d1".into(),
        application_id: f.application.clone(),
        account_id: f.account.clone(),
        scopes: vec!["failover".into()],
        expires_at: at(1_000),
    };
    f.store.insert_token(&token).await.unwrap();
    assert_eq!(f.store.token("d1").await.unwrap(), Some(token));
    assert_eq!(f.store.purge_tokens(at(999)).await.unwrap(), 0);
    assert_eq!(f.store.purge_tokens(at(1_001)).await.unwrap(), 1);
    assert_eq!(f.store.token("d1").await.unwrap(), None);

    assert_eq!(f.store.setting("k").await.unwrap(), None);
    f.store.put_setting("k", "v1").await.unwrap();
    f.store.put_setting("k", "v2").await.unwrap();
    assert_eq!(f.store.setting("k").await.unwrap().as_deref(), Some("v2"));
}

/// What the operators' console lists: accounts oldest first (bounded), an account's
/// applications, and which account a flow belongs to.
pub async fn accounts_and_applications_are_listed_and_flows_found_by_id(f: &Fixture) {
    let second = new_account(f.store.as_ref(), "acc-listed").await;
    new_application(f.store.as_ref(), &second, "app-listed-1").await;
    new_application(f.store.as_ref(), &second, "app-listed-2").await;

    let all: Vec<String> = f
        .store
        .accounts(100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert!(all.contains(&f.account) && all.contains(&second), "{all:?}");
    assert_eq!(
        f.store.accounts(1).await.unwrap().len(),
        1,
        "the limit holds"
    );

    let apps: Vec<String> = f
        .store
        .applications(&second)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(apps, ["app-listed-1", "app-listed-2"]);
    assert!(f.store.applications("nobody").await.unwrap().is_empty());

    let def = f.flow(sms(5), at(0));
    let id = def.tracking_id;
    f.store.accept_flow(def, at(0)).await.unwrap();
    assert_eq!(
        f.store.flow_account(id).await.unwrap().as_deref(),
        Some(f.account.as_str())
    );
    assert_eq!(
        f.store
            .flow_account(cascade_core::FlowId::new_v7(1))
            .await
            .unwrap(),
        None
    );
}
