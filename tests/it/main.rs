//! Integration tests: the real `switchboard` binary against a throw-away desk.

mod acks;
mod browser;
mod cli;
mod corpus;
mod crash;
#[path = "../support/database.rs"]
mod database;
mod fixtures;
mod helpers;
mod hostile;
mod pipeline;
mod queue;
mod serve;
mod web;
