//! `POST /failover/tracking`: search an account's trackings.
