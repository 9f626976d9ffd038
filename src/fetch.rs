//! The one outbound HTTP chokepoint. Every request newswatch makes goes through [`Fetcher`]:
//! timeouts (connect, idle read, and one total deadline shared by every redirect hop),
//! conditional GET, a body cap applied after decompression, a global and a per-host concurrency
//! limit, a per-host request-rate limit, robots.txt for article pages, `Retry-After`, a feed
//! response's freshness (`Cache-Control: max-age`, `Expires`) for the poll schedule, redirects
//! followed by hand (at most [`MAX_REDIRECTS`]), and the SSRF guard.
//!
//! The guard: URLs that came from a feed (item links) and every redirect hop of any request may
//! only be http(s) and may only reach public addresses. IP literals are checked here; host names
//! are checked by [`GuardedResolver`], which refuses the whole name if any of its addresses is
//! non-public, and whose addresses are the very ones connected to (no second lookup to rebind).
//! A feed URL the user configured may point anywhere on its first hop: that is the user's choice.
//! Credentials in a URL (`user:pass@`) are only ever sent on that first hop too. Environment
//! proxies are never used.
//!
//! Politeness: robots.txt is fetched once per origin (through this same guard, caps and limits),
//! cached for [`ROBOTS_TTL`], and consulted for article pages only; feeds the user subscribed to
//! are exempt. A robots.txt that is missing, fails, times out or is too large allows everything.
//! A host that let a request time out (or refused connections) waits in a small pool of its
//! own for a while, so a crowd of hanging hosts cannot hold every global slot while healthy
//! hosts queue behind them.
//!
//! This module never parses feeds or HTML and never writes state.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::debug;
use url::{Host, Url};

/// The most redirect hops followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// Retry-After values are clamped to this range.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest a server's Retry-After can keep us away.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a fetched robots.txt is trusted.
pub const ROBOTS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a robots.txt that could not be had (timeout, 5xx, too large) counts as "allow all"
/// before it is asked for again: shorter than [`ROBOTS_TTL`] so a host that recovers is honoured
/// soon, long enough that a host whose robots.txt hangs does not cost a timeout per page.
pub const ROBOTS_FAILURE_TTL: Duration = Duration::from_secs(60 * 60);
/// The most robots.txt bytes read; RFC 9309 asks parsers to handle at least 500 KiB.
pub const MAX_ROBOTS_BYTES: u64 = 512 * 1024;
/// The robots.txt product token used when the user agent has none.
pub const ROBOTS_TOKEN: &str = "newswatch";
/// Per-host bookkeeping (semaphores, rate state, robots.txt) is pruned beyond this many hosts, so
/// a stream of links to ever new hosts cannot grow memory without bound.
const MAX_TRACKED_HOSTS: usize = 4096;
/// How long a host that let a request time out (or could not be connected to) counts as
/// unresponsive: its requests then wait in the small unresponsive pool, not the global one.
const UNRESPONSIVE_FOR: Duration = Duration::from_secs(30 * 60);

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

/// The system's DNS configuration (`/etc/resolv.conf`, `/etc/hosts`), queried asynchronously by
/// hickory-resolver: no blocking thread per look-up (getaddrinfo runs on tokio's blocking pool,
/// where a thousand look-ups mean hundreds of threads that outlive their timeouts), a cache of
/// its own, and a look-up that is dropped is cancelled. Where the system configuration cannot be
/// read, getaddrinfo is used instead.
#[derive(Clone)]
pub struct SystemLookup {
    resolver: Option<hickory_resolver::TokioResolver>,
}

impl std::fmt::Debug for SystemLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemLookup").field("async_resolver", &self.resolver.is_some()).finish()
    }
}

impl SystemLookup {
    /// The resolver of the system's DNS configuration.
    pub fn new() -> SystemLookup {
        match hickory_resolver::TokioResolver::builder_tokio() {
            Ok(builder) => SystemLookup { resolver: Some(builder.build()) },
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the system's DNS configuration; using getaddrinfo");
                SystemLookup { resolver: None }
            }
        }
    }
}

