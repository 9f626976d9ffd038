//! The one outbound HTTP chokepoint. Every request newswatch makes goes through [`Fetcher`]:
//! timeouts, conditional GET, a body cap applied after decompression, a global and a per-host
//! concurrency limit, `Retry-After`, redirects followed by hand (at most [`MAX_REDIRECTS`]), and
//! the SSRF guard.
//!
//! The guard: URLs that came from a feed (item links) and every redirect hop of any request may
//! only be http(s) and may only reach public addresses. IP literals are checked here; host names
//! are checked by [`GuardedResolver`], which refuses the whole name if any of its addresses is
//! non-public, and whose addresses are the very ones connected to (no second lookup to rebind).
//! A feed URL the user configured may point anywhere on its first hop: that is the user's choice.
//! Environment proxies are never used.

use crate::config::DaemonConfig;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::{Host, Url};

/// The most redirect hops followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// Retry-After values are clamped to this range.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(60);
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Decides which addresses count as public. Injectable so tests can call some loopback
/// addresses "internal" while the fixture server on 127.0.0.1 plays "public".
pub trait AddressPolicy: Send + Sync + std::fmt::Debug {
    fn is_public(&self, ip: IpAddr) -> bool;
}

/// The real policy: everything that is not globally routable unicast is refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnly;

impl AddressPolicy for PublicOnly {
    fn is_public(&self, ip: IpAddr) -> bool {
        is_public_ip(ip)
    }
}

/// Whether an address is globally routable unicast (see RELIABILITY.md's deny list).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240) // reserved 240/4
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible ::a.b.c.d (deprecated, but still routes to the v4 address on some stacks).
    if segments[..6].iter().all(|&s| s == 0) {
        return false;
    }
    // NAT64 64:ff9b::/96 carries a v4 address: judge that.
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6].iter().all(|&s| s == 0) {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from(((hi as u32) << 16) | lo as u32));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site local fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1) // local NAT64
        || segments[0] == 0x2002 // 6to4
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[0] == 0x100 && segments[1..4].iter().all(|&s| s == 0))) // discard-only
}

/// Looks names up. Injectable so tests can map names to loopback addresses.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// Which hosts and addresses URLs from feeds may reach.
#[derive(Debug, Clone)]
pub struct Guard {
    pub policy: Arc<dyn AddressPolicy>,
    /// `allow_private_networks`: the guard is off.
    pub allow_private: bool,
    /// Host names (lower case) or IP literals exempt from the address policy.
    pub allow_hosts: Vec<String>,
}

impl Guard {
    fn exempt(&self, host: &str) -> bool {
        self.allow_private || self.allow_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// Checks a URL that came from a feed or a redirect before any connection is made:
    /// scheme, and the address when the host is an IP literal. Names are checked at resolve time.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme {:?} is not allowed (only http and https)", url.scheme()));
        }
        let ip = match url.host() {
            None => return Err("URL has no host".to_string()),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        };
        if self.exempt(url.host_str().unwrap_or_default()) || self.exempt(&ip.to_string()) {
            return Ok(());
        }
        if self.policy.is_public(ip) { Ok(()) } else { Err(format!("address {ip} is not public")) }
    }
}

/// The resolver's refusal, recognised in the error chain and reported as [`FetchError::Blocked`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// A `reqwest` resolver that refuses a name if any of its addresses is not public.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
    lookup: Arc<dyn Lookup>,
    /// False for the client that makes the first hop to a user-configured feed URL.
    enforce: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let this = self.clone();
        Box::pin(async move {
            let ips = this.lookup.lookup(host.clone()).await?;
            if ips.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if this.enforce
                && !this.guard.exempt(&host)
                && let Some(bad) = ips.iter().find(|ip| !this.guard.policy.is_public(**ip))
            {
                return Err(Refused(format!("{host} resolves to non-public address {bad}")).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// What is being fetched: it decides the size cap, the accepted content types and whether the
/// first hop is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A feed the user configured: its first hop may reach any address.
    Feed,
    /// An article page whose URL came from a feed: every hop is guarded.
    Page,
}

/// Stored validators sent as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful response.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// 304: the stored validators still hold.
    NotModified,
    Body(Box<Body>),
}

/// A 200 response read in full (within the cap).
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The charset parameter of Content-Type, if any.
    pub charset: Option<String>,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// The URL after redirects.
    pub final_url: Url,
}

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} refused by the network guard: {reason}")]
    Blocked { url: String, reason: String },
    #[error("request to {url} failed: {detail}")]
    Request {
        url: String,
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16, retry_after: Option<Duration> },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects { url: String },
    #[error("{url} sent a redirect without a usable Location")]
    BadRedirect { url: String },
    #[error("{url} is {content_type}, not an HTML page")]
    NotHtml { url: String, content_type: String },
}

