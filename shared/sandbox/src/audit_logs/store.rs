//! One audit-log stream: explicit records and lazy generators, merged in (time, id) order.
//!
//! A list request is a keyset scan: "records with time in `[lo, hi)` strictly after this (time, id)
//! key, in this direction, at most N". Explicit records sit in a `BTreeMap` keyed by (time, id), so
//! their part of the scan is a range walk. A generator's record `i` is at `first + i * spacing`, so
//! the index where a key falls is arithmetic, and only the records a page returns are ever built.
//! The sources are then merged by key. A page therefore costs O(page + log n) whatever the stream
//! holds, and a million generated records cost a few words of memory.
//!
//! Because the cursor is a key and not an offset, records added while a client pages (before or
//! after its position) never shift what the remaining pages contain: no duplicates, and no skips of
//! records that existed when paging began.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::SystemTime;

use super::timestamp::Ticks;

/// A record's position in its stream: its time, then its id (ordinal string order).
pub(crate) type Key = (Ticks, String);

/// A half-open time window `[lo, hi)` in ticks; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) lo: Option<Ticks>,
    pub(crate) hi: Option<Ticks>,
}

impl Window {
    /// Intersects with another window.
    pub(crate) fn narrow(&mut self, lo: Option<Ticks>, hi: Option<Ticks>) {
        if let Some(lo) = lo {
            self.lo = Some(self.lo.map_or(lo, |current| current.max(lo)));
        }
        if let Some(hi) = hi {
            self.hi = Some(self.hi.map_or(hi, |current| current.min(hi)));
        }
    }
}

/// A record added by a test (or by a user change), kept serialised.
#[derive(Debug, Clone)]
pub(crate) struct Explicit {
    pub(crate) body: Arc<str>,
    /// Hidden from answers until this instant (a late arrival).
    pub(crate) visible_from: Option<SystemTime>,
}

/// `count` records, the i-th at `first + i * spacing`, contents derived from `(seed, i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generator {
    pub(crate) seed: u64,
    pub(crate) first: Ticks,
    /// At least one tick.
    pub(crate) spacing: Ticks,
    pub(crate) count: u64,
}

impl Generator {
    pub(crate) fn time(&self, index: u64) -> Ticks {
        // In range by construction: `generate` checks the last record's time.
        self.first + self.spacing * Ticks::try_from(index).unwrap_or(Ticks::MAX)
    }

    /// The smallest index whose key is `>= key` (`strict`: `> key`), in `0..=count`.
    fn index_from(&self, key: &Key, strict: bool, id_of: &dyn Fn(u64) -> String) -> u64 {
        let offset = i128::from(key.0) - i128::from(self.first);
        let spacing = i128::from(self.spacing);
        // ceil(offset / spacing): the first index whose time is >= key's time.
        let candidate = -(-offset).div_euclid(spacing);
        let count = i128::from(self.count);
        let index = u64::try_from(candidate.clamp(0, count)).unwrap_or(self.count);
        if index < self.count && self.time(index) == key.0 {
            let id = id_of(index);
            let before = if strict {
                id.as_str() <= key.1.as_str()
            } else {
                id.as_str() < key.1.as_str()
            };
            if before {
                return index + 1;
            }
        }
        index
    }
}

/// Where a scanned record comes from; enough to render it after the lock is released.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Explicit(Arc<str>),
    Generated(Generator, u64),
}

/// One record of a scan result.
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    pub(crate) key: Key,
    pub(crate) source: Source,
}

/// What a scan asks for.
#[derive(Debug, Clone)]
pub(crate) struct Scan<'a> {
    pub(crate) window: Window,
    pub(crate) descending: bool,
    pub(crate) after: Option<&'a Key>,
    pub(crate) limit: usize,
    /// Explicit records with `visible_from` later than this are skipped.
    pub(crate) now: SystemTime,
}

/// One stream's records and settings.
#[derive(Debug, Default)]
pub(crate) struct StreamLog {
    pub(crate) explicit: BTreeMap<Key, Explicit>,
    /// Explicit record id -> its time, to find it and to refuse duplicates.
    pub(crate) explicit_ids: HashMap<String, Ticks>,
    pub(crate) generators: Vec<Generator>,
    pub(crate) next_seed: u64,
    pub(crate) unlicensed: bool,
}

/// Inclusive/exclusive key bounds of a scan, both in ascending key order.
struct Bounds {
    lower: Bound<Key>,
    upper: Bound<Key>,
}