impl Default for SystemLookup {
    fn default() -> SystemLookup {
        SystemLookup::new()
    }
}

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let resolver = self.resolver.clone();
        Box::pin(async move {
            match resolver {
                Some(resolver) => {
                    let found = resolver.lookup_ip(host.as_str()).await.map_err(std::io::Error::other)?;
                    Ok(found.iter().collect())
                }
                None => {
                    let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
                    Ok(addrs.map(|addr| addr.ip()).collect())
                }
            }
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
#[derive(Debug)]
pub enum Fetched {
    /// 304: the stored validators still hold.
    NotModified,
    Body(Box<Body>),
}

/// A 200 response read in full (within the cap).
#[derive(Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The charset parameter of Content-Type, if any.
    pub charset: Option<String>,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// The URL after redirects.
    pub final_url: Url,
    /// This body's share of the process-wide body budget, returned when the body is dropped.
    _budget: Option<OwnedSemaphorePermit>,
}

/// The most response-body bytes held in memory at once, over all requests (raised to twice the
/// largest cap when caps are configured larger). With the default caps a flood of huge bodies
/// costs at most this much plus what parsing them takes, not `max_concurrent_fetches` × cap.
pub const BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// The budget is counted in KiB so a u32 permit count covers it.
const BUDGET_UNIT: usize = 1024;

/// Permits from the body budget covering one buffer's capacity.
struct BodyBudget<'a> {
    semaphore: &'a Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
}

impl<'a> BodyBudget<'a> {
    fn new(semaphore: &'a Arc<Semaphore>) -> BodyBudget<'a> {
        BodyBudget { semaphore, permit: None, units: 0 }
    }

    /// Waits until `capacity` bytes are covered.
    async fn cover(&mut self, capacity: usize) {
        let wanted = capacity.div_ceil(BUDGET_UNIT);
        if wanted <= self.units {
            return;
        }
        let more = u32::try_from(wanted - self.units).unwrap_or(u32::MAX);
        // The semaphore is never closed, and no single body can want more than the whole
        // budget (it is at least twice the largest cap), so this cannot fail or wait forever.
        let Ok(permit) = self.semaphore.clone().acquire_many_owned(more).await else { return };
        self.units += more as usize;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
    }
}

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} refused by the network guard: {reason}")]
    Blocked { url: String, reason: String },
    #[error("request to {url} failed: {detail}")]
    Request {
        url: String,
        /// What went wrong, from reqwest's chain of causes, on one line.
        detail: String,
        /// Kept for its kind (timeout, connect); its text is already in `detail`.
        cause: reqwest::Error,
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
    #[error("{url} is disallowed by the site's robots.txt")]
    RobotsDisallowed { url: String },
    #[error("{url} did not finish within {}s", timeout.as_secs_f32())]
    Timeout { url: String, timeout: Duration },
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
        matches!(self, FetchError::Timeout { .. })
            || (matches!(self, FetchError::Request { cause, .. } if cause.is_connect() || cause.is_timeout())
                && !self.is_refused())
    }

    /// Whether the server's host refused the connection: it answered (with a reset), so the
    /// network works and the fault is that server's.
    pub fn is_refused(&self) -> bool {
        let FetchError::Request { cause, .. } = self else { return false };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause);
        while let Some(err) = source {
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
            {
                return true;
            }
            source = err.source();
        }
        false
    }

    /// What went wrong in a few words, for a log line or the feed table: the URL is already
    /// known to the reader (logs carry it in the feed's span), so it is not repeated.
    pub fn summary(&self) -> String {
        let host_port = |url: &str| {
            Url::parse(url)
                .ok()
                .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?)))
                .unwrap_or_else(|| url.to_string())
        };
        let host = |url: &str| {
            Url::parse(url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_string))
                .unwrap_or_else(|| url.to_string())
        };
        match self {
            FetchError::Blocked { reason, .. } => format!("refused by the network guard: {reason}"),
            FetchError::Request { url, .. } if self.is_refused() => {
                format!("connection refused by {}", host_port(url))
            }
            FetchError::Request { url, cause, .. } if cause.is_timeout() => {
                format!("{} did not answer in time", host_port(url))
            }
            FetchError::Request { url, detail, .. }
                if detail.contains("dns error") || detail.contains("resolv") =>
            {
                format!("cannot resolve {} (no address found)", host(url))
            }
            FetchError::Request { detail, .. } => crate::text::truncate_chars(detail, 160),
            FetchError::Status { status, .. } => format!("HTTP {status}"),
            FetchError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            FetchError::TooManyRedirects { .. } => format!("more than {MAX_REDIRECTS} redirects"),
            FetchError::BadRedirect { .. } => "a redirect without a usable Location".to_string(),
            FetchError::NotHtml { content_type, .. } => format!("{content_type}, not an HTML page"),
            FetchError::RobotsDisallowed { .. } => "disallowed by robots.txt".to_string(),
            FetchError::Timeout { timeout, .. } => {
                format!("no complete answer within {}s", timeout.as_secs_f32())
            }
        }
    }

    /// A short machine-friendly kind for logs and the feed status.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Blocked { .. } => "blocked",
            FetchError::Request { cause, .. } if cause.is_timeout() => "timeout",
            FetchError::Request { .. } if self.is_refused() => "refused",
            FetchError::Request { cause, .. } if cause.is_connect() => "connect",
            FetchError::Request { .. } => "request",
            FetchError::Status { .. } => "status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::TooManyRedirects { .. } => "redirects",
            FetchError::BadRedirect { .. } => "redirects",
            FetchError::NotHtml { .. } => "not_html",
            FetchError::RobotsDisallowed { .. } => "robots",
            FetchError::Timeout { .. } => "timeout",
        }
    }
}

