//! The daemon's leases in memory: one slot per attachment (serializing the verbs of one
//! attachment), one tokio task per lease keeping it alive, and the handlers of the socket
//! protocol's requests.
//!
//! A lease's task renews it at T1 (unicast REQUEST to the server), rebinds from T2 (broadcast
//! REQUEST), and drops it at expiry or after a NAK; every ten seconds, and before each
//! renewal, it checks that the namespace and the interface still exist and drops the lease
//! when either is gone (no release can be sent then). Every grant and extension is saved to
//! the [`Store`]; a dropped lease's file is removed.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cni::Error;
use tokio::sync::Mutex as AsyncMutex;

use super::exchange::{self, Extension, Timing};
use super::exchange6;
use super::flags::Flags;
use super::packet::Client;
use super::packet6::Client6;
use super::sock::{self, SockError};
use super::store::{now_secs, Store, StoredLease, StoredLease6, FORMAT_VERSION};
use crate::plugins::dhcp::protocol::{AddRequest, AttachmentKey, Request, Response};
use crate::plugins::dhcp::{CODE_NO_LEASE, CODE_NO_SERVER};

/// How often a lease's task looks for its namespace and interface.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(10);

/// A lease of family `F` and the task keeping it alive.
struct Held<F> {
    record: Arc<Mutex<F>>,
    task: tokio::task::AbortHandle,
}

/// The leases of one attachment: at most one per family.
#[derive(Default)]
struct Slot {
    held: Option<Held<StoredLease>>,
    held6: Option<Held<StoredLease6>>,
}

/// What differs between a DHCPv4 and a DHCPv6 lease for the daemon: its place in a slot, its
/// file, its timers and its exchanges with the server. A lease's task, its release and its
/// removal are written once over this.
trait Family: Clone + Send + Sync + 'static {
    /// The lease information an extension brings.
    type Info: Send;
    /// How log lines name a lease of the family.
    const LEASE: &'static str;
    /// How log lines name the family's release message.
    const RELEASE: &'static str;
    fn key(&self) -> &AttachmentKey;
    /// `CNI_NETNS` as the plugin gave it.
    fn netns(&self) -> &str;
    fn address(&self) -> IpAddr;
    fn granted_at(&self) -> u64;
    /// Seconds from the grant to T1 and to T2.
    fn t1_t2(&self) -> (u32, u32);
    /// Seconds from the grant to the end of the lease.
    fn lifetime(&self) -> u32;
    fn expires_at(&self) -> u64 {
        self.granted_at() + u64::from(self.lifetime())
    }
    /// Takes an extension's information, granted at `at`.
    fn extended(&mut self, info: Self::Info, at: u64);
    /// The family's place in a slot.
    fn place(slot: &mut Slot) -> &mut Option<Held<Self>>;
    /// Whether the slot holds a lease of the other family.
    fn other_held(slot: &Slot) -> bool;
    fn save(&self, store: &Store) -> std::io::Result<()>;
    fn remove(store: &Store, key: &AttachmentKey) -> std::io::Result<()>;
    /// One renewal (`renew`: to the granting server) or rebinding exchange.
    fn extend(
        &self,
        netns: &Path,
        renew: bool,
        timing: &Timing,
    ) -> impl Future<Output = Result<Extension<Self::Info>, SockError>> + Send;
    /// Sends the release of the lease.
    fn release(&self, netns: &Path) -> impl Future<Output = Result<(), SockError>> + Send;
}

/// The [`Family`] methods that read and write the fields both stored lease types have
/// (`attachment`, `netns`, `granted_at`, `info` with `address`, `t1_secs` and `t2_secs`).
macro_rules! lease_fields {
    () => {
        fn key(&self) -> &AttachmentKey {
            &self.attachment
        }
        fn netns(&self) -> &str {
            &self.netns
        }
        fn address(&self) -> IpAddr {
            self.info.address.into()
        }
        fn granted_at(&self) -> u64 {
            self.granted_at
        }
        fn t1_t2(&self) -> (u32, u32) {
            (self.info.t1_secs, self.info.t2_secs)
        }
        fn extended(&mut self, info: Self::Info, at: u64) {
            self.info = info;
            self.granted_at = at;
        }
    };
}

