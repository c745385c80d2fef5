//! Postgres: many instances share one database. Workers take queued imports with
//! `FOR UPDATE SKIP LOCKED`, and a batch's contacts go in as one `UNNEST` upsert.
//! The fenced `UPDATE` that opens each batch also locks the import row, so a
//! takeover waits for the batch and then judges fresh progress.

use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use std::str::FromStr;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use std::time::Duration;

pub struct PostgresStore {
    pool: PgPool,
    /// Heartbeats and recovery, apart from `pool`: sixteen slow requests must
    /// not hold this instance's lease back until the others take its imports.
    leases: PgPool,
    instance_id: String,
}

impl PostgresStore {
    /// Postgres queues writers row by row: they share the one pool.
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn lease_keeper(&self) -> &PgPool {
        &self.leases
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// The database's clock.
const NOW: &str = "now()";
/// SKIP LOCKED: an import whose row a live batch holds is not an orphan.
const ORPHAN_ROW_LOCK: &str = "FOR UPDATE SKIP LOCKED";
/// A person's upload chunks take turns on their row, so each sees the bytes the others reserved.
/// The larger of two values.
const GREATEST: &str = "GREATEST";
const USER_ROW_LOCK: Option<&str> = Some("SELECT id FROM users WHERE id = $1 FOR UPDATE");

/// The database's clock less the seconds bound as `param`: a lease's or a staleness cutoff.
fn seconds_ago(param: &str) -> String {
    format!("now() - make_interval(secs => {param})")
}

fn decode_settings(row: &PgRow) -> StoreResult<(Sniffed, Mapping)> {
    let Json(sniffed): Json<Sniffed> = row.try_get("sniffed")?;
    let Json(mapping): Json<Mapping> = row.try_get("mapping")?;
    Ok((sniffed, mapping))
}

/// A Postgres setting's value in milliseconds.
fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Appends one row in COPY's text format: tab-separated, with the characters
/// that format gives meaning to escaped.
fn push_copy_row(out: &mut Vec<u8>, values: &[&str]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let bytes = value.as_bytes();
        // Most values hold none of the escaped characters: copy them whole.
        if memchr::memchr3(b'\\', b'\t', b'\n', bytes).is_none() && memchr::memchr(b'\r', bytes).is_none() {
            out.extend_from_slice(bytes);
            continue;
        }
        for &byte in bytes {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(byte),
            }
        }
    }
    out.push(b'\n');
}

/// Shared SQL as Postgres runs it: `$N` placeholders are its own.
fn query_text(sql: String) -> String {
    sql
}

/// `impl_store!`'s time shim both ways: a `timestamptz` column binds and reads a `DateTime` as it is.
fn same_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

fn time_column(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    row.try_get(column)
}

/// Drops the upload of an import that just ended; false when none ended.
async fn drop_upload(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, ended_upload: Option<String>) -> StoreResult<bool> {
    let Some(upload_id) = ended_upload else { return Ok(false) };
    sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(&mut **tx).await?;
    Ok(true)
}


impl PostgresStore {
    /// Data was committed: Postgres checkpoints on its own.
    fn wrote(&self) {}

