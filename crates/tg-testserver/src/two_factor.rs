//! The 2FA password check (`account.getPassword`, `auth.checkPassword`),
//! with the SRP parameters Telegram uses: its published 2048-bit safe prime
//! with g = 3, which grammers checks before it answers.
//!
//! grammers takes the server's `secure_random` as its secret `a`. The
//! server knows it, so it verifies exactly: it computes what a client that
//! knows the password sends, with grammers' public `calculate_2fa`, and
//! compares `A` and `M1` byte for byte.

use grammers_tl_types as tl;
use num_bigint::BigUint;

/// Telegram's SRP prime, big endian.
const PRIME_HEX: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";
const G: i32 = 3;

fn prime() -> Vec<u8> {
    (0..PRIME_HEX.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&PRIME_HEX[i..i + 2], 16).ok())
        .collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// One password challenge, kept until the answer comes.
#[derive(Clone)]
pub struct Challenge {
    pub srp_id: i64,
    salt1: Vec<u8>,
    salt2: Vec<u8>,
    srp_b: Vec<u8>,
    secure_random: Vec<u8>,
}

impl Challenge {
    pub fn new() -> Self {
        let p = BigUint::from_bytes_be(&prime());
        let b = BigUint::from_bytes_be(&random_bytes(256));
        let srp_b = BigUint::from(G as u32).modpow(&b, &p).to_bytes_be();
        Self {
            srp_id: rand::random::<i64>() & i64::MAX,
            salt1: random_bytes(8),
            salt2: random_bytes(16),
            srp_b,
            secure_random: random_bytes(256),
        }
    }

    fn algo(&self) -> tl::enums::PasswordKdfAlgo {
        tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
            tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
                salt1: self.salt1.clone(),
                salt2: self.salt2.clone(),
                g: G,
                p: prime(),
            },
        )
    }

    /// `account.password` for an account with a password.
    pub fn password(&self, hint: Option<String>) -> tl::enums::account::Password {
        tl::enums::account::Password::Password(tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password: true,
            current_algo: Some(self.algo()),
            srp_b: Some(self.srp_b.clone()),
            srp_id: Some(self.srp_id),
            hint,
            email_unconfirmed_pattern: None,
            new_algo: self.algo(),
            new_secure_algo: tl::enums::SecurePasswordKdfAlgo::Unknown,
            secure_random: self.secure_random.clone(),
            pending_reset_date: None,
            login_email_pattern: None,
        })
    }

    /// Whether the client's `A` and `M1` are what the password gives.
    pub fn verify(&self, password: &str, a: &[u8], m1: &[u8]) -> bool {
        let (expected_m1, expected_a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &self.salt1,
            &self.salt2,
            &prime(),
            &G,
            self.srp_b.clone(),
            self.secure_random.clone(),
            password,
        );
        expected_m1.as_slice() == m1 && expected_a.as_slice() == a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prime_and_generator_pass_grammers_own_check() {
        assert!(grammers_crypto::two_factor_auth::check_p_and_g(
            &prime(),
            &G
        ));
    }

    #[test]
    fn only_the_right_password_verifies() {
        let challenge = Challenge::new();
        let (m1, a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &challenge.salt1,
            &challenge.salt2,
            &prime(),
            &G,
            challenge.srp_b.clone(),
            challenge.secure_random.clone(),
            "hunter2",
        );
        assert!(challenge.verify("hunter2", &a, &m1));
        assert!(!challenge.verify("hunter3", &a, &m1));
    }
}
