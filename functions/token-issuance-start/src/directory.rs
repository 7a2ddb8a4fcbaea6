//! The Graph reads behind the claims, and the optional per-user cache in front of them.
//!
//! At most two reads per callout (docs/protocols/graph-api.md A.8, A.9): the user with every
//! property and extension attribute the rules need in one `$select` (Graph returns only a default
//! property set otherwise, and never extension attributes), and the user's transitive group
//! membership cast to groups with `$select=id,displayName`. Both run on a client bound to the
//! call's deadline, so neither can outlive Entra's timeout.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use entra_graph::{GraphClient, GraphError, ListQuery};
use futures::TryStreamExt;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::rules::CacheSettings;

/// Page size for the membership read: Graph's maximum for directory objects, so a customer in a
/// normal number of groups is one request.
const GROUPS_PAGE_SIZE: u32 = 999;

/// What one user read returned, and what it asked for (so a cached copy is only used when it
/// holds every property a later call needs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchedUser {
    pub selected: BTreeSet<String>,
    pub values: Map<String, Value>,
}

/// A group the user belongs to, directly or through nesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRef {
    pub id: String,
    pub display_name: Option<String>,
}

/// Why a Graph-derived value is not available for this call.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Unavailable {
    #[error("the callout carries no user, so there is no user id to read Graph with")]
    NoUser,
    #[error("no Graph client is configured")]
    NoGraph,
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// `GET /users/{id}?$select=...`.
pub(crate) async fn read_user(
    graph: &GraphClient,
    user_id: &str,
    select: BTreeSet<String>,
) -> Result<FetchedUser, GraphError> {
    let mut url = graph.url(&["users", user_id]);
    url.query_pairs_mut().append_pair(
        "$select",
        &select
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(","),
    );
    let values: Map<String, Value> = graph.get_json(url).await?;
    Ok(FetchedUser {
        selected: select,
        values,
    })
}

/// `GET /users/{id}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName`, every page.
pub(crate) async fn read_groups(
    graph: &GraphClient,
    user_id: &str,
) -> Result<Vec<GroupRef>, GraphError> {
    let query = ListQuery::new()
        .select(["id", "displayName"])
        .top(GROUPS_PAGE_SIZE);
    graph
        .groups()
        .transitive_member_of(user_id, &query)
        .map_ok(|group| GroupRef {
            id: group.id,
            display_name: group.display_name,
        })
        .try_collect()
        .await
}

/// A value and when it was read.
#[derive(Debug, Clone)]
struct Stamped<T> {
    read_at: Instant,
    value: T,
}

#[derive(Debug, Default)]
struct Entry {
    user: Option<Stamped<Arc<FetchedUser>>>,
    groups: Option<Stamped<Arc<Vec<GroupRef>>>>,
}

/// Graph-derived values per user id for a short time, so a burst of token issuances for one user
/// (sign-in, then silent refreshes for several resources) reads Graph once. Only successful reads
/// are kept; a failure is retried on the next call. Bounded: when full, expired entries go first,
/// then arbitrary ones.
#[derive(Debug)]
pub(crate) struct DirectoryCache {
    settings: CacheSettings,
    entries: Mutex<HashMap<String, Entry>>,
}

impl DirectoryCache {
    pub fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached user read, if fresh at `now` and it selected at least `needed`.
    pub fn user(
        &self,
        user_id: &str,
        needed: &BTreeSet<String>,
        now: Instant,
    ) -> Option<Arc<FetchedUser>> {
        let entries = self.lock();
        let stamped = entries.get(&key(user_id))?.user.as_ref()?;
        (self.fresh(stamped.read_at, now) && needed.is_subset(&stamped.value.selected))
            .then(|| Arc::clone(&stamped.value))
    }

    /// The cached group membership, if fresh at `now`.
    pub fn groups(&self, user_id: &str, now: Instant) -> Option<Arc<Vec<GroupRef>>> {
        let entries = self.lock();
        let stamped = entries.get(&key(user_id))?.groups.as_ref()?;
        self.fresh(stamped.read_at, now)
            .then(|| Arc::clone(&stamped.value))
    }

    pub fn store_user(&self, user_id: &str, user: Arc<FetchedUser>, read_at: Instant) {
        self.update(user_id, read_at, |entry| {
            entry.user = Some(Stamped {
                read_at,
                value: user,
            });
        });
    }

    pub fn store_groups(&self, user_id: &str, groups: Arc<Vec<GroupRef>>, read_at: Instant) {
        self.update(user_id, read_at, |entry| {
            entry.groups = Some(Stamped {
                read_at,
                value: groups,
            });
        });
    }

    /// How many users are cached (expired ones included until evicted).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn fresh(&self, read_at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(read_at) < self.settings.ttl
    }

    fn update(&self, user_id: &str, now: Instant, change: impl FnOnce(&mut Entry)) {
        let key = key(user_id);
        let mut entries = self.lock();
        if !entries.contains_key(&key) && entries.len() >= self.settings.max_users {
            let ttl = self.settings.ttl;
            entries.retain(|_, entry| {
                let newest = [
                    entry.user.as_ref().map(|s| s.read_at),
                    entry.groups.as_ref().map(|s| s.read_at),
                ]
                .into_iter()
                .flatten()
                .max();
                newest.is_some_and(|at| now.saturating_duration_since(at) < ttl)
            });
            while entries.len() >= self.settings.max_users {
                let Some(victim) = entries.keys().next().cloned() else {
                    break;
                };
                entries.remove(&victim);
            }
        }
        change(entries.entry(key).or_default());
    }

    /// A poisoned lock only means a panic elsewhere mid-update; the map is still consistent
    /// enough for a cache (worst case a stale entry that expires).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Object ids are GUIDs; compare them ignoring case.
fn key(user_id: &str) -> String {
    user_id.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cache(max_users: usize) -> DirectoryCache {
        DirectoryCache::new(CacheSettings {
            ttl: Duration::from_secs(60),
            max_users,
        })
    }

    fn fetched(selected: &[&str]) -> Arc<FetchedUser> {
        Arc::new(FetchedUser {
            selected: selected.iter().map(|s| (*s).to_owned()).collect(),
            values: Map::new(),
        })
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn entries_expire_and_must_cover_the_needed_properties() {
        let cache = cache(10);
        let t0 = Instant::now();
        cache.store_user("ABC", fetched(&["mail", "city"]), t0);
        assert!(cache.user("abc", &set(&["mail"]), t0).is_some());
        assert!(cache.user("abc", &set(&["mail", "city"]), t0).is_some());
        assert!(cache.user("abc", &set(&["jobTitle"]), t0).is_none());
        assert!(
            cache
                .user("abc", &set(&["mail"]), t0 + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            cache
                .user("abc", &set(&["mail"]), t0 + Duration::from_secs(60))
                .is_none()
        );
        assert!(cache.groups("abc", t0).is_none());
        cache.store_groups("abc", Arc::new(Vec::new()), t0);
        assert!(cache.groups("ABC", t0).is_some());
    }

    #[test]
    fn the_cache_stays_bounded_and_evicts_expired_entries_first() {
        let cache = cache(2);
        let t0 = Instant::now();
        cache.store_user("old", fetched(&[]), t0);
        let later = t0 + Duration::from_secs(120);
        cache.store_user("a", fetched(&[]), later);
        cache.store_user("b", fetched(&[]), later);
        assert_eq!(cache.len(), 2);
        assert!(cache.user("old", &set(&[]), later).is_none());
        cache.store_user("c", fetched(&[]), later);
        assert_eq!(cache.len(), 2);
        assert!(cache.user("c", &set(&[]), later).is_some());
    }
}