/// Limits and identity for the [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Sent with every request; its product token (before the `/`) is our robots.txt name.
    pub user_agent: String,
    /// One deadline for a whole request: every redirect hop, headers and body.
    pub request_timeout: Duration,
    /// The longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The longest wait for the next byte.
    pub read_timeout: Duration,
    /// Requests in flight at once, over all hosts.
    pub max_concurrent: usize,
    /// Requests in flight at once to one host.
    pub per_host: usize,
    /// Body caps after decompression, for feeds and for article pages.
    pub max_feed_bytes: u64,
    pub max_page_bytes: u64,
    /// Requests per second to one host; 0 turns the rate limit off.
    pub host_requests_per_second: u32,
    /// Requests to one host that may start back to back before the rate applies (at least 1).
    pub host_burst: u32,
    /// Whether article pages are checked against their site's robots.txt.
    pub respect_robots_txt: bool,
    /// How long a fetched robots.txt is trusted.
    pub robots_ttl: Duration,
    /// A robots.txt larger than this is ignored (allows everything).
    pub max_robots_bytes: u64,
}

impl FetchSettings {
    /// The robots.txt product token: the user agent up to its first `/` or space.
    pub fn robots_token(&self) -> &str {
        let token = self.user_agent.split(['/', ' ']).next().unwrap_or_default().trim();
        if token.is_empty() { ROBOTS_TOKEN } else { token }
    }
}

/// What one request is for: it decides the cap, the headers, the content-type check, whether
/// the first hop is trusted and whether robots.txt is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Feed,
    Page,
    Robots,
}

/// A site's robots.txt as last fetched; `rules: None` allows everything.
struct RobotsEntry {
    rules: Option<Arc<texting_robots::Robot>>,
    expires: Instant,
}

/// One cell per origin; the async mutex makes concurrent pages of one site wait for a single
/// robots.txt request instead of each sending their own.
type RobotsCell = Arc<tokio::sync::Mutex<Option<RobotsEntry>>>;

type HostRateLimiter = governor::DefaultKeyedRateLimiter<String>;

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
    /// None when the rate limit is off.
    rate: Option<Arc<HostRateLimiter>>,
    robots: Arc<Mutex<HashMap<String, RobotsCell>>>,
    /// Hosts whose last request timed out or could not connect, until when they count so.
    unresponsive: Arc<Mutex<HashMap<String, Instant>>>,
    /// The slots requests to unresponsive hosts take instead of global ones: a quarter of
    /// `max_concurrent` (at least one), so hosts that hang cannot hold every slot while healthy
    /// hosts wait. At most `max_concurrent` plus this many requests are in flight.
    unresponsive_pool: Arc<Semaphore>,
    /// See [`BODY_BUDGET_BYTES`].
    body_budget: Arc<Semaphore>,
}

/// What one hop ended with: a final answer with its HTTP freshness (see [`freshness`]), or
/// where to go next.
enum Hop {
    Done(Fetched, Option<Duration>),
    Redirect(Url),
}

/// Idle keep-alive connections kept per host (each client). A poller reuses one for its next
/// request to the host; more would each keep their read buffer (grown to the last body's size)
/// for the idle timeout: with hundreds of hosts at 8 requests each (a cold round), idle
/// connections held ~16 MiB (heap profile of the load bench at 10,000 feeds).
const IDLE_CONNECTIONS_PER_HOST: usize = 2;

