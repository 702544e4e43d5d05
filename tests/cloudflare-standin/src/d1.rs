//! D1: `POST /d1/database/{id}/query` and `/raw`, backed by real SQLite with foreign keys enforced.
//! One request (a batch, or a `sql` holding several statements) is one transaction: any error rolls it all back.

use crate::control::lock;
use crate::envelope::{self, ApiError};
use crate::state::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Batch, Connection, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// D1's limit on bound parameters per statement.
const MAX_PARAMS: usize = 100;
/// D1's limit on the SQL text of one statement, in bytes.
const MAX_STATEMENT_BYTES: usize = 100_000;
/// D1's error code for a failed query.
const QUERY_ERROR: u32 = 7500;

/// The databases, by id.
#[derive(Debug)]
pub(crate) struct D1 {
    databases: HashMap<String, Arc<Mutex<Connection>>>,
}

impl D1 {
    /// Opens each database: a file `<id>.sqlite` in `dir`, or in memory.
    pub(crate) fn open(ids: &[String], dir: Option<&FsPath>) -> rusqlite::Result<D1> {
        let mut databases = HashMap::new();
        for id in ids {
            let conn = match dir {
                Some(dir) => Connection::open(dir.join(format!("{id}.sqlite")))?,
                None => Connection::open_in_memory()?,
            };
            conn.execute_batch("PRAGMA foreign_keys = ON;")?;
            databases.insert(id.clone(), Arc::new(Mutex::new(conn)));
        }
        Ok(D1 { databases })
    }
}

/// Which reply shape: objects per row (`/query`) or columns and row arrays (`/raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Query,
    Raw,
}

#[derive(Debug, Deserialize)]
struct Statement {
    sql: String,
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Body {
    sql: Option<String>,
    #[serde(default)]
    params: Vec<Value>,
    batch: Option<Vec<Statement>>,
}

pub(crate) async fn query(
    State(state): State<Shared>,
    Path((_account, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    run(&state, &id, &body, Form::Query).await
}

pub(crate) async fn raw(
    State(state): State<Shared>,
    Path((_account, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    run(&state, &id, &body, Form::Raw).await
}

async fn run(state: &Shared, id: &str, body: &[u8], form: Form) -> Result<Response, ApiError> {
    let database = state
        .d1
        .databases
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(7404, format!("The database {id} could not be found")))?;
    let body: Body = envelope::parse_json(body, 7400)?;
    let statements = match (body.sql, body.batch) {
        (Some(sql), None) => vec![Statement { sql, params: body.params }],
        (None, Some(batch)) if !batch.is_empty() => batch,
        _ => return Err(ApiError::bad_request(7400, "The request must hold either `sql` or a non-empty `batch`")),
    };
    let results = tokio::task::spawn_blocking(move || execute(&mut lock(&database), &statements, form))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 7500, format!("query task failed: {e}")))?
        .map_err(|message| ApiError::bad_request(QUERY_ERROR, message))?;
    Ok(envelope::ok(results))
}

/// Runs every statement in one transaction; on error nothing is kept and the message says why.
fn execute(conn: &mut Connection, statements: &[Statement], form: Form) -> Result<Vec<Value>, String> {
    let tx = conn.transaction().map_err(|e| describe(&e))?;
    let mut results = Vec::new();
    for statement in statements {
        run_sql(&tx, statement, form, &mut results)?;
    }
    tx.commit().map_err(|e| describe(&e))?;
    Ok(results)
}

/// Runs each `;`-separated statement of `statement.sql`, appending one result per statement.
fn run_sql(conn: &Connection, statement: &Statement, form: Form, results: &mut Vec<Value>) -> Result<(), String> {
    let params = statement.params.iter().map(to_sql).collect::<Result<Vec<_>, _>>()?;
    let mut batch = Batch::new(conn, &statement.sql);
    let mut count = 0;
    // Statements are prepared one at a time, so a later one may use a table an earlier one created.
    while let Some(mut stmt) = batch.next().map_err(|e| describe(&e))? {
        count += 1;
        let text = stmt.expanded_sql().unwrap_or_default();
        // Unbound parameters expand to NULL, so this over-counts by at most 3 bytes per parameter.
        if text.len() > MAX_STATEMENT_BYTES + 3 * stmt.parameter_count() {
            return Err(format!("statement too long: over {MAX_STATEMENT_BYTES} bytes: SQLITE_TOOBIG"));
        }
        if is_transaction_control(&text) {
            return Err("To execute a transaction, send a batch; BEGIN, COMMIT, ROLLBACK and SAVEPOINT \
                        statements are not supported: SQLITE_AUTH"
                .to_owned());
        }
        let wanted = stmt.parameter_count();
        if wanted > MAX_PARAMS {
            return Err(format!("too many SQL variables (at most {MAX_PARAMS}): SQLITE_ERROR"));
        }
        // A statement without placeholders ignores the params, so a multi-statement `sql` can mix both kinds.
        if wanted != 0 && wanted != params.len() {
            return Err(format!(
                "Wrong number of parameter bindings for SQL query: expected {wanted}, got {}",
                params.len()
            ));
        }
        for (index, value) in params.iter().take(wanted).enumerate() {
            stmt.raw_bind_parameter(index + 1, value).map_err(|e| describe(&e))?;
        }
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let readonly = stmt.readonly();
        let started = Instant::now();
        let changes_before = conn.total_changes();
        let mut rows = Vec::new();
        {
            let mut cursor = stmt.raw_query();
            while let Some(row) = cursor.next().map_err(|e| describe(&e))? {
                let mut values = Vec::with_capacity(columns.len());
                for index in 0..columns.len() {
                    values.push(to_json(row.get_ref(index).map_err(|e| describe(&e))?));
                }
                rows.push(values);
            }
        }
        let changes = conn.total_changes() - changes_before;
        let meta = json!({
            "served_by": "cloudflare-standin",
            "duration": started.elapsed().as_secs_f64() * 1000.0,
            "changes": changes,
            "last_row_id": conn.last_insert_rowid(),
            "changed_db": !readonly,
            "size_after": size(conn),
            "rows_read": rows.len(),
            "rows_written": changes,
        });
        let rows_value = match form {
            Form::Query => Value::Array(
                rows.into_iter()
                    .map(|row| Value::Object(columns.iter().cloned().zip(row).collect::<Map<String, Value>>()))
                    .collect(),
            ),
            Form::Raw => json!({"columns": columns, "rows": rows}),
        };
        results.push(json!({"results": rows_value, "success": true, "meta": meta}));
    }
    if count == 0 {
        return Err("No SQL statements detected.".to_owned());
    }
    Ok(())
}

/// Whether a statement would open or close a transaction, which would break the request's own.
fn is_transaction_control(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    matches!(first.trim_end_matches(';'), "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE")
}

/// The database size in bytes, as `meta.size_after` reports it.
fn size(conn: &Connection) -> i64 {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0)).unwrap_or(0);
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0)).unwrap_or(0);
    pages * page_size
}