impl Bounds {
    fn new(scan: &Scan<'_>) -> Self {
        let lower_window = scan
            .window
            .lo
            .map_or(Bound::Unbounded, |lo| Bound::Included((lo, String::new())));
        let upper_window = scan
            .window
            .hi
            .map_or(Bound::Unbounded, |hi| Bound::Excluded((hi, String::new())));
        match (scan.after, scan.descending) {
            (None, _) => Self {
                lower: lower_window,
                upper: upper_window,
            },
            (Some(after), false) => Self {
                lower: tighter_lower(lower_window, Bound::Excluded(after.clone())),
                upper: upper_window,
            },
            (Some(after), true) => Self {
                lower: lower_window,
                upper: tighter_upper(upper_window, Bound::Excluded(after.clone())),
            },
        }
    }

    /// Whether any key can lie between the bounds (and `BTreeMap::range` will not panic).
    fn may_hold_keys(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Unbounded, _) | (_, Bound::Unbounded) => true,
            (Bound::Included(a), Bound::Included(b)) => a <= b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a < b
            }
        }
    }
}

fn tighter_lower(a: Bound<Key>, b: Bound<Key>) -> Bound<Key> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x > y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

fn tighter_upper(a: Bound<Key>, b: Bound<Key>) -> Bound<Key> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x < y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

/// A source's records in scan order, one at a time.
enum Cursor<'a> {
    Explicit(Box<dyn Iterator<Item = (&'a Key, &'a Explicit)> + 'a>),
    Generated {
        generator: Generator,
        next: u64,
        end: u64,
        descending: bool,
    },
}

impl StreamLog {
    /// Every record stored, visible or not.
    pub(crate) fn total(&self) -> u64 {
        let generated: u64 = self.generators.iter().map(|g| g.count).sum();
        generated.saturating_add(u64::try_from(self.explicit.len()).unwrap_or(u64::MAX))
    }

    /// Up to `scan.limit` visible records in scan order. `id_of(generator, index)` names generated
    /// records (ids are derived, not stored).
    pub(crate) fn scan(
        &self,
        scan: &Scan<'_>,
        id_of: &dyn Fn(&Generator, u64) -> String,
    ) -> Vec<Scanned> {
        let bounds = Bounds::new(scan);
        if scan.limit == 0 || !bounds.may_hold_keys() {
            return Vec::new();
        }
        let mut cursors: Vec<Cursor<'_>> = Vec::with_capacity(self.generators.len() + 1);
        let now = scan.now;
        let visible =
            move |entry: &(&Key, &Explicit)| entry.1.visible_from.is_none_or(|at| at <= now);
        let range = self
            .explicit
            .range((bounds.lower.clone(), bounds.upper.clone()));
        cursors.push(Cursor::Explicit(if scan.descending {
            Box::new(range.rev().filter(visible))
        } else {
            Box::new(range.filter(visible))
        }));
        for generator in &self.generators {
            let id = |index: u64| id_of(generator, index);
            let start = match &bounds.lower {
                Bound::Unbounded => 0,
                Bound::Included(key) => generator.index_from(key, false, &id),
                Bound::Excluded(key) => generator.index_from(key, true, &id),
            };
            let end = match &bounds.upper {
                Bound::Unbounded => generator.count,
                Bound::Included(key) => generator.index_from(key, true, &id),
                Bound::Excluded(key) => generator.index_from(key, false, &id),
            };
            if start < end {
                cursors.push(Cursor::Generated {
                    generator: *generator,
                    next: if scan.descending { end } else { start },
                    end: if scan.descending { start } else { end },
                    descending: scan.descending,
                });
            }
        }

        let mut heads: Vec<Option<Scanned>> = cursors
            .iter_mut()
            .map(|cursor| advance(cursor, id_of))
            .collect();
        let mut out = Vec::with_capacity(scan.limit.min(4096));
        while out.len() < scan.limit {
            let mut best: Option<usize> = None;
            for (i, head) in heads.iter().enumerate() {
                let Some(head) = head else { continue };
                let better = match best.and_then(|b| heads[b].as_ref()) {
                    None => true,
                    Some(current) if scan.descending => head.key > current.key,
                    Some(current) => head.key < current.key,
                };
                if better {
                    best = Some(i);
                }
            }
            let Some(best) = best else { break };
            let next = advance(&mut cursors[best], id_of);
            if let Some(taken) = std::mem::replace(&mut heads[best], next) {
                out.push(taken);
            }
        }
        out
    }
}