impl Fetcher {
    /// The production fetcher: the system's DNS behind `guard`.
    pub fn new(settings: FetchSettings, guard: Guard) -> Result<Fetcher, reqwest::Error> {
        Fetcher::with_parts(settings, guard, Arc::new(SystemLookup::new()))
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
                .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
                .dns_resolver(Arc::new(GuardedResolver {
                    guard: guard.clone(),
                    lookup: lookup.clone(),
                    enforce,
                }))
                .build()
        };
        let rate = NonZeroU32::new(settings.host_requests_per_second).map(|per_second| {
            let burst = NonZeroU32::new(settings.host_burst).unwrap_or(NonZeroU32::MIN);
            Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(per_second).allow_burst(burst)))
        });
        Ok(Fetcher {
            trusted: build(false)?,
            guarded: build(true)?,
            guard,
            global: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            hosts: Arc::new(Mutex::new(HashMap::new())),
            rate,
            robots: Arc::new(Mutex::new(HashMap::new())),
            unresponsive: Arc::new(Mutex::new(HashMap::new())),
            unresponsive_pool: Arc::new(Semaphore::new((settings.max_concurrent / 4).max(1))),
            body_budget: Arc::new(Semaphore::new(
                BODY_BUDGET_BYTES
                    .max(2 * settings.max_feed_bytes.max(settings.max_page_bytes) as usize)
                    .div_ceil(BUDGET_UNIT),
            )),
            settings: Arc::new(settings),
        })
    }

    /// The guard, to check item links before they are queued.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// How many requests one host may have in flight (`per_host_concurrency`, at least one):
    /// the scrape stage schedules pages by it so no host holds more of its slots.
    pub fn per_host_limit(&self) -> usize {
        self.settings.per_host.max(1)
    }

    /// Waits for this host's turn: a per-host slot, the host's request rate, then a global slot
    /// (or, for a host that recently hung, a slot of the unresponsive pool). The shared slot is
    /// taken last so a task queued behind a busy or slow host holds nothing others need.
    async fn permits(&self, host: &str) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let host = host.to_string();
        let host_semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if hosts.len() >= MAX_TRACKED_HOSTS && !hosts.contains_key(&host) {
                // Only semaphores nobody holds or waits on can go.
                hosts.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
            }
            hosts
                .entry(host.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_host.max(1))))
                .clone()
        };
        // Neither semaphore is ever closed, so acquiring cannot fail.
        let host_permit = host_semaphore.acquire_owned().await.expect("semaphore never closed");
        if let Some(rate) = &self.rate {
            if rate.len() >= MAX_TRACKED_HOSTS {
                rate.retain_recent();
            }
            rate.until_key_ready(&host).await;
        }
        let pool = if self.is_unresponsive(&host) { &self.unresponsive_pool } else { &self.global };
        let shared_permit = pool.clone().acquire_owned().await.expect("semaphore never closed");
        (host_permit, shared_permit)
    }

    fn is_unresponsive(&self, host: &str) -> bool {
        let unresponsive = self.unresponsive.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        unresponsive.get(host).is_some_and(|until| *until > Instant::now())
    }

    /// Records whether `host` answered: a timeout or a failed connect marks it unresponsive for
    /// [`UNRESPONSIVE_FOR`]; any HTTP answer clears the mark.
    fn note_responsiveness(&self, host: &str, responded: bool) {
        let mut unresponsive = self.unresponsive.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if responded {
            unresponsive.remove(host);
            return;
        }
        let now = Instant::now();
        if unresponsive.len() >= MAX_TRACKED_HOSTS {
            unresponsive.retain(|_, until| *until > now);
        }
        unresponsive.insert(host.to_string(), now + UNRESPONSIVE_FOR);
    }

    /// GETs `url`, following redirects by hand, and reads the body within the cap.
    pub async fn get(
        &self,
        target: Target,
        url: &Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let (purpose, label) = match target {
            Target::Feed => (Purpose::Feed, "feed"),
            Target::Page => (Purpose::Page, "page"),
        };
        self.counted_fetch(purpose, label, url, validators).await.map(|(fetched, _)| fetched)
    }

    /// GETs a feed like [`Fetcher::get`] and also returns how long its final response says it
    /// stays fresh (`Cache-Control: max-age`, else `Expires`; see [`freshness`]), on a 200 as on
    /// a 304: the poller's schedule honours it.
    pub async fn get_feed(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<(Fetched, Option<Duration>), FetchError> {
        self.counted_fetch(Purpose::Feed, "feed", url, validators).await
    }

    /// [`Fetcher::fetch`], counted: every feed and page fetch passes here (`serve::names`
    /// documents the metrics).
    async fn counted_fetch(
        &self,
        purpose: Purpose,
        label: &'static str,
        url: &Url,
        validators: &Validators,
    ) -> Result<(Fetched, Option<Duration>), FetchError> {
        let started = Instant::now();
        let fetched = self.fetch(purpose, url, validators).await;
        let outcome = match &fetched {
            Ok((Fetched::Body(body), _)) => {
                metrics::counter!("newswatch_fetched_bytes_total", "target" => label)
                    .increment(body.bytes.len() as u64);
                "200"
            }
            Ok((Fetched::NotModified, _)) => "304",
            Err(err) => err.kind(),
        };
        metrics::counter!("newswatch_fetches_total", "target" => label, "outcome" => outcome).increment(1);
        metrics::histogram!("newswatch_fetch_duration_seconds", "target" => label).record(started.elapsed());
        fetched
    }

    async fn fetch(
        &self,
        purpose: Purpose,
        url: &Url,
        validators: &Validators,
    ) -> Result<(Fetched, Option<Duration>), FetchError> {
        let limit = match purpose {
            Purpose::Feed => self.settings.max_feed_bytes,
            Purpose::Page => self.settings.max_page_bytes,
            Purpose::Robots => self.settings.max_robots_bytes,
        };
        // One deadline for the whole chain: five slow redirects must not take five timeouts.
        // Time spent queueing for a slot or for the host's rate does not count against it.
        let mut budget = self.settings.request_timeout;
        let mut current = url.clone();
        for hop in 0..=MAX_REDIRECTS {
            let trusted_hop = hop == 0 && purpose == Purpose::Feed;
            if !trusted_hop {
                // Credentials are the user's to give on their own feed URL; a feed's links and a
                // server's redirects never get to make us send any.
                strip_userinfo(&mut current);
                self.guard
                    .check(&current)
                    .map_err(|reason| FetchError::Blocked { url: current.to_string(), reason })?;
            }
            if purpose == Purpose::Page && self.settings.respect_robots_txt {
                self.check_robots(&current).await?;
            }
            let client = if trusted_hop { &self.trusted } else { &self.guarded };
            let request = self.request(client, purpose, &current, validators);
            let host = current.host_str().unwrap_or_default().to_ascii_lowercase();
            let _permits = self.permits(&host).await;
            let started = Instant::now();
            let step =
                tokio::time::timeout(budget, exchange(request, &current, purpose, limit, &self.body_budget))
                    .await;
            budget = budget.saturating_sub(started.elapsed());
            match &step {
                Err(_elapsed) => self.note_responsiveness(&host, false),
                Ok(Err(FetchError::Request { cause, .. })) if cause.is_timeout() || cause.is_connect() => {
                    self.note_responsiveness(&host, false)
                }
                // Reset connections and the like say nothing either way.
                Ok(Err(FetchError::Request { .. })) => {}
                Ok(_) => self.note_responsiveness(&host, true),
            }
            match step {
                Err(_elapsed) => {
                    return Err(FetchError::Timeout {
                        url: current.to_string(),
                        timeout: self.settings.request_timeout,
                    });
                }
                Ok(Err(err)) => return Err(err),
                Ok(Ok(Hop::Done(fetched, fresh_for))) => return Ok((fetched, fresh_for)),
                Ok(Ok(Hop::Redirect(next))) => current = next,
            }
        }
        Err(FetchError::TooManyRedirects { url: url.to_string() })
    }

    fn request(
        &self,
        client: &reqwest::Client,
        purpose: Purpose,
        url: &Url,
        validators: &Validators,
    ) -> reqwest::RequestBuilder {
        let mut request = client.get(url.clone());
        match purpose {
            Purpose::Feed => {
                if let Some(etag) = &validators.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(last_modified) = &validators.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, last_modified);
                }
                request.header(
                    reqwest::header::ACCEPT,
                    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
                )
            }
            Purpose::Page => {
                request.header(reqwest::header::ACCEPT, "text/html, application/xhtml+xml;q=0.9, */*;q=0.1")
            }
            Purpose::Robots => request.header(reqwest::header::ACCEPT, "text/plain, */*;q=0.1"),
        }
    }

    /// Refuses a page its site's robots.txt disallows for our product token.
    async fn check_robots(&self, url: &Url) -> Result<(), FetchError> {
        match self.robots_rules(url).await {
            Some(rules) if !rules.allowed(url.as_str()) => {
                Err(FetchError::RobotsDisallowed { url: url.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// The robots.txt rules of `url`'s origin, fetched at most once per TTL; None allows all.
    async fn robots_rules(&self, url: &Url) -> Option<Arc<texting_robots::Robot>> {
        let origin = url.origin().ascii_serialization();
        let cell = {
            let mut origins = self.robots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if origins.len() >= MAX_TRACKED_HOSTS && !origins.contains_key(&origin) {
                let now = Instant::now();
                origins.retain(|_, cell| {
                    Arc::strong_count(cell) > 1
                        || cell
                            .try_lock()
                            .is_ok_and(|slot| slot.as_ref().is_some_and(|entry| entry.expires > now))
                });
                if origins.len() >= MAX_TRACKED_HOSTS {
                    origins.retain(|_, cell| Arc::strong_count(cell) > 1);
                }
            }
            origins.entry(origin).or_default().clone()
        };
        let mut slot = cell.lock().await;
        if let Some(entry) = slot.as_ref()
            && entry.expires > Instant::now()
        {
            return entry.rules.clone();
        }
        let mut robots_url = url.join("/robots.txt").ok()?;
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        // Boxed: this is a fetch inside a fetch (of a page), and async recursion needs a pointer.
        let fetched = Box::pin(self.fetch(Purpose::Robots, &robots_url, &Validators::default()))
            .await
            .map(|(fetched, _)| fetched);
        let (rules, ttl) = match fetched {
            Ok(Fetched::Body(body)) => {
                let token = self.settings.robots_token().to_string();
                // A big robots.txt takes a while to compile into rules: off the runtime.
                let parsed = crate::cpu::run(move || texting_robots::Robot::new(&token, &body.bytes)).await;
                match parsed {
                    Ok(Ok(robot)) => (Some(Arc::new(robot)), self.settings.robots_ttl),
                    Ok(Err(err)) => {
                        debug!(url = %robots_url, error = %err, "unparsable robots.txt; allowing all");
                        (None, self.settings.robots_ttl)
                    }
                    Err(crashed) => {
                        debug!(url = %robots_url, error = %crashed, "robots.txt parser crashed; allowing all");
                        (None, ROBOTS_FAILURE_TTL.min(self.settings.robots_ttl))
                    }
                }
            }
            // No robots.txt (any 4xx, RFC 9309 2.3.1.3): everything is allowed.
            Err(FetchError::Status { status: 400..=499, .. }) => (None, self.settings.robots_ttl),
            Ok(Fetched::NotModified) => (None, ROBOTS_FAILURE_TTL.min(self.settings.robots_ttl)),
            Err(err) => {
                debug!(url = %robots_url, kind = err.kind(), error = %err, "robots.txt unavailable; allowing all");
                (None, ROBOTS_FAILURE_TTL.min(self.settings.robots_ttl))
            }
        };
        *slot = Some(RobotsEntry { rules: rules.clone(), expires: Instant::now() + ttl });
        rules
    }
}

/// Sends one request and reads its answer: a redirect target, a 304, an error status, or the
/// body within `limit`.
async fn exchange(
    request: reqwest::RequestBuilder,
    url: &Url,
    purpose: Purpose,
    limit: u64,
    body_budget: &Arc<Semaphore>,
) -> Result<Hop, FetchError> {
    let response = request.send().await.map_err(|source| request_error(url, source))?;
    let status = response.status();
    // Only feeds are scheduled by it; pages and robots.txt skip the header parsing.
    let fresh_for = (purpose == Purpose::Feed).then(|| freshness(response.headers(), Utc::now())).flatten();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Hop::Done(Fetched::NotModified, fresh_for));
    }
    if status.is_redirection() {
        let mut next = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|location| url.join(location).ok())
            .ok_or_else(|| FetchError::BadRedirect { url: url.to_string() })?;
        next.set_fragment(None);
        return Ok(Hop::Redirect(next));
    }
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()))
            // "Too many requests" with no (or an unreadable) Retry-After still means "wait": the
            // shortest wait we honour, so cron runs do not knock again a minute later.
            .or((status == reqwest::StatusCode::TOO_MANY_REQUESTS).then_some(MIN_RETRY_AFTER));
        return Err(FetchError::Status { url: url.to_string(), status: status.as_u16(), retry_after });
    }
    read_body(response, url, purpose, limit, body_budget).await.map(|fetched| Hop::Done(fetched, fresh_for))
}