/// A JSON parameter as SQLite binds it: D1 takes scalars, and booleans become 0 or 1.
fn to_sql(value: &Value) -> Result<SqlValue, String> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SqlValue::Integer(i),
            (None, Some(f)) => SqlValue::Real(f),
            (None, None) => return Err(format!("Type '{n}' not supported for value '{n}'")),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!("Type 'object' not supported for value '{value}'"));
        }
    })
}

/// A SQLite value as D1 returns it; BLOBs become arrays of bytes.
fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => json!(bytes),
    }
}

/// SQLite's message with its result code, as D1 reports it (e.g. `no such table: x: SQLITE_ERROR`).
fn describe(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let code = match failure.code {
                ErrorCode::ConstraintViolation => "SQLITE_CONSTRAINT",
                ErrorCode::TooBig => "SQLITE_TOOBIG",
                ErrorCode::TypeMismatch => "SQLITE_MISMATCH",
                ErrorCode::DatabaseBusy => "SQLITE_BUSY",
                ErrorCode::ReadOnly => "SQLITE_READONLY",
                ErrorCode::ApiMisuse => "SQLITE_MISUSE",
                ErrorCode::ParameterOutOfRange => "SQLITE_RANGE",
                _ => "SQLITE_ERROR",
            };
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            format!("{message}: {code}")
        }
        other => format!("{other}: SQLITE_ERROR"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory SQLite opens");
        conn.execute_batch("PRAGMA foreign_keys = ON;").expect("pragma runs");
        conn
    }

    fn statement(sql: &str, params: Vec<Value>) -> Statement {
        Statement { sql: sql.to_owned(), params }
    }

    #[test]
    fn multi_statement_sql_gives_one_result_per_statement() {
        let mut conn = memory();
        let results = execute(
            &mut conn,
            &[statement(
                "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (?, ?); SELECT * FROM t",
                vec![json!(1), json!("x")],
            )],
            Form::Query,
        )
        .expect("runs");
        assert_eq!(results.len(), 3);
        assert_eq!(results[1]["meta"]["changes"], json!(1));
        assert_eq!(results[2]["results"], json!([{"a": 1, "b": "x"}]));
    }

    #[test]
    fn an_error_rolls_back_the_whole_request() {
        let mut conn = memory();
        execute(&mut conn, &[statement("CREATE TABLE t (a INTEGER PRIMARY KEY)", vec![])], Form::Query).expect("runs");
        let error = execute(
            &mut conn,
            &[statement("INSERT INTO t VALUES (1)", vec![]), statement("INSERT INTO t VALUES (1)", vec![])],
            Form::Query,
        )
        .expect_err("the second insert violates the primary key");
        assert!(error.ends_with("SQLITE_CONSTRAINT"), "{error}");
        let count: i64 = conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).expect("counts");
        assert_eq!(count, 0);
    }

    #[test]
    fn values_convert_both_ways() {
        assert_eq!(to_sql(&json!(true)), Ok(SqlValue::Integer(1)));
        assert_eq!(to_sql(&json!(1.5)), Ok(SqlValue::Real(1.5)));
        assert!(to_sql(&json!([1])).is_err());
        assert_eq!(to_json(ValueRef::Blob(&[1, 2])), json!([1, 2]));
        assert!(is_transaction_control("  begin transaction"));
        assert!(!is_transaction_control("SELECT 1"));
    }
}