fn advance(cursor: &mut Cursor<'_>, id_of: &dyn Fn(&Generator, u64) -> String) -> Option<Scanned> {
    match cursor {
        Cursor::Explicit(iter) => iter.next().map(|(key, entry)| Scanned {
            key: key.clone(),
            source: Source::Explicit(entry.body.clone()),
        }),
        Cursor::Generated {
            generator,
            next,
            end,
            descending,
        } => {
            if next == end {
                return None;
            }
            let index = if *descending {
                *next -= 1;
                *next
            } else {
                *next += 1;
                *next - 1
            };
            Some(Scanned {
                key: (generator.time(index), id_of(generator, index)),
                source: Source::Generated(*generator, index),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(generator: &Generator, index: u64) -> String {
        // Ids that do not follow index order, to exercise ties on time.
        format!(
            "{:016x}",
            (generator.seed * 1_000 + index).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    fn keys(
        log: &StreamLog,
        window: Window,
        descending: bool,
        after: Option<&Key>,
        limit: usize,
    ) -> Vec<Key> {
        let scan = Scan {
            window,
            descending,
            after,
            limit,
            now: SystemTime::now(),
        };
        log.scan(&scan, &id_of).into_iter().map(|s| s.key).collect()
    }

    /// The same answer computed the slow way, from every record.
    fn brute(
        log: &StreamLog,
        window: Window,
        descending: bool,
        after: Option<&Key>,
        limit: usize,
    ) -> Vec<Key> {
        let mut all: Vec<Key> = log.explicit.keys().cloned().collect();
        for g in &log.generators {
            all.extend((0..g.count).map(|i| (g.time(i), id_of(g, i))));
        }
        all.sort();
        if descending {
            all.reverse();
        }
        all.into_iter()
            .filter(|(t, _)| {
                window.lo.is_none_or(|lo| *t >= lo) && window.hi.is_none_or(|hi| *t < hi)
            })
            .filter(|k| after.is_none_or(|a| if descending { k < a } else { k > a }))
            .take(limit)
            .collect()
    }

    #[test]
    fn scans_match_a_brute_force_merge() {
        let mut log = StreamLog::default();
        log.generators.push(Generator {
            seed: 1,
            first: 100,
            spacing: 7,
            count: 50,
        });
        log.generators.push(Generator {
            seed: 2,
            first: 93,
            spacing: 14,
            count: 30,
        });
        log.generators.push(Generator {
            seed: 3,
            first: 200,
            spacing: 1,
            count: 5,
        });
        for t in [90, 100, 107, 150, 151, 500] {
            log.explicit.insert(
                (t, format!("explicit-{t}")),
                Explicit {
                    body: Arc::from("{}"),
                    visible_from: None,
                },
            );
        }
        let windows = [
            Window::default(),
            Window {
                lo: Some(100),
                hi: Some(200),
            },
            Window {
                lo: Some(107),
                hi: Some(108),
            },
            Window {
                lo: Some(300),
                hi: Some(100),
            },
            Window {
                lo: None,
                hi: Some(121),
            },
        ];
        for window in windows {
            for descending in [false, true] {
                let expected = brute(&log, window, descending, None, usize::MAX);
                // Page through in every page size; each page must resume exactly after the last.
                for limit in [1, 2, 3, 7, 1000] {
                    let mut after: Option<Key> = None;
                    let mut seen = Vec::new();
                    loop {
                        let page = keys(&log, window, descending, after.as_ref(), limit);
                        assert_eq!(page, brute(&log, window, descending, after.as_ref(), limit));
                        seen.extend(page.iter().cloned());
                        match page.last() {
                            Some(last) if page.len() == limit => after = Some(last.clone()),
                            _ => break,
                        }
                    }
                    assert_eq!(seen, expected, "{window:?} desc={descending} limit={limit}");
                }
            }
        }
    }

    #[test]
    fn invisible_records_are_skipped_and_totals_count_everything() {
        let mut log = StreamLog::default();
        log.generators.push(Generator {
            seed: 0,
            first: 0,
            spacing: 10,
            count: 3,
        });
        log.explicit.insert(
            (5, "late".into()),
            Explicit {
                body: Arc::from("{}"),
                visible_from: Some(SystemTime::now() + std::time::Duration::from_secs(3600)),
            },
        );
        assert_eq!(keys(&log, Window::default(), false, None, 10).len(), 3);
        assert_eq!(log.total(), 4);
    }
}
