/* odbc.h — the sql adapter's use of unixODBC: one connection (environment,
 * connect with a login timeout, diagnostics with SQLSTATE, whether the link
 * is lost) and prepared statements whose parameters are bound with
 * SQLBindParameter and whose result is fetched in blocks of rows with
 * column-wise binding, every value handed over as UTF-8 text. */
#ifndef ODBC_H
#define ODBC_H

#include <stdbool.h>
#include <stddef.h>

#include "sqlrow.h"

/* A failure as the driver reported it. */
typedef struct {
    char sqlstate[6];            /* "42501", "08S01"; "" when not from the driver */
    long native;
    char message[512];           /* first line, without "[vendor]" and "ERROR:" */
    bool conn_lost;              /* the connection is gone: reconnect before the next query */
} odbc_error_t;

typedef struct odbc_conn odbc_conn_t;

/* Allocates the ODBC environment. NULL with err filled on failure. */
odbc_conn_t *odbc_conn_new(odbc_error_t *err);
void odbc_conn_destroy(odbc_conn_t **self_p);

/* Connects with SQLDriverConnect (no prompt). The connection string is
 * never logged or kept. Timeout in seconds, 0 = the driver's default. */
int  odbc_conn_open(odbc_conn_t *self, const char *connstr, unsigned login_timeout_s,
                    odbc_error_t *err);
/* Closes the connection and every statement made on it. */
void odbc_conn_close(odbc_conn_t *self);
bool odbc_conn_is_open(const odbc_conn_t *self);
/* Thread-safe: cancels the statement running on the connection (if any)
 * and makes every later execution or fetch fail at once (SQLSTATE HY008).
 * For a stopping adapter whose thread waits on a slow query. */
void odbc_conn_cancel(odbc_conn_t *self);
/* "PostgreSQL 15.18 via psqlodbcw.so 13.02.0000" (borrowed). */
const char *odbc_conn_describe(const odbc_conn_t *self);

typedef struct odbc_stmt odbc_stmt_t;

/* Prepares a query on an open connection. max_chars bounds the bound buffer
 * of one text value (longer values are fetched apart); timeout_s is the
 * query timeout (0 = none). The statement is freed by odbc_stmt_destroy()
 * or with its connection. */
odbc_stmt_t *odbc_stmt_new(odbc_conn_t *conn, const char *query, size_t max_chars,
                           unsigned timeout_s, odbc_error_t *err);
void odbc_stmt_destroy(odbc_stmt_t **self_p);

/* The number of parameter markers. */
int odbc_stmt_nparams(const odbc_stmt_t *self);
/* Binds parameter i (1-based) to a UTF-8 string (copied; sent as
 * SQL_WVARCHAR: cast it in SQL) or to an integer. */
int odbc_stmt_bind_text(odbc_stmt_t *self, int i, const char *text, odbc_error_t *err);
int odbc_stmt_bind_int(odbc_stmt_t *self, int i, long value, odbc_error_t *err);

/* Executes with the bound parameters. The first execution describes the
 * result: an error if two columns share a name. */
int odbc_stmt_execute(odbc_stmt_t *self, odbc_error_t *err);

size_t        odbc_stmt_ncols(const odbc_stmt_t *self);
const char *const *odbc_stmt_colnames(const odbc_stmt_t *self);   /* UTF-8, borrowed */
const sqlrow_kind_t *odbc_stmt_colkinds(const odbc_stmt_t *self);

/* The next row of the result: 1 with *cells (ncols values, borrowed until
 * the next call), 0 at the end, < 0 on error. A row with a value that
 * cannot be converted is returned with *problem set (why, borrowed) and
 * *raw / *raw_len the offending value's bytes as the driver gave them;
 * otherwise *problem is NULL. */
int odbc_stmt_next(odbc_stmt_t *self, const sqlrow_cell_t **cells, const char **problem,
                   const void **raw, size_t *raw_len, odbc_error_t *err);

/* Ends the result (before the next execution). */
void odbc_stmt_close_cursor(odbc_stmt_t *self);

#endif
