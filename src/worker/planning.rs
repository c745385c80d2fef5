//! Planning a batch against what is stored: which stored contacts hold the
//! identities of the batch's rows, read ahead of its transaction where that is
//! safe; the plan made again inside it; and the identity backfill of contacts
//! from before identities, which plans with the same code at start-up.

use crate::domain::merge::MergeRules;
use crate::domain::plan::{plan_batch, BatchPlan, Change, RowContact, StoredContact};
use crate::domain::identity::Identity;
use crate::store::{ContactReads, ContactWrites, Store, StoreResult, ROWS_PER_STATEMENT};
use chrono::{DateTime, Utc};
use foldhash::{HashSet, HashSetExt};

/// A batch's stored owners, read outside its transaction while the batch before
/// it was still committing, so that the read runs beside that commit instead of
/// after it, on its own connection. It holds because a user's contacts and
/// identities change only through their one running import's batches, in order:
/// what the read may have missed is what the batch before touched, and
/// `plan_against_store` asks for that again inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct Prefetched {
    pub contacts: Vec<StoredContact>,
    /// Every identity of every person the batch before planned (`BatchOutcome::Committed::touched`).
    pub stale: HashSet<u64>,
}

/// The user's stored contacts that hold any identity of `rows`, read in a
/// transaction of their own, outside any batch's (`Prefetched`). With `held`,
/// only the identities it may hold are asked for.
pub async fn prefetch_owners(store: &dyn Store, user_id: i64, rows: &[RowContact], held: Option<&HeldIdentities>) -> StoreResult<Vec<StoredContact>> {
    let asked = identities_to_prefetch(rows, held);
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.begin_contact_reads().await?;
    owners_of(&mut *tx, user_id, &asked, &mut HashSet::new()).await
}

/// The contacts holding any of `identities`, leaving out those in `known` (and adding the others to it).
async fn owners_of(tx: &mut dyn ContactReads, user_id: i64, identities: &[&Identity], known: &mut HashSet<i64>) -> StoreResult<Vec<StoredContact>> {
    let mut found = Vec::new();
    for chunk in identities.chunks(ROWS_PER_STATEMENT) {
        let owners = tx.identity_owners(user_id, chunk).await?;
        let new: Vec<i64> = owners.into_iter().filter(|id| known.insert(*id)).collect();
        for ids in new.chunks(ROWS_PER_STATEMENT) {
            found.extend(tx.stored_contacts(user_id, ids).await?);
        }
    }
    Ok(found)
}

/// What `Store::prefetch_owners` asks for: each identity of the rows once, less
/// those `held` shows no contact can hold.
fn identities_to_prefetch<'r>(rows: &'r [RowContact], held: Option<&HeldIdentities>) -> Vec<&'r Identity> {
    let mut seen: HashSet<&Identity> = HashSet::new();
    rows.iter()
        .flat_map(|row| &row.identities)
        .filter(|i| held.is_none_or(|held| held.may_hold(i)) && seen.insert(*i))
        .collect()
}

/// The identities a user's contacts may hold, kept by a run that began when the
/// user had no contacts. Their identities can then come only from the run's own
/// batches (a user's contacts change only through their one running import), and
/// each batch's touched set is added once it commits. While a batch is in
/// flight, the filter covers every batch before it; what the batch in flight
/// stores comes back to the next one as `Prefetched::stale`, which it asks for
/// again in its transaction. So an identity the filter rules out was stored by
/// no batch the early read could have missed, and the read need not ask for it:
/// on a first import, the usual case, that is nearly every identity.
///
/// A Bloom filter of bounded size: a false positive costs one lookup, and a file
/// with more identities than it was sized for only makes them more frequent.
pub struct HeldIdentities(fastbloom::BloomFilter);

/// The filter's bits per identity expected: about 2 % false positives.
const HELD_BITS_PER_IDENTITY: u64 = 8;
/// Identities a row is expected to hold: an email, and the name with a phone.
const HELD_IDENTITIES_PER_ROW: u64 = 2;
/// 2 MiB per running import, enough for 2,000,000 identities at the rate above.
const HELD_MAX_BITS: u64 = 1 << 24;
const HELD_MIN_BITS: u64 = 1 << 12;

