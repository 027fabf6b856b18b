//! `switchboard user …` and `switchboard token add`: who may sign in and call the API.

use std::io::Read;
use std::process::ExitCode;

use chrono::Utc;

use super::{exit, open_store};
use crate::config::Settings;
use crate::staff::{ROLES, hash_password, new_password, new_token};

fn check_role(role: &str, extra: &[&str]) -> Result<(), ExitCode> {
    if ROLES.contains(&role) || extra.contains(&role) {
        return Ok(());
    }
    eprintln!(
        "switchboard: unknown role \"{role}\"; use one of: {}",
        ROLES
            .iter()
            .chain(extra)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Err(ExitCode::from(exit::USAGE))
}

fn check_name(name: &str) -> Result<(), ExitCode> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        eprintln!(
            "switchboard: \"{name}\" cannot be a name: use letters, digits, '.', '-', '_' or '@' (at most 64)"
        );
        Err(ExitCode::from(exit::USAGE))
    }
}

/// `user add NAME --role ROLE [--password-stdin]`: without `--password-stdin`, a strong
/// password is made and printed once.
pub(super) async fn add(
    settings: Settings,
    name: &str,
    role: &str,
    password_stdin: bool,
) -> ExitCode {
    if let Err(code) = check_role(role, &[]).and_then(|()| check_name(name)) {
        return code;
    }
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("switchboard: cannot read the password from stdin: {e}");
            return ExitCode::from(exit::USAGE);
        }
        let password = text.trim_end_matches(['\r', '\n']).to_owned();
        if password.chars().count() < 10 {
            eprintln!("switchboard: the password must have at least 10 characters");
            return ExitCode::from(exit::USAGE);
        }
        (password, false)
    } else {
        (new_password(), true)
    };
    let hash = match hash_password(&password) {
        Ok(hash) => hash,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match open_store(&settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let added = store.add_user(name, role, &hash, Utc::now()).await;
    store.close().await;
    match added {
        Ok(true) => {
            if generated {
                println!("{password}");
                eprintln!(
                    "switchboard: user {name} ({role}) added; the password above is shown only once"
                );
            } else {
                eprintln!("switchboard: user {name} ({role}) added");
            }
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("switchboard: user {name} exists already (remove it first to change it)");
            ExitCode::FAILURE
        }
        Err(e) => super::store_exit(&e),
    }
}

/// `user list`.
pub(super) async fn list(settings: Settings) -> ExitCode {
    let store = match open_store(&settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let users = store.users().await;
    store.close().await;
    match users {
        Ok(users) => {
            for user in users {
                println!("{}\t{}\t{}", user.name, user.role, user.created_at);
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::store_exit(&e),
    }
}

/// `user remove NAME`.
pub(super) async fn remove(settings: Settings, name: &str) -> ExitCode {
    let store = match open_store(&settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let removed = store.remove_user(name).await;
    store.close().await;
    match removed {
        Ok(true) => {
            eprintln!("switchboard: user {name} removed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("switchboard: there is no user {name}");
            ExitCode::FAILURE
        }
        Err(e) => super::store_exit(&e),
    }
}

/// `token add NAME --role ROLE`: prints the token alone on stdout, once.
pub(super) async fn add_token(settings: Settings, name: &str, role: &str) -> ExitCode {
    if let Err(code) = check_role(role, &[]).and_then(|()| check_name(name)) {
        return code;
    }
    let store = match open_store(&settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (token, digest) = new_token();
    let added = store.add_token(name, role, &digest, Utc::now()).await;
    store.close().await;
    match added {
        Ok(true) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("switchboard: a token named {name} exists already");
            ExitCode::FAILURE
        }
        Err(e) => super::store_exit(&e),
    }
}