    /// Runs a statement that ends an import or hands it back (`RETURNING upload_id,
    /// status`) and drops the upload of an import that ended, in one transaction.
    /// The state reached, or `None` when the fence did not hold.
    async fn end_import<'q>(
        &self,
        statement: sqlx::query::QueryAs<'q, sqlx::Postgres, (String, String), sqlx::postgres::PgArguments>,
    ) -> StoreResult<Option<ImportStatus>> {
        let mut tx = self.pool.begin().await?;
        let Some((upload_id, status)) = statement.fetch_optional(&mut *tx).await? else { return Ok(None) };
        let status = parse_status(&status)?;
        if !status.is_active() {
            drop_upload(&mut tx, Some(upload_id)).await?;
        }
        tx.commit().await?;
        Ok(Some(status))
    }

    pub async fn connect(url: &str, timeouts: &Timeouts) -> StoreResult<Self> {
        let instance_id = uuid::Uuid::new_v4().to_string();
        let options = PgConnectOptions::from_str(url)?.application_name(&session_name(&instance_id)).options([
            ("lock_timeout", millis(timeouts.lock)),
            ("statement_timeout", millis(timeouts.statement)),
            ("idle_in_transaction_session_timeout", millis(timeouts.idle_in_transaction)),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        // The heartbeat and recovery take turns on at most two connections.
        let leases = PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(30)).connect_lazy_with(options);
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        loop {
            let mut tx = pool.begin().await?;
            // Instances starting together take turns, instead of backfilling the same contacts.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('intake.backfill_identities'))").execute(&mut *tx).await?;
            let taken = backfill_identities_chunk(&mut tx, Utc::now()).await?;
            tx.commit().await?;
            if taken == 0 {
                break;
            }
        }
        Ok(Self { pool, leases, instance_id })
    }

    /// Ends the transactions older than the lease of the instances whose
    /// imports are about to be recovered. A frozen instance keeps its
    /// transaction open, and Postgres ends a session idle in one
    /// (`idle_in_transaction_session_timeout`), but not one frozen in the middle
    /// of sending `COPY` data: no timeout applies there, and its lock on the
    /// import's row would keep the import from every other instance until the
    /// frozen one woke. Younger transactions are left alone: after an outage
    /// every instance's heartbeat lapsed, and their new requests must not fail.
    async fn end_sessions_of_lapsed_owners(&self, lease: Duration) -> StoreResult<()> {
        // Ended in the select list, so only for the sessions the query found.
        let ended: Vec<(String, bool)> = sqlx::query_as(&format!(
            "WITH lapsed AS MATERIALIZED (
                 SELECT activity.pid, activity.application_name FROM pg_stat_activity activity
                 WHERE activity.datname = current_database() AND activity.pid <> pg_backend_pid()
                   AND activity.xact_start <= {cutoff}
                   AND activity.application_name IN (
                       SELECT {SESSION_NAME_SQL} FROM imports
                       WHERE status = 'processing' AND owner IS NOT NULL
                         AND owner NOT IN (SELECT id FROM instances WHERE heartbeat_at > {cutoff})))
             SELECT application_name, pg_terminate_backend(pid) FROM lapsed",
            cutoff = seconds_ago("$1")
        ))
        .bind(lease.as_secs_f64())
        .fetch_all(&self.leases)
        .await?;
        for (session, _) in ended {
            tracing::warn!(session, "ended a database session of an instance presumed dead");
        }
        Ok(())
    }
}

/// Sessions are named after their instance (`Store::instance_id`).
fn session_name(instance_id: &str) -> String {
    format!("intake {instance_id}")
}
/// `session_name` of an import's `owner`, in SQL.
const SESSION_NAME_SQL: &str = "'intake ' || owner";

