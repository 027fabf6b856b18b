//! `switchboard queue` and `switchboard suppressed`.

use std::process::ExitCode;

use chrono::Utc;
use serde_json::json;

use super::{load_engine, open_store, store_exit};
use crate::config::Settings;
use crate::ingest::{Input, ingest_batch};

pub(super) async fn queue(
    settings: Settings,
    json: bool,
    site: Option<String>,
    skill: Option<String>,
) -> ExitCode {
    let engine = match load_engine(settings) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    let store = match open_store(&engine.settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let entries = match store.open_tickets().await {
        Ok(entries) => entries,
        Err(e) => return store_exit(&e),
    };
    let entries = entries
        .into_iter()
        .filter(|e| site.as_ref().is_none_or(|s| e.site.as_ref() == Some(s)))
        .filter(|e| skill.as_ref().is_none_or(|k| e.skills.get(k).is_some()))
        .collect();
    let lines = crate::queue::order(
        &engine.rules,
        &engine.settings.desk.ticket_prefix,
        entries,
        Utc::now(),
    );
    if json {
        println!("{}", json!({ "tickets": lines }));
    } else {
        println!(
            "{:<9} {:<9} {:<8} {:<8} {:<10} {:<17} SUBJECT",
            "TICKET", "PRIORITY", "STATUS", "SITE", "AGENT", "DUE"
        );
        for line in &lines {
            println!(
                "{:<9} {:<9} {:<8} {:<8} {:<10} {:<17} {}",
                line.ticket,
                line.effective_priority.as_str(),
                line.entry.status,
                line.entry.site.as_deref().unwrap_or("-"),
                line.entry.agent.as_deref().unwrap_or("-"),
                line.entry.due_at.format("%Y-%m-%d %H:%M"),
                line.entry.subject.chars().take(60).collect::<String>()
            );
        }
    }
    store.close().await;
    ExitCode::SUCCESS
}

pub(super) async fn suppressed(settings: Settings, json: bool, release: Option<i64>) -> ExitCode {
    let engine = match load_engine(settings) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    let store = match open_store(&engine.settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let entries = match store.suppressed().await {
        Ok(entries) => entries,
        Err(e) => return store_exit(&e),
    };
    let prefix = &engine.settings.desk.ticket_prefix;
    if let Some(id) = release {
        let Some(entry) = entries.iter().find(|e| e.id == id) else {
            eprintln!(
                "switchboard: no suppressed message {id}; `switchboard suppressed` lists them"
            );
            return ExitCode::from(super::exit::USAGE);
        };
        if entry.released {
            eprintln!("switchboard: message {id} was already released");
            return ExitCode::FAILURE;
        }
        if entry.reason == crate::pipeline::FIRST_CONTACT_LIMIT {
            // The request is a ticket already; taking it in again would make a second one.
            let ticket = entry.ticket_number.map(|n| format!("{prefix}-{n}"));
            eprintln!(
                "switchboard: message {id} is ticket {}; only its acknowledgement was held back \
                 (first-contact budget). Answer the requester from the ticket, or raise \
                 desk.first_contact_limit / first_contact_limit_per_domain.",
                ticket.as_deref().unwrap_or("-")
            );
            return ExitCode::FAILURE;
        }
        let raw = match entry.raw_id {
            Some(raw_id) => match store.raw_message(raw_id).await {
                Ok(Some(raw)) => raw,
                Ok(None) => Vec::new(),
                Err(e) => return store_exit(&e),
            },
            None => Vec::new(),
        };
        let input = Input {
            raw,
            source_key: Some(format!("release:{id}")),
            received_at: Utc::now(),
            released: true,
            intake: None,
        };
        let outcome = match ingest_batch(&engine, &store, vec![input]).await {
            Ok(outcomes) => outcomes.into_iter().next(),
            Err(e) => return store_exit(&e),
        };
        if let Err(e) = store.mark_released(id, Utc::now()).await {
            return store_exit(&e);
        }
        if let Some(outcome) = outcome {
            let detail = outcome
                .ticket
                .as_deref()
                .or(outcome.reason.as_deref())
                .unwrap_or("-");
            println!("released {id}\t{}\t{detail}", outcome.outcome.as_str());
        }
        store.close().await;
        return ExitCode::SUCCESS;
    }
    for entry in &entries {
        let ticket = entry.ticket_number.map(|n| format!("{prefix}-{n}"));
        if json {
            println!(
                "{}",
                json!({"id": entry.id, "at": entry.at, "from": entry.from, "subject": entry.subject,
                       "reason": entry.reason, "ticket": ticket, "released": entry.released})
            );
        } else {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                entry.id,
                entry.at.format("%Y-%m-%d %H:%M"),
                entry.reason,
                entry.from.as_deref().unwrap_or("-"),
                ticket.as_deref().unwrap_or("-"),
                entry.subject
            );
        }
    }
    store.close().await;
    ExitCode::SUCCESS
}
