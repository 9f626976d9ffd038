//! Instances and host leases on PostgreSQL. Each instance has a row in `instances` with a
//! heartbeat; each host whose feeds are polled has a row in `leases` naming its owner and when
//! the lease ends: one instance polls all of a host's feeds, so that instance's per-host limits
//! (`per_host_rate`, `per_host_concurrency`) are the host's whole budget. A round ([`PgStore::lease_round`]) renews the heartbeat and this instance's leases, gives
//! back what exceeds its fair share (so a newcomer gets hosts), and takes free or expired leases
//! up to that share with one atomic conditional upsert: a lease still valid is never taken,
//! whatever another instance does at the same moment. Times come from the database's clock, so
//! instances on hosts whose clocks disagree still agree on who holds what.

use super::{PgStore, RETRIES, retryable};
use crate::store::{InstanceStatus, LeaseRound, StoreError};
use std::time::Duration;

/// The database's clock in milliseconds, as SQL.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// How long a dead instance's row is kept for `status` before it is forgotten.
const FORGET_DEAD_AFTER_MS: i64 = 24 * 3600 * 1000;

impl PgStore {
    /// Registers this instance (a heartbeat now), so its claims count as live from the start.
    pub(in crate::store) async fn register(&self, lease_timeout: Duration) -> Result<(), StoreError> {
        let client = self.client().await?;
        let host = self.instance.rsplitn(3, '-').nth(2).unwrap_or("host").to_string();
        client
            .execute(
                &*format!(
                    "INSERT INTO instances (id, host, pid, started_at_ms, heartbeat_at_ms, lease_timeout_ms)
                     VALUES ($1, $2, $3, {NOW_MS}, {NOW_MS}, $4)
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms"
                ),
                &[&self.instance, &host, &i64::from(std::process::id()), &millis(lease_timeout)],
            )
            .await?;
        Ok(())
    }