impl Family for StoredLease {
    type Info = super::packet::LeaseInfo;
    const LEASE: &'static str = "lease";
    const RELEASE: &'static str = "DHCPRELEASE";
    lease_fields!();
    fn lifetime(&self) -> u32 {
        self.info.lease_secs
    }
    fn place(slot: &mut Slot) -> &mut Option<Held<Self>> {
        &mut slot.held
    }
    fn other_held(slot: &Slot) -> bool {
        slot.held6.is_some()
    }
    fn save(&self, store: &Store) -> std::io::Result<()> {
        store.save(self)
    }
    fn remove(store: &Store, key: &AttachmentKey) -> std::io::Result<()> {
        store.remove(key)
    }
    async fn extend(
        &self,
        netns: &Path,
        renew: bool,
        timing: &Timing,
    ) -> Result<Extension<Self::Info>, SockError> {
        let server = renew.then_some(self.info.server_id);
        let (ifname, client) = (&self.attachment.ifname, client_of(self));
        exchange::extend(netns, ifname, &client, self.info.address, server, timing).await
    }
    async fn release(&self, netns: &Path) -> Result<(), SockError> {
        let (ifname, client) = (&self.attachment.ifname, client_of(self));
        exchange::release(
            netns,
            ifname,
            &client,
            self.info.address,
            self.info.server_id,
        )
        .await
    }
}

impl Family for StoredLease6 {
    type Info = super::packet6::Lease6Info;
    const LEASE: &'static str = "DHCPv6 lease";
    const RELEASE: &'static str = "DHCPv6 RELEASE";
    lease_fields!();
    fn lifetime(&self) -> u32 {
        self.info.valid_secs
    }
    fn place(slot: &mut Slot) -> &mut Option<Held<Self>> {
        &mut slot.held6
    }
    fn other_held(slot: &Slot) -> bool {
        slot.held.is_some()
    }
    fn save(&self, store: &Store) -> std::io::Result<()> {
        store.save6(self)
    }
    fn remove(store: &Store, key: &AttachmentKey) -> std::io::Result<()> {
        store.remove6(key)
    }
    async fn extend(
        &self,
        netns: &Path,
        renew: bool,
        timing: &Timing,
    ) -> Result<Extension<Self::Info>, SockError> {
        let client = Client6::new(&self.attachment.client_id_text());
        let ifname = &self.attachment.ifname;
        exchange6::extend6(netns, ifname, &client, &self.info, renew, timing).await
    }
    async fn release(&self, netns: &Path) -> Result<(), SockError> {
        let client = Client6::new(&self.attachment.client_id_text());
        exchange6::release6(netns, &self.attachment.ifname, &client, &self.info).await
    }
}

/// All leases of the daemon.
pub struct Daemon {
    flags: Flags,
    store: Store,
    slots: Mutex<HashMap<AttachmentKey, Arc<AsyncMutex<Slot>>>>,
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("dhcp daemon: {msg}");
}

fn client_of(l: &StoredLease) -> Client {
    Client::new(
        l.mac,
        &l.attachment.client_id_text(),
        l.request.clone(),
        l.provide.clone(),
    )
}