impl FetchError {
    /// The server's requested wait, when it sent 429/503 with Retry-After (clamped).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A failure to reach the server at all (DNS, connect, timeout), as opposed to an answer we
    /// did not like.
    pub fn is_network(&self) -> bool {
        matches!(self, FetchError::Request { source, .. } if source.is_connect() || source.is_timeout())
    }

    /// A short machine-friendly kind for logs and the feed status.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Blocked { .. } => "blocked",
            FetchError::Request { source, .. } if source.is_timeout() => "timeout",
            FetchError::Request { source, .. } if source.is_connect() => "connect",
            FetchError::Request { .. } => "request",
            FetchError::Status { .. } => "status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::TooManyRedirects { .. } => "redirects",
            FetchError::BadRedirect { .. } => "redirects",
            FetchError::NotHtml { .. } => "not_html",
        }
    }
}

/// Limits and identity for the [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_concurrent: usize,
    pub per_host: usize,
    pub max_feed_bytes: u64,
    pub max_page_bytes: u64,
}

impl FetchSettings {
    pub fn from_config(daemon: &DaemonConfig) -> FetchSettings {
        FetchSettings {
            user_agent: daemon.user_agent.clone(),
            request_timeout: daemon.request_timeout,
            connect_timeout: daemon.connect_timeout,
            read_timeout: daemon.read_timeout,
            max_concurrent: daemon.max_concurrent_fetches,
            per_host: daemon.per_host_concurrency,
            max_feed_bytes: daemon.max_feed_bytes,
            max_page_bytes: daemon.max_page_bytes,
        }
    }
}

/// The HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    /// First hop of a user-configured feed URL.
    trusted: reqwest::Client,
    /// Everything else.
    guarded: reqwest::Client,
    guard: Arc<Guard>,
    settings: Arc<FetchSettings>,
    global: Arc<Semaphore>,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Fetcher {
    /// The production fetcher: system DNS, the public-only policy.
    pub fn new(daemon: &DaemonConfig) -> Result<Fetcher, reqwest::Error> {
        let guard = Guard {
            policy: Arc::new(PublicOnly),
            allow_private: daemon.allow_private_networks,
            allow_hosts: daemon.allow_hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
        };
        Fetcher::with_parts(FetchSettings::from_config(daemon), guard, Arc::new(SystemLookup))
    }

    /// A fetcher with an injected address policy and resolver (tests).
    pub fn with_parts(
        settings: FetchSettings,
        guard: Guard,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Fetcher, reqwest::Error> {
        // rustls needs a process-wide crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = Arc::new(guard);
        let build = |enforce: bool| {
            reqwest::Client::builder()
                .user_agent(settings.user_agent.clone())
                .timeout(settings.request_timeout)
                .connect_timeout(settings.connect_timeout)
                .read_timeout(settings.read_timeout)
                // Redirects are followed by hand so every hop is checked.
                .redirect(reqwest::redirect::Policy::none())
                // Environment proxies could route around the guard.
                .no_proxy()
                .pool_idle_timeout(Duration::from_secs(30))
                .dns_resolver(Arc::new(GuardedResolver {
                    guard: guard.clone(),
                    lookup: lookup.clone(),
                    enforce,
                }))
                .build()
        };
        Ok(Fetcher {
            trusted: build(false)?,
            guarded: build(true)?,
            guard,
            global: Arc::new(Semaphore::new(settings.max_concurrent)),
            settings: Arc::new(settings),
            hosts: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The guard, to check item links before they are queued.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    async fn permits(&self, url: &Url) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host_semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_host))).clone()
        };
        // Neither semaphore is ever closed, so acquiring cannot fail.
        let host_permit = host_semaphore.acquire_owned().await.expect("semaphore never closed");
        let global_permit = self.global.clone().acquire_owned().await.expect("semaphore never closed");
        (host_permit, global_permit)
    }

    /// GETs `url`, following redirects by hand, and reads the body within the cap.
    pub async fn get(
        &self,
        target: Target,
        url: &Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let limit = match target {
            Target::Feed => self.settings.max_feed_bytes,
            Target::Page => self.settings.max_page_bytes,
        };
        let mut current = url.clone();
        for hop in 0..=MAX_REDIRECTS {
            let trusted_hop = hop == 0 && target == Target::Feed;
            if !trusted_hop {
                self.guard
                    .check(&current)
                    .map_err(|reason| FetchError::Blocked { url: current.to_string(), reason })?;
            }
            let client = if trusted_hop { &self.trusted } else { &self.guarded };
            let mut request = client.get(current.clone());
            if target == Target::Feed {
                if let Some(etag) = &validators.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(last_modified) = &validators.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, last_modified);
                }
                request = request.header(
                    reqwest::header::ACCEPT,
                    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
                );
            } else {
                request = request
                    .header(reqwest::header::ACCEPT, "text/html, application/xhtml+xml;q=0.9, */*;q=0.1");
            }
            let _permits = self.permits(&current).await;
            let response = request.send().await.map_err(|source| request_error(&current, source))?;
            let status = response.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|location| current.join(location).ok())
                    .ok_or_else(|| FetchError::BadRedirect { url: current.to_string() })?;
                let mut next = location;
                next.set_fragment(None);
                current = next;
                continue;
            }
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if !status.is_success() {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, Utc::now()));
                return Err(FetchError::Status {
                    url: current.to_string(),
                    status: status.as_u16(),
                    retry_after,
                });
            }
            return read_body(response, &current, target, limit).await;
        }
        Err(FetchError::TooManyRedirects { url: url.to_string() })
    }
}

