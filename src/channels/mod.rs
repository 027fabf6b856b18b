//! Where requests come from. Each channel turns what arrives into `ingest::Input`s.

pub mod imap;
pub mod web;
