//! Which client address a request is attributed to, for the abuse limits.
//!
//! The peer's own address, unless the peer is one of `--trusted-proxy`: then the nearest
//! address in `X-Forwarded-For` that is not itself a trusted proxy (the left-most entries are
//! whatever the client chose to send, so they are never believed).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::routes::error::ApiError;
use crate::state::AppState;

/// The address a request is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// `peer`'s address, or the forwarded one when `peer` is trusted. Addresses are compared
    /// in canonical form: a listener on `[::]` sees IPv4 peers as IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`), which are the same hosts as `10.0.0.1`.
    pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> Self {
        let peer = peer.to_canonical();
        let trusted_is = |address: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *address);
        if !trusted_is(&peer) {
            return Self(peer);
        }
        let hops = forwarded_for
            .into_iter()
            .flat_map(|header| header.split(','))
            .map(str::trim)
            .rev();
        for hop in hops {
            match hop.parse::<IpAddr>().map(|address| address.to_canonical()) {
                Ok(address) if trusted_is(&address) => continue,
                Ok(address) => return Self(address),
                // An unreadable entry: nothing further left can be believed.
                Err(_) => break,
            }
        }
        Self(peer)
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no peer address: serve with connect info")))?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self::resolve(
            peer,
            Some(forwarded.as_str()).filter(|f| !f.is_empty()),
            &state.settings.trusted_proxy,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = [ip("10.0.0.1")];
        assert_eq!(
            ClientAddr::resolve(ip("1.2.3.4"), Some("9.9.9.9"), &proxy).0,
            ip("1.2.3.4")
        );
        assert_eq!(
            ClientAddr::resolve(ip("10.0.0.1"), Some("9.9.9.9"), &proxy).0,
            ip("9.9.9.9")
        );
        // A client's own forged entries sit left of the address the proxy saw.
        assert_eq!(
            ClientAddr::resolve(ip("10.0.0.1"), Some("6.6.6.6, 9.9.9.9"), &proxy).0,
            ip("9.9.9.9")
        );
        assert_eq!(
            ClientAddr::resolve(ip("10.0.0.1"), Some("9.9.9.9, 10.0.0.1"), &proxy).0,
            ip("9.9.9.9")
        );
        assert_eq!(
            ClientAddr::resolve(ip("10.0.0.1"), Some("junk"), &proxy).0,
            ip("10.0.0.1")
        );
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), None, &proxy).0, ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_and_hops_are_the_ipv4_hosts() {
        // A listener on [::] sees the proxy 10.0.0.1 as ::ffff:10.0.0.1.
        let proxy = [ip("10.0.0.1")];
        assert_eq!(
            ClientAddr::resolve(ip("::ffff:10.0.0.1"), Some("9.9.9.9"), &proxy).0,
            ip("9.9.9.9")
        );
        assert_eq!(
            ClientAddr::resolve(ip("::ffff:10.0.0.1"), Some("::ffff:9.9.9.9, ::ffff:10.0.0.1"), &proxy).0,
            ip("9.9.9.9")
        );
        // And a proxy configured by its mapped form is the same proxy.
        assert_eq!(
            ClientAddr::resolve(ip("10.0.0.1"), Some("9.9.9.9"), &[ip("::ffff:10.0.0.1")]).0,
            ip("9.9.9.9")
        );
        assert_eq!(ClientAddr::resolve(ip("::ffff:1.2.3.4"), None, &proxy).0, ip("1.2.3.4"));
    }
}