impl HeldIdentities {
    /// An empty filter sized for a file of `rows` data rows.
    pub fn for_rows(rows: u64) -> Self {
        let expected = rows.saturating_mul(HELD_IDENTITIES_PER_ROW).max(1);
        let bits = expected.saturating_mul(HELD_BITS_PER_IDENTITY).clamp(HELD_MIN_BITS, HELD_MAX_BITS);
        // Hashes for the bits as clamped: for the expected count, a tiny file
        // would get thousands per identity, a huge one a single hash.
        Self(fastbloom::BloomFilter::with_num_bits(bits as usize).expected_items((bits / HELD_BITS_PER_IDENTITY) as usize))
    }

    /// Adds a committed batch's `touched` set (`identity_hash`es).
    pub fn add(&mut self, touched: &HashSet<u64>) {
        for hash in touched {
            self.0.insert_hash(*hash);
        }
    }

    pub fn may_hold(&self, identity: &Identity) -> bool {
        self.0.contains_hash(identity_hash(identity))
    }
}

/// Plans `rows` against the user's stored contacts: fetches every contact that
/// holds an identity the plan's people hold, and plans again until the plan
/// holds no identity it has not looked up. `stored` starts the plan off, and so
/// do the `prefetched` owners, less whatever the batch before touched.
pub(crate) async fn plan_against_store<'r>(
    tx: &mut dyn ContactReads,
    user_id: i64,
    rows: &'r [RowContact],
    mut stored: Vec<StoredContact>,
    prefetched: Option<Prefetched>,
    rules: &MergeRules<'_>,
) -> StoreResult<BatchPlan<'r>> {
    // A contact holding a touched identity may have changed or gone since the
    // read: it is read again, and so is the owner of each of its identities.
    let mut unsure: HashSet<Identity> = HashSet::new();
    let stale = match prefetched {
        Some(Prefetched { contacts, stale }) => {
            for contact in contacts {
                if contact.identities.iter().any(|i| stale.contains(&identity_hash(i))) {
                    unsure.extend(contact.identities);
                } else {
                    stored.push(contact);
                }
            }
            Some(stale)
        }
        None => None,
    };
    let answered = |identity: &Identity| {
        stale.as_ref().is_some_and(|stale| !stale.contains(&identity_hash(identity)) && !unsure.contains(identity))
    };
    // Every identity the rows hold is asked for once, here or by the prefetch.
    let mut asked_rows: HashSet<&Identity> = HashSet::new();
    let first: Vec<&Identity> =
        rows.iter().flat_map(|row| &row.identities).filter(|i| asked_rows.insert(*i) && !answered(i)).collect();
    let mut known: HashSet<i64> = stored.iter().map(|s| s.id).collect();
    stored.extend(owners_of(tx, user_id, &first, &mut known).await?);
    // Then those the plan's people hold beyond the rows' (a merged contact's).
    let mut asked: HashSet<Identity> = HashSet::new();
    loop {
        let plan = plan_batch(rows, &stored, rules);
        let pending: Vec<&Identity> = plan
            .contacts
            .iter()
            .flat_map(|c| c.identities.iter())
            .filter(|i| !asked_rows.contains(i) && asked.insert((*i).clone()))
            .collect();
        let found = owners_of(tx, user_id, &pending, &mut known).await?;
        if found.is_empty() {
            return Ok(plan);
        }
        stored.extend(found);
    }
}

/// Frees a committed batch's rows on a blocking thread: thousands of small
/// allocations that the next batch's commit need not wait for.
pub(crate) fn free_beside<T: Send + 'static>(spent: T) {
    tokio::task::spawn_blocking(move || drop(spent));
}

/// Every identity of every person in the plan, by `identity_hash`: what a
/// prefetch of the next batch's owners, read while this plan was written, may
/// not reflect.
pub(crate) fn touched_identities(plan: &BatchPlan<'_>) -> HashSet<u64> {
    plan.contacts.iter().flat_map(|c| c.identities.iter()).map(identity_hash).collect()
}

/// An identity as a touched set holds it: a collision only makes a batch ask
/// for an owner once more.
pub(crate) fn identity_hash(identity: &Identity) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(identity)
}

/// Contacts backfilled per transaction at start-up.
const BACKFILL_CHUNK: u32 = 1000;

