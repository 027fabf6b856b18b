//! Switchboard: the front door of an IT service desk.
//!
//! The flow, one module per stage: channels hand raw input to [`ingest`], which runs
//! [`pipeline`] (normalize → guard → secrets → thread → classify → route) against the
//! [`rules`], then persists ticket, events and [`outbox`] rows in one [`store`] transaction.
//! The outbox worker is the only sender.

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod engine;
pub mod i18n;
pub mod ingest;
pub mod intake;
pub mod outbox;
pub mod pipeline;
pub mod promise;
pub mod queue;
pub mod rules;
pub mod sla;
pub mod staff;
pub mod stats;
pub mod store;
pub mod tasks;
