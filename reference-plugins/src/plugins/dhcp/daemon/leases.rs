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
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cni::Error;
use tokio::sync::Mutex as AsyncMutex;

use super::exchange::{self, Extension, Timing};
use super::flags::Flags;
use super::packet::Client;
use super::sock;
use super::store::{now_secs, Store, StoredLease, FORMAT_VERSION};
use crate::plugins::dhcp::protocol::{AddRequest, AttachmentKey, Request, Response};
use crate::plugins::dhcp::{CODE_NO_LEASE, CODE_NO_SERVER};

/// How often a lease's task looks for its namespace and interface.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(10);

struct Held {
    record: Arc<Mutex<StoredLease>>,
    task: tokio::task::AbortHandle,
}

#[derive(Default)]
struct Slot {
    held: Option<Held>,
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
    }

    /// Starts the task of a lease.
    fn hold(self: &Arc<Daemon>, lease: StoredLease) -> Held {
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
            } => self
                .check(&attachment, &addresses)
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
        let key = req.attachment.clone();
        let slot = self.slot(&key);
        let mut guard = slot.lock().await;
        if let Some(held) = &guard.held {
            let same = {
                let rec = held.record.lock().unwrap();
                (rec.netns == req.netns && now_secs() < rec.expires_at())
                    .then(|| rec.info.to_result(req.priority))
            };
            if let Some(result) = same {
                return Ok(result);
            }
            let old = guard.held.take().expect("checked above");
            self.drop_held(old, true).await;
        }
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
        .map_err(|e| match e {
            exchange::AcquireError::NoAnswer(_) => Error::plugin(
                CODE_NO_SERVER,
                format!(
                    "dhcp: no lease for {} on {}",
                    key.client_id_text(),
                    key.ifname
                ),
            )
            .with_details(e),
            exchange::AcquireError::Socket(e) => Error::internal(format!(
                "dhcp: cannot talk DHCP on {:?} in {}: {e}",
                key.ifname,
                netns.display()
            )),
        })?;
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
            attachment: key,
            netns: req.netns,
            mac,
            request: req.request,
            provide: req.provide,
            priority: req.priority,
            info,
            granted_at: now_secs(),
        };
        if let Err(e) = self.store.save(&lease) {
            log(format!(
                "cannot save the lease (it will not survive a restart): {e}"
            ));
        }
        let result = lease.info.to_result(lease.priority);
        guard.held = Some(self.hold(lease));
        Ok(result)
    }

    /// Stops a lease's task, sends DHCPRELEASE when `release`, forgets the lease.
    async fn drop_held(&self, held: Held, release: bool) {
        held.task.abort();
        let lease = held.record.lock().unwrap().clone();
        if release {
            let netns = self.netns_path(&lease.netns);
            match exchange::release(
                &netns,
                &lease.attachment.ifname,
                &client_of(&lease),
                lease.info.address,
                lease.info.server_id,
            )
            .await
            {
                Ok(()) => log(format!(
                    "released {} of {}",
                    lease.info.address,
                    lease.attachment.client_id_text()
                )),
                Err(e) => log(format!(
                    "no DHCPRELEASE for {} of {}: {e}",
                    lease.info.address,
                    lease.attachment.client_id_text()
                )),
            }
        }
        if let Err(e) = self.store.remove(&lease.attachment) {
            log(format!("cannot remove the saved lease: {e}"));
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
        self.remove_slot_if_idle(key, &slot);
        Ok(())
    }

    async fn check(&self, key: &AttachmentKey, addresses: &[Ipv4Addr]) -> Result<(), Error> {
        let missing = |why: String| Error::plugin(CODE_NO_LEASE, why);
        let Some(slot) = self.existing_slot(key) else {
            return Err(missing(format!(
                "dhcp: the daemon holds no lease for {}",
                key.client_id_text()
            )));
        };
        let guard = slot.lock().await;
        let Some(held) = &guard.held else {
            return Err(missing(format!(
                "dhcp: the daemon holds no lease for {}",
                key.client_id_text()
            )));
        };
        let rec = held.record.lock().unwrap();
        if now_secs() >= rec.expires_at() {
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
        Ok(())
    }

    /// Removes a lease whose task ends it (expired, refused, attachment gone).
    async fn forget(&self, record: &Arc<Mutex<StoredLease>>, why: &str) {
        let key = record.lock().unwrap().attachment.clone();
        log(format!(
            "dropping the lease of {}: {why}",
            key.client_id_text()
        ));
        if let Some(slot) = self.existing_slot(&key) {
            let mut guard = slot.lock().await;
            if guard
                .held
                .as_ref()
                .is_some_and(|h| Arc::ptr_eq(&h.record, record))
            {
                guard.held = None;
                let _ = self.store.remove(&key);
                self.remove_slot_if_idle(&key, &slot);
            }
        }
    }

    /// The task of one lease (see the module documentation).
    async fn maintain(self: Arc<Daemon>, record: Arc<Mutex<StoredLease>>) {
        loop {
            let lease = record.lock().unwrap().clone();
            let now = now_secs();
            let netns = self.netns_path(&lease.netns);
            let ifname = lease.attachment.ifname.clone();
            if now >= lease.expires_at() {
                return self.forget(&record, "expired").await;
            }
            match sock::attachment_present(&netns, &ifname) {
                Ok(false) => return self.forget(&record, "namespace or interface gone").await,
                Ok(true) => {}
                Err(e) => log(format!(
                    "cannot look for {ifname:?} in {}: {e}",
                    netns.display()
                )),
            }
            let t1 = lease.granted_at + u64::from(lease.info.t1_secs);
            let t2 = lease.granted_at + u64::from(lease.info.t2_secs);
            if now < t1 {
                let wait = Duration::from_secs(t1 - now).min(LIVENESS_INTERVAL);
                tokio::time::sleep(wait).await;
                continue;
            }
            let server = (now < t2).then_some(lease.info.server_id);
            let outcome = exchange::extend(
                &netns,
                &ifname,
                &client_of(&lease),
                lease.info.address,
                server,
                self.timing(),
            )
            .await;
            match outcome {
                Ok(Extension::Extended(info)) => {
                    let updated = {
                        let mut rec = record.lock().unwrap();
                        rec.info = info;
                        rec.granted_at = now_secs();
                        rec.clone()
                    };
                    log(format!(
                        "{} lease {} of {} for {} s",
                        if server.is_some() {
                            "renewed"
                        } else {
                            "rebound"
                        },
                        updated.info.address,
                        updated.attachment.client_id_text(),
                        updated.info.lease_secs
                    ));
                    if let Err(e) = self.store.save(&updated) {
                        log(format!("cannot save the lease: {e}"));
                    }
                }
                Ok(Extension::Refused) => {
                    return self
                        .forget(&record, "the server refused to extend it")
                        .await
                }
                Ok(Extension::NoAnswer) => {
                    let left = lease.expires_at().saturating_sub(now_secs());
                    let wait = Duration::from_secs((left / 2).max(1)).min(LIVENESS_INTERVAL);
                    tokio::time::sleep(wait).await;
                }
                Err(e) if e.is_gone() => {
                    return self.forget(&record, "namespace or interface gone").await
                }
                Err(e) => {
                    log(format!("cannot extend the lease: {e}"));
                    tokio::time::sleep(LIVENESS_INTERVAL).await;
                }
            }
        }
    }
}
