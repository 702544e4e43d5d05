//! mDNS (DNS-SD) advertisement: while `serve` runs with `MCP_MDNS_ENABLED=true`, the server announces
//! itself on the local network as `<MCP_MDNS_SERVICE_NAME>._mcp-memory._tcp.local.` with the original's
//! TXT records, and sends goodbye packets when it shuts down.
//!
//! Off unless enabled, unlike the original: a memory server should not announce itself on every network its
//! machine joins. The announcement names only addresses the server listens on: the interfaces' addresses
//! for `0.0.0.0` (IPv4) or `::` (both families), the bound address otherwise, and nothing at all for a
//! loopback address, which no other machine can reach. Failing to advertise never stops the server.

use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo, UnregisterStatus};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The host name the SRV record points to, the original's.
const HOST_NAME: &str = "mcp-memory-service.local.";

/// How long shutdown waits for the goodbye packets, and then for the daemon to stop.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// What to announce: the configured names and the running server's facts.
#[derive(Clone, Debug)]
pub struct Announcement {
    /// The instance name (`MCP_MDNS_SERVICE_NAME`).
    pub instance: String,
    /// The service type as configured (`MCP_MDNS_SERVICE_TYPE`), with or without `.local.`.
    pub service_type: String,
    /// The address the listener is bound to.
    pub bound: SocketAddr,
    pub https: bool,
    /// Whether a request without credentials is refused.
    pub auth_required: bool,
}

/// Which addresses an announcement names, from the address the server is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Every interface but loopback: IPv4 only for a `0.0.0.0` listener, both families for `::` (which
    /// accepts IPv4 too on Linux by default).
    AllInterfaces { ipv6: bool },
    /// The one address the server is bound to.
    Address(IpAddr),
    /// Nothing: a loopback listener is reachable from this machine only.
    Loopback,
}

/// The scope of a server bound to `bound`.
fn scope(bound: IpAddr) -> Scope {
    match bound {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => scope(v6.to_canonical()),
        ip if ip.is_loopback() => Scope::Loopback,
        IpAddr::V4(v4) if v4.is_unspecified() => Scope::AllInterfaces { ipv6: false },
        IpAddr::V6(v6) if v6.is_unspecified() => Scope::AllInterfaces { ipv6: true },
        ip => Scope::Address(ip),
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::AllInterfaces { ipv6: false } => f.write_str("the IPv4 addresses of every interface but loopback"),
            Scope::AllInterfaces { ipv6: true } => f.write_str("the addresses of every interface but loopback"),
            Scope::Address(ip) => write!(f, "{ip}"),
            Scope::Loopback => f.write_str("none (loopback)"),
        }
    }
}

/// The fully qualified service type mDNS needs: `_x._tcp` and `_x._tcp.local` get the `.local.` domain.
fn service_type(configured: &str) -> String {
    let trimmed = configured.trim().trim_end_matches('.');
    let bare = trimmed.strip_suffix(".local").unwrap_or(trimmed);
    format!("{bare}.local.")
}

/// The original's TXT records: the API's version, paths, and how to call it.
fn txt_records(https: bool, auth_required: bool) -> Vec<(&'static str, String)> {
    vec![
        ("api_version", env!("CARGO_PKG_VERSION").to_string()),
        ("https", https.to_string()),
        ("auth_required", auth_required.to_string()),
        ("api_path", "/api".to_string()),
        ("sse_path", "/api/events".to_string()),
        ("docs_path", "/api/docs".to_string()),
    ]
}

/// A running advertisement. [`Advertisement::withdraw`] says goodbye; dropping it stops the daemon, which
/// says goodbye too, without waiting.
pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
}

/// Starts advertising, or logs why not: a loopback listener is not announced, and a failure to start mDNS
/// is a warning, never an error.
pub fn start(announcement: &Announcement) -> Option<Advertisement> {
    let scope = scope(announcement.bound.ip());
    if scope == Scope::Loopback {
        tracing::warn!(
            host = %announcement.bound.ip(),
            "MCP_MDNS_ENABLED is set but the server listens on loopback, which no other machine can reach: \
             nothing is advertised (set MCP_HTTP_HOST to 0.0.0.0 or a LAN address)"
        );
        return None;
    }
    match advertise(announcement, scope) {
        Ok(advertisement) => {
            tracing::info!(
                name = %advertisement.fullname,
                port = announcement.bound.port(),
                addresses = %scope,
                "advertising over mDNS"
            );
            Some(advertisement)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot advertise over mDNS; serving without it");
            None
        }
    }
}

/// Starts a daemon on the scope's interfaces and registers the service with it.
fn advertise(announcement: &Announcement, scope: Scope) -> Result<Advertisement, mdns_sd::Error> {
    // Built first so that an error below drops it, which stops the daemon.
    let mut advertisement = Advertisement { daemon: ServiceDaemon::new()?, fullname: String::new() };
    select_interfaces(&advertisement.daemon, scope)?;
    let ty = service_type(&announcement.service_type);
    let txt = txt_records(announcement.https, announcement.auth_required);
    let port = announcement.bound.port();
    let info = match scope {
        Scope::Address(ip) => ServiceInfo::new(&ty, &announcement.instance, HOST_NAME, ip, port, txt.as_slice())?,
        // The daemon fills in (and keeps up to date) the addresses of the interfaces it selected.
        _ => ServiceInfo::new(&ty, &announcement.instance, HOST_NAME, (), port, txt.as_slice())?.enable_addr_auto(),
    };
    advertisement.fullname = info.get_fullname().to_string();
    log_events(&advertisement.daemon)?;
    advertisement.daemon.register(info)?;
    Ok(advertisement)
}

