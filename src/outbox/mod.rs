//! Outgoing mail: composing it, the templates it is rendered from, and the worker that
//! delivers the outbox — the only part of Switchboard that sends anything.

pub mod compose;
pub mod notify;
pub mod pace;
pub mod resolved;
pub mod samples;
pub mod smtp;
pub mod templates;
pub mod worker;