/// Gives contacts from before the identity migration their identities and
/// search text, merging those that turn out to be one person into the oldest.
/// One chunk per call, in the caller's transaction; the number of contacts
/// it took, 0 when none is left.
async fn backfill_identities_chunk(tx: &mut dyn ContactWrites, now: DateTime<Utc>, max_values: usize) -> StoreResult<usize> {
    let chunk = tx.contacts_to_backfill(BACKFILL_CHUNK).await?;
    let taken = chunk.len();
    let mut users: Vec<(i64, Vec<StoredContact>)> = Vec::new();
    for (user_id, contact) in chunk {
        match users.last_mut() {
            Some((user, contacts)) if *user == user_id => contacts.push(contact),
            _ => users.push((user_id, vec![contact])),
        }
    }
    for (user_id, contacts) in users {
        let rules = MergeRules { source: "a merged contact", max_values };
        let mut plan = plan_against_store(tx, user_id, &[], contacts, None, &rules).await?;
        // Every contact taken is written (its search text) or absorbed.
        for planned in &mut plan.contacts {
            planned.change = Change::Updated;
        }
        tx.write_plan(user_id, &plan, None, now).await?;
        if plan.counts.merged > 0 {
            tracing::info!(user_id, merged = plan.counts.merged, "merged contacts that are one person by their identities");
        }
    }
    Ok(taken)
}

/// Gives contacts from before the identity migration their identities and
/// search text, a chunk per transaction, before any import of this instance
/// runs (instances starting together take turns on Postgres).
pub async fn backfill_identities(store: &dyn Store, max_values: usize) -> StoreResult<()> {
    loop {
        let mut tx = store.begin_backfill().await?;
        let taken = backfill_identities_chunk(&mut *tx, Utc::now(), max_values).await?;
        tx.commit().await?;
        if taken == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Contact, Labeled};

    fn row(emails: &[&str]) -> RowContact {
        let emails = emails.iter().map(|e| Labeled::new(e.to_string(), "", false)).collect();
        RowContact::new(2, Contact { display_name: "Ana".into(), emails, ..Contact::default() })
    }

    #[test]
    fn held_identities_hold_every_touched_identity_and_few_others() {
        let mut held = HeldIdentities::for_rows(1000);
        let stored: Vec<Identity> = (0..2000).map(|i| Identity::email(&format!("p{i}@x.io"))).collect();
        held.add(&stored.iter().map(identity_hash).collect());
        assert!(stored.iter().all(|i| held.may_hold(i)), "a Bloom filter has no false negatives");
        let others = (0..10_000).filter(|i| held.may_hold(&Identity::email(&format!("q{i}@x.io")))).count();
        assert!(others < 500, "{others} of 10,000 identities never added were held");
    }

    #[test]
    fn held_identities_stay_within_their_bound_however_long_the_file() {
        for (rows, bits) in [(u64::MAX, HELD_MAX_BITS), (0, HELD_MIN_BITS), (1, HELD_MIN_BITS), (1000, 16_000)] {
            let held = HeldIdentities::for_rows(rows);
            assert_eq!(held.0.num_bits() as u64, bits.next_multiple_of(64), "{rows} rows");
            // About ln 2 × bits per identity, whatever the clamp did to the bits.
            assert!((4..=8).contains(&held.0.num_hashes()), "{rows} rows: {} hashes", held.0.num_hashes());
        }
    }

    #[test]
    fn the_early_read_asks_once_for_each_identity_that_may_be_held() {
        let rows = [row(&["a@x.io", "b@x.io"]), row(&["b@x.io", "c@x.io"])];
        let asked = |held: Option<&HeldIdentities>| -> Vec<String> {
            identities_to_prefetch(&rows, held).iter().map(|i| i.value.clone()).collect()
        };
        assert_eq!(asked(None), ["a@x.io", "b@x.io", "c@x.io"], "without a filter, each identity once");
        let mut held = HeldIdentities::for_rows(2);
        assert!(asked(Some(&held)).is_empty(), "an empty filter holds nothing");
        held.add(&[identity_hash(&Identity::email("b@x.io"))].into_iter().collect());
        assert_eq!(asked(Some(&held)), ["b@x.io"]);
    }
}
