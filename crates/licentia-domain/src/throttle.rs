//! Login throttling policy. The counts come from the database (so every web node sees the same
//! attempts); the decision is pure and takes `now`, so tests use a fake clock instead of sleeping.

use chrono::{DateTime, Duration, Utc};

/// Limits on login attempts (and password changes). A locked pair or address is refused *before*
/// its password is evaluated, so the answer during a lock is the same whether or not the password
/// was right.
///
/// Failures lock the *pair* of account and address (OWASP ASVS 5.0 V6.3: an attacker elsewhere must
/// not be able to lock the real user out); the account as a whole is locked only by a
/// distributed attack an order of magnitude larger, and every address is limited on its own.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failed attempts on one account from one address allowed inside `account_window`.
    pub pair_max_failures: u32,
    /// Failed attempts on one account from all addresses together inside `account_window`.
    pub account_max_failures: u32,
    pub account_window: Duration,
    /// Attempts (failed or not) from one address allowed inside `ip_window`.
    pub ip_max_attempts: u32,
    pub ip_window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { pair_max_failures: 10, account_max_failures: 100, account_window: Duration::minutes(15), ip_max_attempts: 30, ip_window: Duration::minutes(1) }
    }
}

/// What the database saw recently for one login attempt's account and address.
#[derive(Debug, Clone, Default)]
pub struct RecentAttempts {
    /// Failures on the account from this address inside the account window, and the oldest.
    pub pair_failures: u32,
    pub oldest_pair_failure: Option<DateTime<Utc>>,
    /// Failures on the account from any address inside the account window, and the oldest of them.
    pub account_failures: u32,
    pub oldest_account_failure: Option<DateTime<Utc>>,
    /// Attempts from the address inside the address window, and the oldest of them.
    pub ip_attempts: u32,
    pub oldest_ip_attempt: Option<DateTime<Utc>>,
}

impl ThrottlePolicy {
    /// `Some(wait)` when the attempt must be refused without looking at the password; `wait` is
    /// how long until the oldest counted attempt leaves its window (at least one second).
    pub fn check(&self, recent: &RecentAttempts, now: DateTime<Utc>) -> Option<Duration> {
        let wait_until = |oldest: Option<DateTime<Utc>>, window: Duration| {
            let until = oldest.map_or(now + window, |t| t + window);
            std::cmp::max(until - now, Duration::seconds(1))
        };
        let pair = (recent.pair_failures >= self.pair_max_failures).then(|| wait_until(recent.oldest_pair_failure, self.account_window));
        let account = (recent.account_failures >= self.account_max_failures).then(|| wait_until(recent.oldest_account_failure, self.account_window));
        let ip = (recent.ip_attempts >= self.ip_max_attempts).then(|| wait_until(recent.oldest_ip_attempt, self.ip_window));
        [pair, account, ip].into_iter().flatten().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
    }

    #[test]
    fn under_the_limits_nothing_is_refused() {
        let p = ThrottlePolicy::default();
        let recent = RecentAttempts { pair_failures: 9, account_failures: 99, ip_attempts: 29, ..Default::default() };
        assert_eq!(p.check(&recent, t(100)), None);
    }

    #[test]
    fn pair_lock_lasts_until_the_oldest_failure_ages_out() {
        let p = ThrottlePolicy::default();
        let recent = RecentAttempts { pair_failures: 10, oldest_pair_failure: Some(t(100)), account_failures: 10, ..Default::default() };
        assert_eq!(p.check(&recent, t(105)), Some(Duration::minutes(10)));
        // Never a zero or negative Retry-After even at the window's edge.
        assert_eq!(p.check(&recent, t(115)), Some(Duration::seconds(1)));
    }

    #[test]
    fn address_limit_applies_independently_and_the_longer_wait_wins() {
        let p = ThrottlePolicy::default();
        let recent =
            RecentAttempts { pair_failures: 10, oldest_pair_failure: Some(t(100)), ip_attempts: 30, oldest_ip_attempt: Some(t(105)), ..Default::default() };
        assert_eq!(p.check(&recent, t(105)), Some(Duration::minutes(10)));
        let only_ip = RecentAttempts { ip_attempts: 30, oldest_ip_attempt: Some(t(105)), ..Default::default() };
        assert_eq!(p.check(&only_ip, t(105)), Some(Duration::minutes(1)));
    }

    /// Ten failures from an attacker's address do not lock the account for the user's own
    /// address; a hundred from everywhere (a distributed attack) do.
    #[test]
    fn failures_elsewhere_do_not_lock_the_user_out() {
        let p = ThrottlePolicy::default();
        let elsewhere = RecentAttempts { pair_failures: 0, account_failures: 10, oldest_account_failure: Some(t(100)), ..Default::default() };
        assert_eq!(p.check(&elsewhere, t(101)), None);
        let distributed = RecentAttempts { account_failures: 100, oldest_account_failure: Some(t(100)), ..Default::default() };
        assert_eq!(p.check(&distributed, t(101)), Some(Duration::minutes(14)));
    }
}
