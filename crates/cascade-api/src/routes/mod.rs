pub mod accounts;
pub mod admin;
pub mod callbacks;
pub mod failover;
pub mod health;
pub mod sandbox;
pub mod search;
pub mod tracking;