impl Daemon {
    pub fn new(flags: Flags, store: Store) -> Arc<Daemon> {
        Arc::new(Daemon {
            flags,
            store,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn timing(&self) -> &Timing {
        &self.flags.timing
    }

    fn netns_path(&self, netns: &str) -> PathBuf {
        self.flags.on_host(netns)
    }

    fn slot(&self, key: &AttachmentKey) -> Arc<AsyncMutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Forgets the empty slot of `key` unless another request holds it too (an ADD waiting
    /// for it would otherwise fill a slot no later request can find).
    fn remove_slot_if_idle(&self, key: &AttachmentKey, slot: &Arc<AsyncMutex<Slot>>) {
        let mut slots = self.slots.lock().unwrap();
        // One reference is the map's, one the caller's.
        if Arc::strong_count(slot) <= 2 && slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }

    fn existing_slot(&self, key: &AttachmentKey) -> Option<Arc<AsyncMutex<Slot>>> {
        self.slots.lock().unwrap().get(key).cloned()
    }

    /// Takes over the leases saved by an earlier run; expired ones are removed.
    pub async fn resume(self: &Arc<Daemon>) {
        let (leases, problems) = self.store.load_all();
        for p in problems {
            log(format!("ignoring state file {p}"));
        }
        for lease in leases {
            if now_secs() >= lease.expires_at() {
                log(format!(
                    "lease {} of {} expired while the daemon was down",
                    lease.info.address,
                    lease.attachment.client_id_text()
                ));
                let _ = self.store.remove(&lease.attachment);
                continue;
            }
            let slot = self.slot(&lease.attachment);
            let mut guard = slot.lock().await;
            log(format!(
                "resuming lease {} of {}",
                lease.info.address,
                lease.attachment.client_id_text()
            ));
            guard.held = Some(self.hold(lease));
        }
        for lease in self.store.load_all6() {
            if now_secs() >= lease.expires_at() {
                let _ = self.store.remove6(&lease.attachment);
                continue;
            }
            let slot = self.slot(&lease.attachment);
            let mut guard = slot.lock().await;
            log(format!(
                "resuming DHCPv6 lease {} of {}",
                lease.info.address,
                lease.attachment.client_id_text()
            ));
            guard.held6 = Some(self.hold(lease));
        }
    }

    /// Starts the task of a lease.
    fn hold<F: Family>(self: &Arc<Daemon>, lease: F) -> Held<F> {
        let record = Arc::new(Mutex::new(lease));
        let task = tokio::spawn(self.clone().maintain(record.clone())).abort_handle();
        Held { record, task }
    }

    pub async fn handle(self: &Arc<Daemon>, req: Request) -> Response {
        let outcome = match req {
            Request::Add(add) => self.add(add).await.map(|r| Response::Result {
                result: serde_json::to_value(r).expect("a result serializes"),
            }),
            Request::Del { attachment } => self.del(&attachment).await.map(|_| Response::Ok),
            Request::Check {
                attachment,
                addresses,
                addresses6,
            } => self
                .check(&attachment, &addresses, &addresses6)
                .await
                .map(|_| Response::Ok),
            Request::Status => Ok(Response::Ok),
            Request::Gc { network, valid } => {
                let stale: Vec<AttachmentKey> = self
                    .slots
                    .lock()
                    .unwrap()
                    .keys()
                    .filter(|k| {
                        k.network == network
                            && !valid
                                .iter()
                                .any(|v| v.container_id == k.container_id && v.ifname == k.ifname)
                    })
                    .cloned()
                    .collect();
                for key in stale {
                    let _ = self.del(&key).await;
                }
                Ok(Response::Ok)
            }
        };
        outcome.unwrap_or_else(|error| Response::Error { error })
    }

    async fn add(self: &Arc<Daemon>, req: AddRequest) -> Result<cni::result::Result100, Error> {
        if !req.dhcpv4 && !req.dhcpv6 {
            return Err(Error::invalid_config(
                "dhcp: neither DHCPv4 nor DHCPv6 requested",
            ));
        }
        let key = req.attachment.clone();
        let slot = self.slot(&key);
        let mut guard = slot.lock().await;
        let mut result = None;
        let mut v4_now = false;
        if req.dhcpv4 {
            let reuse = guard.held.as_ref().and_then(|held| {
                let rec = held.record.lock().unwrap();
                (rec.netns == req.netns && now_secs() < rec.expires_at())
                    .then(|| rec.info.to_result(req.priority))
            });
            result = match reuse {
                Some(r) => Some(r),
                None => {
                    if let Some(old) = guard.held.take() {
                        self.drop_held(old, true).await;
                    }
                    let lease = self.acquire4(&req).await?;
                    let r = lease.info.to_result(lease.priority);
                    guard.held = Some(self.hold(lease));
                    v4_now = true;
                    Some(r)
                }
            };
        }
        if req.dhcpv6 {
            let reuse = guard.held6.as_ref().and_then(|held| {
                let rec = held.record.lock().unwrap();
                (rec.netns == req.netns && now_secs() < rec.expires_at())
                    .then(|| rec.info.to_result())
            });
            let r6 = match reuse {
                Some(r) => r,
                None => {
                    if let Some(old) = guard.held6.take() {
                        self.drop_held(old, true).await;
                    }
                    match self.acquire6(&req).await {
                        Ok(lease) => {
                            let r = lease.info.to_result();
                            guard.held6 = Some(self.hold(lease));
                            r
                        }
                        Err(e) => {
                            if v4_now {
                                if let Some(h) = guard.held.take() {
                                    self.drop_held(h, true).await;
                                }
                            }
                            return Err(e);
                        }
                    }
                }
            };
            result = Some(match result {
                None => r6,
                Some(mut r) => {
                    r.ips.extend(r6.ips);
                    r.dns.nameservers.extend(r6.dns.nameservers);
                    for s in r6.dns.search {
                        if !r.dns.search.contains(&s) {
                            r.dns.search.push(s);
                        }
                    }
                    r
                }
            });
        }
        Ok(result.expect("one family at least was asked for"))
    }

    async fn acquire4(&self, req: &AddRequest) -> Result<StoredLease, Error> {
        let key = &req.attachment;
        let netns = self.netns_path(&req.netns);
        let (mac, info) = exchange::acquire(
            &netns,
            &key.ifname,
            &key.client_id_text(),
            req.request.clone(),
            req.provide.clone(),
            self.timing(),
        )
        .await
        .map_err(|e| acquire_error(key, &netns, "DHCP", e))?;
        log(format!(
            "lease {}/{} for {} from {} ({} s)",
            info.address,
            info.prefix_len,
            key.client_id_text(),
            info.server_id,
            info.lease_secs
        ));
        let lease = StoredLease {
            format: FORMAT_VERSION,
            attachment: key.clone(),
            netns: req.netns.clone(),
            mac,
            request: req.request.clone(),
            provide: req.provide.clone(),
            priority: req.priority,
            info,
            granted_at: now_secs(),
        };
        if let Err(e) = self.store.save(&lease) {
            log(format!(
                "cannot save the lease (it will not survive a restart): {e}"
            ));
        }
        Ok(lease)
    }

    async fn acquire6(&self, req: &AddRequest) -> Result<StoredLease6, Error> {
        let key = &req.attachment;
        let netns = self.netns_path(&req.netns);
        let client = Client6::new(&key.client_id_text());
        let info = exchange6::acquire6(&netns, &key.ifname, &client, self.timing())
            .await
            .map_err(|e| acquire_error(key, &netns, "DHCPv6", e))?;
        log(format!(
            "DHCPv6 lease {} for {} ({} s)",
            info.address,
            key.client_id_text(),
            info.valid_secs
        ));
        let lease = StoredLease6 {
            format: FORMAT_VERSION,
            attachment: key.clone(),
            netns: req.netns.clone(),
            info,
            granted_at: now_secs(),
        };
        if let Err(e) = self.store.save6(&lease) {
            log(format!("cannot save the DHCPv6 lease: {e}"));
        }
        Ok(lease)
    }

    /// Stops a lease's task, sends the release when `release`, forgets the lease.
    async fn drop_held<F: Family>(&self, held: Held<F>, release: bool) {
        held.task.abort();
        let lease = held.record.lock().unwrap().clone();
        let (address, id) = (lease.address(), lease.key().client_id_text());
        if release {
            match lease.release(&self.netns_path(lease.netns())).await {
                Ok(()) => log(format!("released {address} of {id}")),
                Err(e) => log(format!("no {} for {address} of {id}: {e}", F::RELEASE)),
            }
        }
        if let Err(e) = F::remove(&self.store, lease.key()) {
            log(format!("cannot remove the saved {}: {e}", F::LEASE));
        }
    }

    async fn del(self: &Arc<Daemon>, key: &AttachmentKey) -> Result<(), Error> {
        let Some(slot) = self.existing_slot(key) else {
            return Ok(());
        };
        let mut guard = slot.lock().await;
        if let Some(held) = guard.held.take() {
            self.drop_held(held, true).await;
        }
        if let Some(held) = guard.held6.take() {
            self.drop_held(held, true).await;
        }
        self.remove_slot_if_idle(key, &slot);
        Ok(())
    }

    async fn check(
        &self,
        key: &AttachmentKey,
        addresses: &[Ipv4Addr],
        addresses6: &[std::net::Ipv6Addr],
    ) -> Result<(), Error> {
        let missing = |why: String| Error::plugin(CODE_NO_LEASE, why);
        let none = || {
            missing(format!(
                "dhcp: the daemon holds no lease for {}",
                key.client_id_text()
            ))
        };
        let Some(slot) = self.existing_slot(key) else {
            return Err(none());
        };
        let guard = slot.lock().await;
        if guard.held.is_none() && guard.held6.is_none() {
            return Err(none());
        }
        let now = now_secs();
        if let Some(held) = &guard.held {
            let rec = held.record.lock().unwrap();
            if now >= rec.expires_at() {
                return Err(missing(format!(
                    "dhcp: the lease of {} has expired",
                    key.client_id_text()
                )));
            }
            if !addresses.is_empty() && !addresses.contains(&rec.info.address) {
                return Err(missing(format!(
                    "dhcp: the lease of {} is {}, not an address of prevResult",
                    key.client_id_text(),
                    rec.info.address
                )));
            }
        } else if !addresses.is_empty() {
            return Err(missing(format!(
                "dhcp: prevResult has IPv4 addresses but the daemon holds no DHCPv4 lease for {}",
                key.client_id_text()
            )));
        }
        if let Some(held) = &guard.held6 {
            let rec = held.record.lock().unwrap();
            if now >= rec.expires_at() {
                return Err(missing(format!(
                    "dhcp: the DHCPv6 lease of {} has expired",
                    key.client_id_text()
                )));
            }
            if !addresses6.is_empty() && !addresses6.contains(&rec.info.address) {
                return Err(missing(format!(
                    "dhcp: the DHCPv6 lease of {} is {}, not an address of prevResult",
                    key.client_id_text(),
                    rec.info.address
                )));
            }
        } else if !addresses6.is_empty() {
            return Err(missing(format!(
                "dhcp: prevResult has IPv6 addresses but the daemon holds no DHCPv6 lease for {}",
                key.client_id_text()
            )));
        }
        Ok(())
    }

    /// Removes a lease whose task ends it (expired, refused, attachment gone).
    async fn forget<F: Family>(&self, record: &Arc<Mutex<F>>, why: &str) {
        let key = record.lock().unwrap().key().clone();
        log(format!(
            "dropping the {} of {}: {why}",
            F::LEASE,
            key.client_id_text()
        ));
        if let Some(slot) = self.existing_slot(&key) {
            let mut guard = slot.lock().await;
            let place = F::place(&mut guard);
            if place
                .as_ref()
                .is_some_and(|h| Arc::ptr_eq(&h.record, record))
            {
                *place = None;
                let _ = F::remove(&self.store, &key);
                if !F::other_held(&guard) {
                    self.remove_slot_if_idle(&key, &slot);
                }
            }
        }
    }

    /// The task of one lease (see the module documentation).
    async fn maintain<F: Family>(self: Arc<Daemon>, record: Arc<Mutex<F>>) {
        loop {
            let lease = record.lock().unwrap().clone();
            let now = now_secs();
            let netns = self.netns_path(lease.netns());
            let ifname = &lease.key().ifname;
            if now >= lease.expires_at() {
                return self.forget(&record, "expired").await;
            }
            match sock::attachment_present(&netns, ifname) {
                Ok(false) => return self.forget(&record, "namespace or interface gone").await,
                Ok(true) => {}
                Err(e) => log(format!(
                    "cannot look for {ifname:?} in {}: {e}",
                    netns.display()
                )),
            }
            let (t1, t2) = lease.t1_t2();
            let t1 = lease.granted_at() + u64::from(t1);
            let t2 = lease.granted_at() + u64::from(t2);
            if now < t1 {
                let wait = Duration::from_secs(t1 - now).min(LIVENESS_INTERVAL);
                tokio::time::sleep(wait).await;
                continue;
            }
            let renew = now < t2;
            match lease.extend(&netns, renew, self.timing()).await {
                Ok(Extension::Extended(info)) => {
                    let updated = {
                        let mut rec = record.lock().unwrap();
                        rec.extended(info, now_secs());
                        rec.clone()
                    };
                    log(format!(
                        "{} {} {} of {} for {} s",
                        if renew { "renewed" } else { "rebound" },
                        F::LEASE,
                        updated.address(),
                        updated.key().client_id_text(),
                        updated.lifetime()
                    ));
                    if let Err(e) = updated.save(&self.store) {
                        log(format!("cannot save the {}: {e}", F::LEASE));
                    }
                }
                Ok(Extension::Refused) => {
                    return self
                        .forget(&record, "the server refused to extend it")
                        .await
                }
                Ok(Extension::NoAnswer) => {
                    // Half the time left until the next phase (T2 while renewing, expiry
                    // while rebinding), at least a second (RFC 2131 4.4.5).
                    let next = if renew { t2 } else { lease.expires_at() };
                    let left = next.saturating_sub(now_secs());
                    let wait = Duration::from_secs((left / 2).max(1)).min(LIVENESS_INTERVAL);
                    tokio::time::sleep(wait).await;
                }
                Err(e) if e.is_gone() => {
                    return self.forget(&record, "namespace or interface gone").await
                }
                Err(e) => {
                    log(format!("cannot extend the {}: {e}", F::LEASE));
                    tokio::time::sleep(LIVENESS_INTERVAL).await;
                }
            }
        }
    }
}

fn acquire_error(
    key: &AttachmentKey,
    netns: &std::path::Path,
    what: &str,
    e: exchange::AcquireError,
) -> Error {
    match e {
        exchange::AcquireError::NoAnswer(_) => Error::plugin(
            CODE_NO_SERVER,
            format!(
                "dhcp: no {what} lease for {} on {}",
                key.client_id_text(),
                key.ifname
            ),
        )
        .with_details(e),
        exchange::AcquireError::Socket(e) => Error::internal(format!(
            "dhcp: cannot talk {what} on {:?} in {}: {e}",
            key.ifname,
            netns.display()
        )),
    }
}