    /// One lease round for `hosts` (of every configured feed); `busy` are hosts this instance is
    /// polling right now, never given back mid-poll.
    pub(in crate::store) async fn lease_round(
        &self,
        hosts: &[String],
        busy: &[String],
        lease_timeout: Duration,
    ) -> Result<LeaseRound, StoreError> {
        self.writable()?;
        let timeout_ms = millis(lease_timeout);
        let mut attempt = 0;
        loop {
            match self.try_lease_round(hosts, busy, timeout_ms).await {
                Err(StoreError::Query(source))
                    if attempt < RETRIES
                        && source.downcast_ref::<tokio_postgres::Error>().is_some_and(retryable) =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_lease_round(
        &self,
        hosts: &[String],
        busy: &[String],
        timeout_ms: i64,
    ) -> Result<LeaseRound, StoreError> {
        let me = &self.instance;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &*format!("UPDATE instances SET heartbeat_at_ms = {NOW_MS}, lease_timeout_ms = $2 WHERE id = $1"),
            &[me, &timeout_ms],
        )
        .await?;
        tx.execute(
            &*format!("DELETE FROM instances WHERE heartbeat_at_ms + lease_timeout_ms < {NOW_MS} - $1"),
            &[&FORGET_DEAD_AFTER_MS],
        )
        .await?;
        let alive: i64 = tx
            .query_one(
                &*format!(
                    "SELECT COUNT(*) FROM instances WHERE heartbeat_at_ms + lease_timeout_ms >= {NOW_MS}"
                ),
                &[],
            )
            .await?
            .get(0);
        let alive = usize::try_from(alive).unwrap_or(1).max(1);
        // Leases of hosts no longer configured are dropped; the rest are renewed.
        tx.execute("DELETE FROM leases WHERE owner = $1 AND NOT (host = ANY($2))", &[me, &hosts]).await?;
        let mut held: Vec<String> = tx
            .query(
                &*format!(
                    "UPDATE leases SET expires_at_ms = {NOW_MS} + $2 WHERE owner = $1 AND expires_at_ms >= {NOW_MS}
                     RETURNING host"
                ),
                &[me, &timeout_ms],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        // A lease that lapsed before this renewal is not ours any more (another may have it).
        tx.execute(&*format!("DELETE FROM leases WHERE owner = $1 AND expires_at_ms < {NOW_MS}"), &[me])
            .await?;
        let share = hosts.len().div_ceil(alive);
        let floor = hosts.len() / alive;
        // The fewest leases an instance alive holds: when one holds less than the even split,
        // those above it give one back per round, so 10 hosts on 3 instances end 4-3-3, not 4-4-2.
        let fewest: i64 = tx
            .query_one(
                &*format!(
                    "SELECT COALESCE(MIN(n), 0) FROM (
                        SELECT COUNT(l.host) AS n FROM instances i
                          LEFT JOIN leases l ON l.owner = i.id AND l.expires_at_ms >= {NOW_MS}
                         WHERE i.heartbeat_at_ms + i.lease_timeout_ms >= {NOW_MS}
                         GROUP BY i.id) AS counts"
                ),
                &[],
            )
            .await?
            .get(0);
        // How many to hold after this round: at most the share; while an instance is below the
        // even split, one fewer for those above it and none more for those at it (the freed
        // leases are for the one below, not taken back in the same round).
        let someone_short = usize::try_from(fewest).unwrap_or(0) < floor;
        let keep = if held.len() > share {
            share
        } else if someone_short && held.len() > floor {
            held.len() - 1
        } else if someone_short && held.len() == floor {
            held.len()
        } else {
            share
        };
        let mut released = 0;
        if held.len() > keep {
            // Give back the excess (never a host with a feed mid-poll), chosen by a stable hash so
            // repeated rounds hand over the same hosts rather than churn.
            held.sort_by_key(|host| (busy.contains(host), stable_hash(me, host)));
            let excess: Vec<String> =
                held.iter().filter(|host| !busy.contains(host)).take(held.len() - keep).cloned().collect();
            released = tx
                .execute("DELETE FROM leases WHERE owner = $1 AND host = ANY($2)", &[me, &excess])
                .await? as usize;
            held.retain(|host| !excess.contains(host));
        }
        let mut taken = 0;
        if held.len() < keep {
            let need = i64::try_from(keep - held.len()).unwrap_or(i64::MAX);
            // Free or expired leases, in an order of this instance's own (so instances starting
            // together reach for different hosts), inserted in host order (so two rounds at once
            // lock rows in the same order). The conditional upsert takes an expired row and
            // leaves a valid one alone, atomically.
            let rows = tx
                .query(
                    &*format!(
                        "INSERT INTO leases (host, owner, taken_at_ms, expires_at_ms)
                         SELECT host, $2, {NOW_MS}, {NOW_MS} + $3 FROM (
                             SELECT h AS host FROM unnest($1::text[]) AS h
                              WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.host = h AND l.expires_at_ms >= {NOW_MS})
                              ORDER BY md5(h || $2) LIMIT $4) AS free
                          ORDER BY host
                         ON CONFLICT (host) DO UPDATE SET owner = excluded.owner,
                            taken_at_ms = excluded.taken_at_ms, expires_at_ms = excluded.expires_at_ms
                          WHERE leases.expires_at_ms < {NOW_MS}
                         RETURNING host"
                    ),
                    &[&hosts, me, &timeout_ms, &need],
                )
                .await?;
            taken = rows.len();
            held.extend(rows.iter().map(|row| row.get::<_, String>(0)));
        }
        tx.commit().await?;
        Ok(LeaseRound { held, alive, released, taken })
    }

    /// A clean stop: this instance's leases go back at once, no wait for them to expire. Its
    /// row stays (its sinks may still be draining; their claims must stay live); it shows as
    /// dead once its heartbeat is older than its lease timeout.
    pub(in crate::store) async fn release_leases(&self) -> Result<(), StoreError> {
        self.writable()?;
        let client = self.client().await?;
        client.execute("DELETE FROM leases WHERE owner = $1", &[&self.instance]).await?;
        Ok(())
    }

    /// Every instance known, alive first, with its leases and how late the most overdue feed
    /// of its leased hosts is.
    pub(in crate::store) async fn instances(&self) -> Result<Vec<InstanceStatus>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &*format!(
                    "SELECT i.id, i.host, i.pid, i.started_at_ms, {NOW_MS} - i.heartbeat_at_ms,
                            i.heartbeat_at_ms + i.lease_timeout_ms >= {NOW_MS},
                            COUNT(DISTINCT l.host),
                            COALESCE(MAX(GREATEST(0, extract(epoch FROM clock_timestamp())::bigint - f.next_poll_at)), 0)
                       FROM instances i
                       LEFT JOIN leases l ON l.owner = i.id AND l.expires_at_ms >= {NOW_MS}
                       LEFT JOIN feeds f ON lower(substring(f.url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)')) = l.host
                      GROUP BY i.id
                      ORDER BY 6 DESC, i.started_at_ms"
                ),
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| InstanceStatus {
                id: row.get(0),
                host: row.get(1),
                pid: row.get(2),
                started_at_ms: row.get(3),
                heartbeat_age_ms: row.get(4),
                alive: row.get(5),
                leases: row.get(6),
                lag_secs: row.get(7),
                this: row.get::<_, String>(0) == self.instance,
            })
            .collect())
    }

    /// Hosts leased now, with their owners, by host.
    pub(in crate::store) async fn leases(&self) -> Result<Vec<(String, String)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &*format!("SELECT host, owner FROM leases WHERE expires_at_ms >= {NOW_MS} ORDER BY host"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A hash that is the same in every process (std's `DefaultHasher` promises no such thing).
fn stable_hash(instance: &str, host: &str) -> u64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{instance}\n{host}").as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
}