/// How long a response says it stays fresh (RFC 9111 4.2.1): `Cache-Control: max-age` (or
/// `s-maxage`, the larger) less `Age`, else `Expires` less `Date` (or `now` without a `Date`).
/// None without either, with `no-cache`/`no-store`, or when the answer is "already stale". The
/// poller takes it as a hint to wait at least that long, never as a reason to come sooner.
pub fn freshness(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: reqwest::header::HeaderName| {
        headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).collect::<Vec<_>>().join(",")
    };
    let cache_control = text(reqwest::header::CACHE_CONTROL).to_ascii_lowercase();
    let mut max_age: Option<u64> = None;
    for directive in cache_control.split(',').map(str::trim) {
        if directive == "no-cache" || directive == "no-store" {
            return None;
        }
        if let Some((name, value)) = directive.split_once('=')
            && matches!(name.trim(), "max-age" | "s-maxage")
            && let Ok(seconds) = value.trim().trim_matches('"').parse::<u64>()
        {
            max_age = Some(max_age.map_or(seconds, |known| known.max(seconds)));
        }
    }
    let fresh = match max_age {
        Some(seconds) => {
            let age = text(reqwest::header::AGE).trim().parse::<u64>().unwrap_or(0);
            Duration::from_secs(seconds.saturating_sub(age))
        }
        None => {
            let date =
                |name| DateTime::parse_from_rfc2822(text(name).trim()).ok().map(|at| at.with_timezone(&Utc));
            let expires = date(reqwest::header::EXPIRES)?;
            let served = date(reqwest::header::DATE).unwrap_or(now);
            (expires - served).to_std().ok()?
        }
    };
    (!fresh.is_zero()).then_some(fresh)
}

