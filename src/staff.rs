//! Staff credentials: argon2 password hashes, generated passwords, and API tokens (random,
//! so a SHA-256 digest is enough to store them).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The roles a user or token may have.
pub const ROLES: [&str; 3] = ["receptionist", "agent", "admin"];

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

/// An argon2id PHC string for the password, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    // The salt comes from the operating system's random source.
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether the password matches the stored hash (a damaged hash never matches).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends about the time of one verification, for sign-ins with an unknown name.
pub fn burn_time(password: &str) {
    let _ = hash_password(password);
}

/// A strong password people can type: 20 characters from an unambiguous alphabet.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A new API token (`sb_` and 32 random bytes in hex) and the digest to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("sb_{}", hex::encode(bytes));
    let digest = token_digest(&token);
    (token, digest)
}

/// The stored form of a token.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_only_its_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn generated_secrets_are_long_and_different() {
        assert_eq!(new_password().len(), 20);
        assert_ne!(new_password(), new_password());
        let (token, digest) = new_token();
        assert_eq!(token.len(), 67);
        assert_eq!(token_digest(&token), digest);
    }
}
