//! Many rows in one INSERT (group commit). PostgreSQL needs numbered placeholders (`$n`;
//! sqlx's own builder writes `?` for the Any driver, which PostgreSQL refuses); SQLite gets
//! plain `?`, because it finds a named parameter's number by walking the list of names, so
//! binding 3,000 `$n` parameters took 3,000 walks of 3,000 names — it made the ticket
//! insert of a 200-message batch five times slower.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::{Backend, StoreError};

/// A statement being bound.
pub(crate) type AnyQuery = Query<'static, Any, AnyArguments>;

/// Inserts `rows`, `per_statement` at a time: `head` is `INSERT INTO t (a, b)`, `tail` what
/// follows the values (e.g. `ON CONFLICT DO NOTHING`, or empty), and `bind` binds one row's
/// `columns` values in column order.
pub(crate) async fn insert_rows<T>(
    conn: &mut AnyConnection,
    head: &'static str,
    tail: &'static str,
    columns: usize,
    rows: &[T],
    per_statement: usize,
    bind: impl Fn(AnyQuery, &T) -> AnyQuery,
) -> Result<(), StoreError> {
    let numbered = Backend::of(conn) == Backend::Postgres;
    for chunk in rows.chunks(per_statement.max(1)) {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(values_sql(
            head,
            tail,
            columns,
            chunk.len(),
            numbered,
        )));
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The statement's text: only the fixed parts and placeholders (`$n` when `numbered`, else
/// `?`), never a value.
fn values_sql(head: &str, tail: &str, columns: usize, rows: usize, numbered: bool) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            n += 1;
            sql.push_str(if column == 0 { "" } else { ", " });
            if numbered {
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows_for_postgres_and_plain_for_sqlite() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", "ON CONFLICT DO NOTHING", 2, 2, true),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            values_sql("INSERT INTO t (a)", "", 1, 1, true),
            "INSERT INTO t (a) VALUES ($1)"
        );
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", "", 2, 2, false),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