impl_store!(PostgresStore, Backend::Postgres, times: DateTime<Utc>, written by same_time, read by same_time, {
    async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, now: DateTime<Utc>) -> StoreResult<TokenView> {
        let (id, created_at): (i64, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, created_at",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(TokenView { id, name: name.to_owned(), created_at, last_used_at: None })
    }

    async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()> {
        // What was reserved ahead of the bytes (a declared length) and not used is given back.
        sqlx::query("UPDATE uploads SET byte_size = $1, received_bytes = $1, data_rows = $2, sniffed = $3 WHERE id = $4")
            .bind(meta.byte_size as i64)
            .bind(meta.data_rows as i64)
            .bind(Json(&meta.sniffed))
            .bind(upload_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>> {
        let row: Option<(String, i64, i64, Json<Sniffed>)> = sqlx::query_as(
            "SELECT file_name, byte_size, data_rows, sniffed FROM uploads
             WHERE id = $1 AND user_id = $2 AND byte_size IS NOT NULL",
        )
        .bind(upload_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(file_name, size, data_rows, Json(sniffed))| UploadMeta {
            file_name,
            byte_size: size as u64,
            sniffed,
            data_rows: data_rows as u64,
        }))
    }

    async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM uploads u WHERE u.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM imports i WHERE i.upload_id = u.id AND i.status IN ('queued', 'processing'))",
        )
        .bind(older_than)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_import(&self, new: &NewImport) -> StoreResult<InsertOutcome> {
        let inserted = sqlx::query(
            "INSERT INTO imports (id, user_id, upload_id, file_name, status, sniffed, mapping, rows_total, created_at, receiving, owner)
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, now(), $8, $9)",
        )
        .bind(&new.id)
        .bind(new.user_id)
        .bind(&new.upload_id)
        .bind(&new.file_name)
        .bind(Json(&new.sniffed))
        .bind(Json(&new.mapping))
        .bind(new.rows_total as i64)
        .bind(new.is_receiving())
        .bind(new.is_receiving().then_some(&self.instance_id))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(InsertOutcome::Inserted),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(InsertOutcome::SlotTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn finish_receiving(&self, new: &NewImport) -> StoreResult<bool> {
        let done = sqlx::query(FINISH_RECEIVING_SQL)
            .bind(&new.file_name)
            .bind(Json(&new.sniffed))
            .bind(Json(&new.mapping))
            .bind(new.rows_total as i64)
            .bind(&new.id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn abandon_if_stale(&self, holder: &SlotHolder, stale_after: Duration) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let upload_id: Option<String> = sqlx::query_scalar(&abandon_sql(NOW, &seconds_ago("$3")))
            .bind(&holder.import_id)
            .bind(holder.attempt)
            .bind(stale_after.as_secs_f64())
            .fetch_optional(&mut *tx)
        .await?;
        let ended = drop_upload(&mut tx, upload_id).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn claim_next(&self, instance_id: &str) -> StoreResult<Option<Claim>> {
        let row = sqlx::query(&claim_sql(
            "SELECT id FROM imports WHERE status = 'queued' AND NOT receiving ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            NOW,
        ))
        .bind(instance_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| claim_from_row(&r, decode_settings)).transpose()
    }

    async fn commit_batch(&self, fence: &Fence, batch: Batch, now: DateTime<Utc>) -> StoreResult<BatchOutcome> {
        let mut tx = self.pool.begin().await?;
        let cancel_requested: Option<bool> = sqlx::query_scalar(&progress_sql(NOW))
        .bind(&fence.import_id)
        .bind(fence.attempt)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cancel_requested) = cancel_requested else {
            tx.rollback().await?;
            return Ok(BatchOutcome::Replaced);
        };

        let plan = plan_against_store(&mut tx, batch.user_id, &batch.contacts, Vec::new(), batch.prefetched).await?;
        tx.write_plan(batch.user_id, &plan, now).await?;
        if !batch.row_errors.is_empty() {
            let lines: Vec<i64> = batch.row_errors.iter().map(|e| e.line as i64).collect();
            let reasons: Vec<&str> = batch.row_errors.iter().map(|e| e.reason.as_str()).collect();
            sqlx::query(
                "INSERT INTO import_errors (import_id, line, reason)
                 SELECT $1, l, r FROM UNNEST($2::bigint[], $3::text[]) AS e(l, r) ON CONFLICT DO NOTHING",
            )
            .bind(&fence.import_id)
            .bind(&lines)
            .bind(&reasons)
            .execute(&mut *tx)
            .await?;
        }
        let counts = Counts { rejected: batch.rejected, skipped: batch.skipped, ..plan.counts };
        let touched = touched_identities(&plan);
        sqlx::query(CHECKPOINT_SQL)
        .bind(batch.rows_done as i64)
        .bind(batch.last_line as i64)
        .bind(counts.created as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.rejected as i64)
        .bind(counts.skipped as i64)
        .bind(counts.merged as i64)
        .bind(&fence.import_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(plan);
        free_beside(batch.contacts);
        Ok(BatchOutcome::Committed { counts, cancel_requested, touched })
    }

    async fn finish_import(&self, fence: &Fence, status: ImportStatus, reason: Option<&str>, now: DateTime<Utc>) -> StoreResult<Option<ImportStatus>> {
        let query = sqlx::query_as(FINISH_SQL)
            .bind(status.as_str())
            .bind(reason)
            .bind(now)
            .bind(&fence.import_id)
            .bind(fence.attempt);
        self.end_import(query).await
    }

    async fn request_cancel(&self, user_id: i64, import_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ImportView>> {
        // A queued import has no worker to notice the flag, so it is cancelled at once.
        let mut tx = self.pool.begin().await?;
        let upload_id: Option<String> = sqlx::query_scalar(
            "UPDATE imports SET status = 'cancelled', finished_at = $1
             WHERE id = $2 AND user_id = $3 AND status = 'queued' RETURNING upload_id",
        )
        .bind(now)
        .bind(import_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if !drop_upload(&mut tx, upload_id).await? {
            sqlx::query("UPDATE imports SET cancel_requested = TRUE WHERE id = $1 AND user_id = $2 AND status = 'processing'")
                .bind(import_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.get_import(user_id, import_id).await
    }

    async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage> {
        contacts_page!(&self.pool, user_id, query, page, per_page, order by "lower(display_name)")
    }
});

impl_contact_tx!(sqlx::Postgres, stored_contact, identity_owners, write_plan);

/// Merges absorbed contacts, writes created and updated contacts with their
/// search text, and stores the new identities.
async fn write_plan(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()> {
    absorb_merged_contacts!(*tx, user_id, plan);
    let new_count = plan.contacts.iter().filter(|c| c.id.is_none()).count() as i64;
    // The sequence by name: `pg_get_serial_sequence` per row cost 4 ms a batch.
    let new_ids: Vec<i64> = sqlx::query_scalar("SELECT nextval('contacts_id_seq'::regclass) FROM generate_series(1, $1)")
    .bind(new_count)
    .fetch_all(&mut **tx)
    .await?;
    let ids = planned_ids(plan, new_ids.into_iter())?;
    let (created, updated): (Vec<_>, Vec<_>) = plan
        .contacts
        .iter()
        .zip(&ids)
        .filter(|(c, _)| c.change != Change::Unchanged)
        .partition(|(c, _)| c.change == Change::Created);
    // COPY, the bulk path: the ids are fresh from the sequence, and the fence's
    // row lock on the import keeps every other writer of this user's contacts out.
    // Rows go out as they are made, and the identities are made while Postgres
    // writes the contacts, so the two sides work at once.
    let mut identities = None;
    if !created.is_empty() {
        let mut copy = tx
            .copy_in_raw(
                "COPY contacts (id, user_id, display_name, given_name, family_name, emails, phones,
                     organization, title, notes, search_text, identities, created_at, updated_at) FROM STDIN",
            )
            .await?;
        let (user_text, stamp) = (user_id.to_string(), now.to_rfc3339());
        let mut rows = Vec::with_capacity(COPY_ROWS_PER_SEND * 512);
        for chunk in created.chunks(COPY_ROWS_PER_SEND) {
            rows.clear();
            for (planned, id) in chunk {
                let (contact, text, id) = (&planned.contact, planned.text(), id.to_string());
                let values: [&str; 14] = [&id, &user_text, &contact.display_name, &contact.given_name, &contact.family_name,
                    &text.emails, &text.phones, &contact.organization, &contact.title, &contact.notes, &text.search,
                    &text.identities, &stamp, &stamp];
                push_copy_row(&mut rows, &values);
            }
            copy.send(rows.as_slice()).await?;
        }
        identities = Some(identity_copy_rows(user_id, plan, &ids));
        copy.finish().await?;
    }
    if !updated.is_empty() {
        // Borrowed columns: only the ids are made here.
        let ids: Vec<String> = updated.iter().map(|(_, id)| id.to_string()).collect();
        let texts: Vec<_> = updated.iter().map(|(planned, _)| planned.text()).collect();
        let mut columns: [Vec<&str>; 11] = Default::default();
        for (((planned, _), id), text) in updated.iter().zip(&ids).zip(&texts) {
            let contact = &planned.contact;
            let values = [
                id.as_str(),
                &contact.display_name,
                &contact.given_name,
                &contact.family_name,
                &text.emails,
                &text.phones,
                &contact.organization,
                &contact.title,
                &contact.notes,
                &text.search,
                &text.identities,
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let mut update = sqlx::query(
            "UPDATE contacts SET display_name = dn, given_name = gn, family_name = fnm, emails = e,
                 phones = p, organization = o, title = t, notes = n, search_text = st, identities = i,
                 updated_at = $13
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                  AS batch(k, dn, gn, fnm, e, p, o, t, n, st, i)
             WHERE contacts.user_id = $1 AND contacts.id = batch.k::bigint",
        )
        .bind(user_id);
        for column in &columns {
            update = update.bind(column);
        }
        update.bind(now).execute(&mut **tx).await?;
    }
    let rows = identities.unwrap_or_else(|| identity_copy_rows(user_id, plan, &ids));
    if !rows.is_empty() {
        let mut copy = tx.copy_in_raw("COPY contact_identities (user_id, kind, value, contact_id) FROM STDIN").await?;
        copy.send(rows).await?;
        copy.finish().await?;
    }
    Ok(())
}

/// Contact rows per message of a `COPY`: Postgres starts on them while the next are made.
const COPY_ROWS_PER_SEND: usize = 250;

/// The plan's new identities as `COPY contact_identities` rows.
fn identity_copy_rows(user_id: i64, plan: &BatchPlan<'_>, ids: &[i64]) -> Vec<u8> {
    let mut rows = Vec::new();
    let user_id = user_id.to_string();
    for (identity, contact_id) in new_identities(plan, ids) {
        push_copy_row(&mut rows, &[&user_id, identity.kind.as_str(), &identity.value, &contact_id.to_string()]);
    }
    rows
}

/// One probe of the unique index per wanted identity: `LIMIT 1` keeps each
/// lookup a parameterised subquery, where a plain join let the planner hash
/// all of the user's identities (a scan per batch, so imports slowed as they grew).
async fn identity_owners(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
    let (kinds, values): (Vec<&str>, Vec<&str>) = identities.iter().map(|i| (i.kind.as_str(), i.value.as_str())).unzip();
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT held.contact_id FROM UNNEST($2::text[], $3::text[]) AS wanted(kind, value)
         CROSS JOIN LATERAL (SELECT contact_id FROM contact_identities
                             WHERE user_id = $1 AND kind = wanted.kind AND value = wanted.value LIMIT 1) AS held",
    )
    .bind(user_id)
    .bind(&kinds)
    .bind(&values)
    .fetch_all(&mut **tx)
    .await?)
}