fn request_error(url: &Url, source: reqwest::Error) -> FetchError {
    let mut cause = std::error::Error::source(&source);
    while let Some(err) = cause {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return FetchError::Blocked { url: url.to_string(), reason: refused.0.clone() };
        }
        cause = err.source();
    }
    // reqwest's own Display hides the cause ("error sending request"); the chain says which.
    let mut detail = source.to_string();
    let mut cause = std::error::Error::source(&source);
    while let Some(err) = cause {
        detail.push_str(": ");
        detail.push_str(&err.to_string());
        cause = err.source();
    }
    FetchError::Request { url: url.to_string(), detail, source }
}

async fn read_body(
    mut response: reqwest::Response,
    url: &Url,
    target: Target,
    limit: u64,
) -> Result<Fetched, FetchError> {
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_string)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let validators = Validators {
        etag: header(reqwest::header::ETAG),
        last_modified: header(reqwest::header::LAST_MODIFIED),
    };
    let mime = content_type
        .as_deref()
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if target == Target::Page
        && let Some(mime) = &mime
    {
        let html_like = mime.is_empty()
            || mime.starts_with("text/")
            || mime.contains("html")
            || mime.contains("xml")
            || mime == "application/octet-stream";
        if !html_like {
            return Err(FetchError::NotHtml { url: url.to_string(), content_type: mime.clone() });
        }
    }
    let charset = content_type.as_deref().and_then(charset_of);
    // A declared length over the cap is refused before reading anything. It may be absent
    // (chunked, or decoded by the client), so the running count below is the real bound.
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(FetchError::TooLarge { url: url.to_string(), limit });
    }
    let mut bytes = Vec::with_capacity(64 * 1024);
    while let Some(chunk) = response.chunk().await.map_err(|source| request_error(url, source))? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            // Dropping the response closes the connection.
            return Err(FetchError::TooLarge { url: url.to_string(), limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(Box::new(Body { bytes, charset, content_type, validators, final_url: url.clone() })))
}

/// The charset parameter of a Content-Type value.
pub fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|value| !value.is_empty())
    })
}

/// Parses `Retry-After` (delta seconds or an HTTP date) and clamps it to
/// [`MIN_RETRY_AFTER`]..=[`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let date = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
        (date - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard { policy: Arc::new(PublicOnly), allow_private: false, allow_hosts: vec![] }
    }

    #[test]
    fn literal_non_public_addresses_are_refused() {
        let guard = guard();
        for url in [
            "http://127.0.0.2/",
            "http://[::ffff:127.0.0.2]/",
            "http://2130706434/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://100.64.0.1/",
            "http://[fd00:ec2::254]/",
            "http://[64:ff9b::7f00:1]/",
            "http://0x7f.1/",
        ] {
            let url = Url::parse(url).unwrap();
            assert!(guard.check(&url).is_err(), "{url} must be refused");
        }
        for url in ["http://93.184.216.34/", "https://[2606:4700::1111]/", "https://example.org/x"] {
            assert!(guard.check(&Url::parse(url).unwrap()).is_ok(), "{url} must pass");
        }
    }

    #[test]
    fn only_http_schemes_pass() {
        let guard = guard();
        for url in [
            "file:///etc/passwd",
            "ftp://example.org/",
            "gopher://example.org/",
            "javascript:alert(1)",
            "data:text/html,x",
        ] {
            assert!(guard.check(&Url::parse(url).unwrap()).is_err(), "{url}");
        }
    }

    #[test]
    fn allow_lists_lift_the_guard() {
        let mut guard = guard();
        guard.allow_hosts = vec!["127.0.0.2".into()];
        assert!(guard.check(&Url::parse("http://127.0.0.2/").unwrap()).is_ok());
        assert!(guard.check(&Url::parse("http://127.0.0.3/").unwrap()).is_err());
        guard.allow_private = true;
        assert!(guard.check(&Url::parse("http://127.0.0.3/").unwrap()).is_ok());
    }

    #[test]
    fn retry_after_parses_seconds_and_dates_and_is_clamped() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("1", now), Some(MIN_RETRY_AFTER));
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:10:00 GMT", now), Some(Duration::from_secs(600)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn charset_is_read_from_content_type() {
        assert_eq!(charset_of("text/html; charset=\"windows-1251\"").as_deref(), Some("windows-1251"));
        assert_eq!(charset_of("application/rss+xml"), None);
    }
}