/// Limits the daemon to the scope's interfaces. It starts on every interface; selections apply in order.
fn select_interfaces(daemon: &ServiceDaemon, scope: Scope) -> Result<(), mdns_sd::Error> {
    match scope {
        Scope::AllInterfaces { ipv6: false } => daemon.disable_interface(vec![IfKind::IPv6, IfKind::LoopbackV4]),
        Scope::AllInterfaces { ipv6: true } => daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6]),
        Scope::Address(ip) => {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(ip))
        }
        Scope::Loopback => daemon.disable_interface(IfKind::All),
    }
}

/// Logs what the daemon reports (errors such as a socket it cannot open, and renames after a name
/// conflict) until it stops.
fn log_events(daemon: &ServiceDaemon) -> Result<(), mdns_sd::Error> {
    let events = daemon.monitor()?;
    tokio::spawn(async move {
        while let Ok(event) = events.recv_async().await {
            match event {
                DaemonEvent::Error(error) => tracing::warn!(%error, "mDNS"),
                DaemonEvent::NameChange(change) => tracing::warn!(
                    from = %change.original,
                    to = %change.new_name,
                    "mDNS: another device on the network uses this name; advertising under a new one"
                ),
                DaemonEvent::Announce(name, addresses) => tracing::debug!(%name, %addresses, "mDNS announced"),
                _ => {}
            }
        }
    });
    Ok(())
}

impl Advertisement {
    /// Withdraws the service (goodbye packets, so browsers forget it at once) and stops the daemon.
    pub async fn withdraw(self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(status) => match tokio::time::timeout(GOODBYE_WAIT, status.recv_async()).await {
                Ok(Ok(UnregisterStatus::OK)) => tracing::info!(name = %self.fullname, "mDNS advertisement withdrawn"),
                Ok(Ok(UnregisterStatus::NotFound)) => {
                    tracing::warn!(name = %self.fullname, "mDNS: nothing to withdraw")
                }
                Ok(Err(_)) | Err(_) => tracing::warn!(name = %self.fullname, "mDNS: no goodbye confirmed"),
            },
            Err(error) => tracing::warn!(%error, "mDNS: cannot withdraw the advertisement"),
        }
        if let Ok(stopped) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(GOODBYE_WAIT, stopped.recv_async()).await;
        }
    }
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        // After `withdraw` the daemon has stopped already and this fails, harmlessly.
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn the_scope_follows_the_bound_address() {
        assert_eq!(scope(Ipv4Addr::UNSPECIFIED.into()), Scope::AllInterfaces { ipv6: false });
        assert_eq!(scope(Ipv6Addr::UNSPECIFIED.into()), Scope::AllInterfaces { ipv6: true });
        for loopback in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(scope(loopback.parse().expect("an address")), Scope::Loopback, "{loopback}");
        }
        let lan: IpAddr = "192.168.1.20".parse().expect("an address");
        assert_eq!(scope(lan), Scope::Address(lan));
        assert_eq!(scope("::ffff:192.168.1.20".parse().expect("an address")), Scope::Address(lan));
        let v6: IpAddr = "fd00::20".parse().expect("an address");
        assert_eq!(scope(v6), Scope::Address(v6));
    }

    #[test]
    fn the_service_type_gets_the_local_domain_once() {
        for configured in
            ["_mcp-memory._tcp.local.", "_mcp-memory._tcp.local", "_mcp-memory._tcp", " _mcp-memory._tcp. "]
        {
            assert_eq!(service_type(configured), "_mcp-memory._tcp.local.", "{configured:?}");
        }
    }

    #[test]
    fn txt_records_are_the_originals() {
        let records = txt_records(false, true);
        let keys: Vec<&str> = records.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["api_version", "https", "auth_required", "api_path", "sse_path", "docs_path"]);
        let value = |key: &str| records.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(value("api_version"), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(value("https"), Some("false"));
        assert_eq!(value("auth_required"), Some("true"));
        assert_eq!(value("api_path"), Some("/api"));
        assert_eq!(value("sse_path"), Some("/api/events"));
        assert_eq!(value("docs_path"), Some("/api/docs"));
        let flipped = txt_records(true, false);
        assert!(flipped.contains(&("https", "true".into())) && flipped.contains(&("auth_required", "false".into())));
    }

    #[test]
    fn every_txt_record_builds_a_service() {
        let txt = txt_records(true, true);
        let info = ServiceInfo::new(
            &service_type("_mcp-memory._tcp"),
            "MCP Memory Service",
            HOST_NAME,
            "192.168.1.20",
            8000,
            txt.as_slice(),
        )
        .expect("a valid service");
        assert_eq!(info.get_fullname(), "MCP Memory Service._mcp-memory._tcp.local.");
        assert_eq!(info.get_property_val_str("sse_path"), Some("/api/events"));
    }
}