/// Removes `user:pass@` from a URL.
fn strip_userinfo(url: &mut Url) {
    if !url.username().is_empty() || url.password().is_some() {
        // Both only fail for URLs without a host, which the guard refuses anyway.
        let _ = url.set_username("");
        let _ = url.set_password(None);
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
    // reqwest's own message only repeats the URL ("error sending request for url (…)"); the
    // causes below it say what happened. hyper-util wraps them once more as "client error
    // (Connect)", which adds nothing either.
    let mut parts: Vec<String> = Vec::new();
    let mut cause = std::error::Error::source(&source);
    while let Some(err) = cause {
        let text = err.to_string();
        if !text.starts_with("client error (") && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        cause = err.source();
    }
    let detail = if parts.is_empty() { source.to_string() } else { parts.join(": ") };
    FetchError::Request { url: url.to_string(), detail, cause: source }
}

async fn read_body(
    mut response: reqwest::Response,
    url: &Url,
    purpose: Purpose,
    limit: u64,
    body_budget: &Arc<Semaphore>,
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
    // PDFs, videos and images never reach the HTML parser; refused before a byte is read.
    if purpose == Purpose::Page
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
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit) {
        return Err(FetchError::TooLarge { url: url.to_string(), limit });
    }
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let initial = declared.map_or(64 * 1024, |length| length as usize).min(limit_bytes);
    // Every buffer's capacity is taken from the process-wide body budget first and given back
    // when the body is dropped (after parsing): many large bodies at once wait for each other
    // instead of adding up.
    let mut budget = BodyBudget::new(body_budget);
    budget.cover(initial).await;
    let mut bytes = Vec::with_capacity(initial);
    while let Some(chunk) = response.chunk().await.map_err(|source| request_error(url, source))? {
        let needed = bytes.len() + chunk.len();
        if needed > limit_bytes {
            // Dropping the response closes the connection.
            return Err(FetchError::TooLarge { url: url.to_string(), limit });
        }
        if needed > bytes.capacity() {
            // Grow by doubling as Vec would, but never past the cap: memory stays near the cap
            // rather than twice it.
            let target = (bytes.capacity() * 2).clamp(needed, limit_bytes);
            budget.cover(target).await;
            bytes.reserve_exact(target - bytes.len());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(Box::new(Body {
        bytes,
        charset,
        content_type,
        validators,
        final_url: url.clone(),
        _budget: budget.permit,
    })))
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

    #[tokio::test]
    async fn bodies_take_their_capacity_from_the_budget_and_give_it_back() {
        let semaphore = Arc::new(Semaphore::new(10));
        let mut budget = BodyBudget::new(&semaphore);
        budget.cover(5 * BUDGET_UNIT).await;
        assert_eq!(semaphore.available_permits(), 5);
        budget.cover(4 * BUDGET_UNIT).await;
        assert_eq!(semaphore.available_permits(), 5, "already covered");
        budget.cover(8 * BUDGET_UNIT + 1).await;
        assert_eq!(semaphore.available_permits(), 1);
        let mut second = BodyBudget::new(&semaphore);
        let waiting = tokio::time::timeout(Duration::from_millis(50), second.cover(2 * BUDGET_UNIT)).await;
        assert!(waiting.is_err(), "a second body waits while the budget is spent");
        drop(budget.permit.take());
        second.cover(2 * BUDGET_UNIT).await;
        assert_eq!(semaphore.available_permits(), 8);
    }

    use super::*;

    fn guard() -> Guard {
        Guard { policy: Arc::new(PublicOnly), allow_private: false, allow_hosts: vec![] }
    }

    #[tokio::test]
    async fn the_async_resolver_answers_from_the_system_configuration() {
        // "localhost" is answered from the system's configuration (or RFC 6761), never the network.
        let ips = SystemLookup::new().lookup("localhost".into()).await.unwrap();
        assert!(!ips.is_empty() && ips.iter().all(|ip| ip.is_loopback()), "{ips:?}");
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
    fn the_robots_token_is_the_user_agent_product() {
        let mut settings = FetchSettings {
            user_agent: "newswatch/0.1 (news monitor; +https://example.org)".into(),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_concurrent: 1,
            per_host: 1,
            max_feed_bytes: 1,
            max_page_bytes: 1,
            host_requests_per_second: 5,
            host_burst: 5,
            respect_robots_txt: true,
            robots_ttl: ROBOTS_TTL,
            max_robots_bytes: MAX_ROBOTS_BYTES,
        };
        assert_eq!(settings.robots_token(), "newswatch");
        settings.user_agent = "PressBot 2".into();
        assert_eq!(settings.robots_token(), "PressBot");
        settings.user_agent = "/odd".into();
        assert_eq!(settings.robots_token(), ROBOTS_TOKEN);
    }

    #[test]
    fn robots_groups_for_our_token_win_over_the_wildcard() {
        let text = b"User-agent: *\nDisallow: /\n\nUser-agent: NewsWatch\nDisallow: /private/\nAllow: /private/open\n";
        let ours = texting_robots::Robot::new("newswatch", text).unwrap();
        assert!(ours.allowed("https://example.org/story?id=1"));
        assert!(!ours.allowed("https://example.org/private/x.html"));
        assert!(ours.allowed("https://example.org/private/open/x.html"), "the longest match wins");
        let others = texting_robots::Robot::new("otherbot", text).unwrap();
        assert!(!others.allowed("https://example.org/story?id=1"));
    }

    #[test]
    fn userinfo_is_stripped() {
        let mut url = Url::parse("http://user:secret@example.org:8080/a?b#c").unwrap();
        strip_userinfo(&mut url);
        assert_eq!(url.as_str(), "http://example.org:8080/a?b#c");
    }

    #[test]
    fn new_failures_have_their_own_kinds() {
        let url = "http://example.org/".to_string();
        assert_eq!(FetchError::RobotsDisallowed { url: url.clone() }.kind(), "robots");
        let timeout = FetchError::Timeout { url, timeout: Duration::from_secs(30) };
        assert_eq!(timeout.kind(), "timeout");
        assert_eq!(timeout.to_string(), "http://example.org/ did not finish within 30s");
    }

    #[test]
    fn freshness_comes_from_max_age_else_expires() {
        use reqwest::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap, HeaderValue};
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let headers = |pairs: &[(reqwest::header::HeaderName, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(name.clone(), HeaderValue::from_static(value));
            }
            map
        };
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(freshness(&headers(&[(CACHE_CONTROL, "public, max-age=600")]), now), secs(600));
        assert_eq!(freshness(&headers(&[(CACHE_CONTROL, "max-age=600"), (AGE, "100")]), now), secs(500));
        assert_eq!(freshness(&headers(&[(CACHE_CONTROL, "max-age=60, s-maxage=900")]), now), secs(900));
        // max-age wins over Expires; Expires counts from the server's Date.
        let both = headers(&[(CACHE_CONTROL, "max-age=60"), (EXPIRES, "Thu, 01 Jan 2026 02:00:00 GMT")]);
        assert_eq!(freshness(&both, now), secs(60));
        let expires =
            headers(&[(EXPIRES, "Thu, 01 Jan 2026 02:00:00 GMT"), (DATE, "Thu, 01 Jan 2026 01:00:00 GMT")]);
        assert_eq!(freshness(&expires, now), secs(3600));
        assert_eq!(freshness(&headers(&[(EXPIRES, "Thu, 01 Jan 2026 00:30:00 GMT")]), now), secs(1800));
        for stale in [
            headers(&[(CACHE_CONTROL, "no-cache, max-age=600")]),
            headers(&[(CACHE_CONTROL, "max-age=0")]),
            headers(&[(EXPIRES, "0")]),
            headers(&[(EXPIRES, "Wed, 31 Dec 2025 00:00:00 GMT")]),
            headers(&[]),
        ] {
            assert_eq!(freshness(&stale, now), None, "{stale:?}");
        }
    }

    #[test]
    fn charset_is_read_from_content_type() {
        assert_eq!(charset_of("text/html; charset=\"windows-1251\"").as_deref(), Some("windows-1251"));
        assert_eq!(charset_of("application/rss+xml"), None);
    }
}
