pub mod accounts;
pub mod admin;
pub mod callbacks;
pub mod failover;
pub mod health;
pub mod sandbox;
mod sandbox_wire;
pub mod search;
pub mod tracking;
