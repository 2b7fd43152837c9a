//! Limits against hostile or broken clients, on the listener itself: connections in total and
//! per client IP. Each open TCP connection (and the chat session it becomes) holds a
//! [`ConnectionPermit`]; dropping the last clone frees the slot.
//!
//! A connection from a trusted proxy is admitted under no address (it carries many clients);
//! the chat session it becomes is counted under its client's address by
//! [`ConnectionPermit::attributed_to`] (`http_server/client_address.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_ip: usize,
    // std Mutex: never held across .await; one map update per connection open/close.
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Addresses with at least one open connection (an address leaves when its last closes).
    by_ip: HashMap<IpAddr, usize>,
}

/// The per-address table is not shrunk below room for this many addresses.
const MIN_ADDRESSES: usize = 64;

impl Counts {
    /// Gives the table's memory back once it is less than a quarter full, so that a burst of
    /// clients from many addresses does not keep its table after they have gone (halving it
    /// at a time keeps this amortised O(1) per connection).
    fn shrink_if_sparse(&mut self) {
        let keep = (self.by_ip.len() * 2).max(MIN_ADDRESSES);
        if self.by_ip.capacity() > 2 * keep {
            self.by_ip.shrink_to(keep);
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyConnections,
    TooManyFromThisAddress,
}

/// One admitted connection; cloned into whatever outlives the HTTP exchange (a chat session).
/// Its only job is to be dropped.
#[derive(Debug, Clone)]
pub struct ConnectionPermit(#[allow(dead_code)] Arc<PermitInner>);

#[derive(Debug)]
struct PermitInner {
    limiter: Arc<ConnectionLimiter>,
    /// Counted in the total (the connection's own permit; not an attribution).
    in_total: bool,
    /// The address it is counted under, if any.
    ip: Option<IpAddr>,
    /// An attribution keeps the connection's permit it was made from.
    _connection: Option<ConnectionPermit>,
}

impl Drop for PermitInner {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        if self.in_total {
            open.total = open.total.saturating_sub(1);
        }
        if let Some(ip) = self.ip {
            if let Some(n) = open.by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.by_ip.remove(&ip);
                    open.shrink_if_sparse();
                }
            }
        }
    }
}

impl ConnectionPermit {
    /// This connection counted under `ip` as well, if it is not yet counted under any
    /// address: the permit to hold instead of this one (it keeps this one). A connection
    /// already counted under an address is returned as it is.
    pub fn attributed_to(&self, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        if self.0.ip.is_some() {
            return Ok(self.clone());
        }
        let limiter = &self.0.limiter;
        let mut open = limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = open.by_ip.entry(ip).or_insert(0);
        if *from_ip >= limiter.max_per_ip {
            return Err(Refusal::TooManyFromThisAddress);
        }
        *from_ip += 1;
        Ok(ConnectionPermit(Arc::new(PermitInner {
            limiter: limiter.clone(),
            in_total: false,
            ip: Some(ip),
            _connection: Some(self.clone()),
        })))
    }
}

impl ConnectionLimiter {
    /// `0` means "no limit" for either value.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionLimiter> {
        Arc::new(ConnectionLimiter {
            max_total: if max_total == 0 {
                usize::MAX
            } else {
                max_total
            },
            max_per_ip: if max_per_ip == 0 {
                usize::MAX
            } else {
                max_per_ip
            },
            open: Mutex::new(Counts::default()),
        })
    }

    /// Admits a connection, counted in the total and under `ip` (none: under no address,
    /// for a trusted proxy's connection).
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionPermit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        if let Some(ip) = ip {
            let from_ip = open.by_ip.entry(ip).or_insert(0);
            if *from_ip >= self.max_per_ip {
                return Err(Refusal::TooManyFromThisAddress);
            }
            *from_ip += 1;
        }
        open.total += 1;
        Ok(ConnectionPermit(Arc::new(PermitInner {
            limiter: self.clone(),
            in_total: true,
            ip,
            _connection: None,
        })))
    }

    pub fn open_connections(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_total_and_per_address_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = limiter.admit(Some(a)).unwrap();
        let _p2 = limiter.admit(Some(a)).unwrap();
        assert_eq!(
            limiter.admit(Some(a)).unwrap_err(),
            Refusal::TooManyFromThisAddress
        );
        let _p3 = limiter.admit(Some(b)).unwrap();
        assert_eq!(
            limiter.admit(Some(b)).unwrap_err(),
            Refusal::TooManyConnections
        );
        let clone = p1.clone();
        drop(p1);
        assert_eq!(limiter.open_connections(), 3, "a clone keeps the slot");
        drop(clone);
        assert_eq!(limiter.open_connections(), 2);
        assert!(limiter.admit(Some(b)).is_ok());
    }

    #[test]
    fn a_proxied_connection_counts_under_its_clients_address_once_attributed() {
        let limiter = ConnectionLimiter::new(10, 1);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        // Two connections from the proxy: neither counts under an address.
        let first = limiter.admit(None).unwrap();
        let second = limiter.admit(None).unwrap();
        let session = first.attributed_to(client).unwrap();
        assert_eq!(
            second.attributed_to(client).unwrap_err(),
            Refusal::TooManyFromThisAddress
        );
        assert!(second.attributed_to(other).is_ok());
        // The session keeps the connection's slot in the total, and its address.
        drop(first);
        assert_eq!(limiter.open_connections(), 2);
        drop(session);
        assert_eq!(limiter.open_connections(), 1);
        let again = limiter.admit(None).unwrap();
        assert!(again.attributed_to(client).is_ok(), "the address was freed");
        // A connection already counted under an address is not counted twice.
        let direct = limiter.admit(Some(other)).unwrap();
        assert!(direct.attributed_to(client).is_ok());
    }

    /// Addresses leave the table with their last connection, and the table's memory goes
    /// with them after a burst from many addresses.
    #[test]
    fn the_address_table_empties_and_shrinks_after_a_burst() {
        let limiter = ConnectionLimiter::new(0, 0);
        let permits: Vec<ConnectionPermit> = (0..20_000u32)
            .map(|i| {
                limiter
                    .admit(Some(IpAddr::V4(std::net::Ipv4Addr::from(
                        (10u32 << 24) | i,
                    ))))
                    .unwrap()
            })
            .collect();
        let burst = limiter.open.lock().unwrap().by_ip.capacity();
        assert!(burst >= 20_000);
        drop(permits);
        let open = limiter.open.lock().unwrap();
        assert_eq!((open.total, open.by_ip.len()), (0, 0));
        assert!(
            open.by_ip.capacity() <= 2 * MIN_ADDRESSES,
            "room for {} addresses kept after a burst of {burst}",
            open.by_ip.capacity()
        );
    }
}
