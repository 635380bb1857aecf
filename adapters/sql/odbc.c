/* odbc.c — the sql adapter's use of unixODBC (see odbc.h).
 *
 * Text crosses the ODBC boundary as SQLWCHAR (UTF-16) in both directions:
 * queries, the connection string, parameters, column names, diagnostics and
 * every character column. ODBC defines SQL_C_CHAR as the client's ANSI code
 * page, which a driver may derive from the process locale (psqlODBC's Unicode
 * driver converts SQL_C_CHAR to the locale's charset), so only SQL_C_WCHAR is
 * UTF-8-exact whatever the locale; iconv turns it into UTF-8. Columns whose
 * text is ASCII by definition (numbers, dates, times, booleans, binary as hex)
 * are fetched as SQL_C_CHAR, which saves the conversion.
 *
 * Results are fetched a block of rows at a time into column-wise bound
 * buffers (SQL_ATTR_ROW_ARRAY_SIZE). A text value longer than its buffer
 * (max_chars) is fetched whole with SQLSetPos(SQL_POSITION) + SQLGetData. */
#include "odbc.h"

#include <sql.h>
#include <sqlext.h>
#include <sqlucode.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bound buffers of one block stay under this */
#define S_BLOCK_BYTES (4u << 20)
#define S_BLOCK_ROWS_MAX 1024

struct odbc_conn {
    SQLHENV        env;
    SQLHDBC        dbc;
    bool           open;
    pthread_mutex_t busy_mu;         /* busy and canceled, for odbc_conn_cancel() */
    SQLHSTMT       busy;             /* the statement running now */
    bool           canceled;
    sqlrow_iconv_t cv;
    odbc_stmt_t   *stmts;            /* statements made on this connection */
    char           describe[256];
};

typedef struct {
    sqlrow_buf_t buf;                /* UTF-16 text */
    SQLBIGINT    ival;
    SQLLEN       ind;
} s_param_t;

struct odbc_stmt {
    odbc_conn_t   *conn;
    odbc_stmt_t   *next;             /* in conn->stmts */
    SQLHSTMT       h;
    size_t         max_chars;
    int            nparams;
    s_param_t     *params;

    /* the result, described at the first execution */
    bool           described;
    size_t         ncols;
    char         **names;
    sqlrow_kind_t *kinds;
    SQLSMALLINT   *ctypes;           /* SQL_C_WCHAR or SQL_C_CHAR */
    size_t        *widths;           /* bytes of one value's buffer */
    char         **data;             /* per column: rows_per_block * width */
    SQLLEN       **inds;             /* per column: rows_per_block indicators */
    size_t         rows_per_block;

    /* the block being read */
    SQLULEN        fetched;
    SQLUSMALLINT  *status;
    size_t         cur;
    bool           end;

    /* the current row */
    sqlrow_buf_t   arena;            /* UTF-8 values */
    size_t        *offs;
    sqlrow_cell_t *cells;
    sqlrow_buf_t   longbuf;          /* a value fetched with SQLGetData */
    sqlrow_buf_t   rawbuf;           /* the value a problem is about */
    char           problem[384];
};

/* ---- diagnostics -------------------------------------------------------- */

static void s_err_set(odbc_error_t *err, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_err_set(odbc_error_t *err, const char *state, const char *fmt, ...)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    snprintf(err->sqlstate, sizeof err->sqlstate, "%.5s", state);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* UTF-16 from the driver (n units, or up to a 0 unit) to UTF-8 in out. */
static void s_w2u(sqlrow_iconv_t *cv, const SQLWCHAR *w, size_t n, char *out, size_t outlen)
{
    size_t len = 0;
    while (len < n && w[len])
        len++;
    sqlrow_buf_t b = { 0 };
    if (sqlrow_utf16_to_utf8(cv, (const uint16_t *) w, len, &b, NULL) < 0 && !b.data) {
        snprintf(out, outlen, "?");
        return;
    }
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    sqlrow_buf_free(&b);
}

static bool s_state_is_conn_lost(const char *st)
{
    /* class 08: connection exception; 57P01-57P03: the server is shutting
     * down / terminated the session / not accepting connections */
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0
        || strcmp(st, "57P03") == 0;
}

/* Reads the diagnostic records of a handle into err (the first record's
 * SQLSTATE and message; conn_lost if any record says so or the connection
 * reports itself dead). */
static void s_diag(odbc_conn_t *conn, SQLSMALLINT type, SQLHANDLE h, odbc_error_t *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    for (SQLSMALLINT i = 1; i <= 8; i++) {
        SQLWCHAR state[6] = { 0 }, msg[1024];
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        SQLRETURN r = SQLGetDiagRecW(type, h, i, state, &native, msg,
                                     (SQLSMALLINT) (sizeof msg / sizeof *msg), &len);
        if (!SQL_SUCCEEDED(r))
            break;
        char st[8], text[1024];
        s_w2u(&conn->cv, state, 5, st, sizeof st);
        if (s_state_is_conn_lost(st))
            err->conn_lost = true;
        if (i > 1)
            continue;
        s_w2u(&conn->cv, msg, sizeof msg / sizeof *msg, text, sizeof text);
        snprintf(err->sqlstate, sizeof err->sqlstate, "%.5s", st);
        err->native = native;
        sqlrow_clean_message(text, err->message, sizeof err->message);
    }
    if (!err->sqlstate[0])
        snprintf(err->message, sizeof err->message, "the driver reported an error without a diagnostic");
    if (conn->open && conn->dbc) {
        SQLUINTEGER dead = SQL_CD_FALSE;
        if (SQL_SUCCEEDED(SQLGetConnectAttr(conn->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL))
            && dead == SQL_CD_TRUE)
            err->conn_lost = true;
    }
}

/* ---- connection ------------------------------------------------------- */

odbc_conn_t *odbc_conn_new(odbc_error_t *err)
{
    odbc_conn_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_err_set(err, "", "%s", "out of memory");
        return NULL;
    }
    self->cv.to_utf8 = self->cv.to_utf16 = (iconv_t) -1;
    pthread_mutex_init(&self->busy_mu, NULL);
    if (sqlrow_iconv_open(&self->cv) < 0) {
        s_err_set(err, "", "%s", "iconv cannot convert between UTF-16 and UTF-8");
        free(self);
        return NULL;
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &self->env))
        || !SQL_SUCCEEDED(SQLSetEnvAttr(self->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER) SQL_OV_ODBC3, 0))) {
        s_err_set(err, "", "%s", "cannot allocate an ODBC environment (unixODBC)");
        odbc_conn_destroy(&self);
        return NULL;
    }
    return self;
}

void odbc_conn_destroy(odbc_conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    odbc_conn_t *self = *self_p;
    odbc_conn_close(self);
    while (self->stmts) {
        odbc_stmt_t *s = self->stmts;
        odbc_stmt_destroy(&s);
    }
    if (self->env)
        SQLFreeHandle(SQL_HANDLE_ENV, self->env);
    sqlrow_iconv_close(&self->cv);
    pthread_mutex_destroy(&self->busy_mu);
    free(self);
    *self_p = NULL;
}

void odbc_conn_cancel(odbc_conn_t *self)
{
    pthread_mutex_lock(&self->busy_mu);
    self->canceled = true;
    /* SQLCancel from another thread is how ODBC interrupts a running
     * statement (psqlODBC sends the server a cancel request) */
    if (self->busy)
        SQLCancel(self->busy);
    pthread_mutex_unlock(&self->busy_mu);
}

/* Marks a statement as running (or not); false if canceled already. */
static bool s_busy(odbc_conn_t *self, SQLHSTMT h)
{
    pthread_mutex_lock(&self->busy_mu);
    bool go = !self->canceled || !h;
    self->busy = go ? h : SQL_NULL_HSTMT;
    pthread_mutex_unlock(&self->busy_mu);
    return go;
}

bool odbc_conn_is_open(const odbc_conn_t *self)
{
    return self->open;
}

const char *odbc_conn_describe(const odbc_conn_t *self)
{
    return self->describe;
}

static void s_info(odbc_conn_t *self, SQLUSMALLINT what, char *out, size_t outlen)
{
    SQLWCHAR w[128] = { 0 };
    SQLSMALLINT len = 0;
    if (SQL_SUCCEEDED(SQLGetInfoW(self->dbc, what, w, sizeof w, &len)))
        s_w2u(&self->cv, w, sizeof w / sizeof *w, out, outlen);
    else
        snprintf(out, outlen, "?");
}

int odbc_conn_open(odbc_conn_t *self, const char *connstr, unsigned login_timeout_s,
                   odbc_error_t *err)
{
    odbc_conn_close(self);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, self->env, &self->dbc))) {
        s_diag(self, SQL_HANDLE_ENV, self->env, err);
        self->dbc = SQL_NULL_HDBC;
        return -1;
    }
    if (login_timeout_s)
        SQLSetConnectAttr(self->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER) (uintptr_t) login_timeout_s, 0);
    sqlrow_buf_t w = { 0 };
    size_t units = 0;
    if (sqlrow_utf8_to_utf16(&self->cv, connstr, strlen(connstr), &w, &units) < 0
        || units > 32767) {
        sqlrow_buf_free(&w);
        s_err_set(err, "", "%s", "the connection string is not valid UTF-8 or is too long");
        SQLFreeHandle(SQL_HANDLE_DBC, self->dbc);
        self->dbc = SQL_NULL_HDBC;
        return -1;
    }
    SQLRETURN r = SQLDriverConnectW(self->dbc, NULL, (SQLWCHAR *) w.data, (SQLSMALLINT) units,
                                    NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    /* the string holds the password: do not leave it in freed memory */
    if (w.data)
        memset(w.data, 0, w.cap);
    sqlrow_buf_free(&w);
    if (!SQL_SUCCEEDED(r)) {
        s_diag(self, SQL_HANDLE_DBC, self->dbc, err);
        SQLFreeHandle(SQL_HANDLE_DBC, self->dbc);
        self->dbc = SQL_NULL_HDBC;
        return -1;
    }
    self->open = true;
    /* a hint only: the account should be read-only anyway */
    SQLSetConnectAttr(self->dbc, SQL_ATTR_ACCESS_MODE, (SQLPOINTER) SQL_MODE_READ_ONLY, 0);
    char dbms[64], dbver[64], drv[64], drver[64];
    s_info(self, SQL_DBMS_NAME, dbms, sizeof dbms);
    s_info(self, SQL_DBMS_VER, dbver, sizeof dbver);
    s_info(self, SQL_DRIVER_NAME, drv, sizeof drv);
    s_info(self, SQL_DRIVER_VER, drver, sizeof drver);
    snprintf(self->describe, sizeof self->describe, "%.60s %.60s via %.60s %.60s", dbms, dbver, drv, drver);
    return 0;
}

static void s_stmt_release(odbc_stmt_t *s);

void odbc_conn_close(odbc_conn_t *self)
{
    for (odbc_stmt_t *s = self->stmts; s; s = s->next)
        s_stmt_release(s);
    if (self->dbc) {
        if (self->open)
            SQLDisconnect(self->dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, self->dbc);
    }
    self->dbc = SQL_NULL_HDBC;
    self->open = false;
    self->describe[0] = '\0';
}

/* ---- statements ----------------------------------------------------------- */

/* Frees the driver's handle (the statement cannot run again). */
static void s_stmt_release(odbc_stmt_t *s)
{
    if (s->h)
        SQLFreeHandle(SQL_HANDLE_STMT, s->h);
    s->h = SQL_NULL_HSTMT;
}

static void s_stmt_free_result(odbc_stmt_t *self)
{
    for (size_t c = 0; c < self->ncols; c++) {
        if (self->names)
            free(self->names[c]);
        if (self->data)
            free(self->data[c]);
        if (self->inds)
            free(self->inds[c]);
    }
    free(self->names);
    free(self->kinds);
    free(self->ctypes);
    free(self->widths);
    free(self->data);
    free(self->inds);
    free(self->status);
    free(self->offs);
    free(self->cells);
    self->names = NULL;
    self->kinds = NULL;
    self->ctypes = NULL;
    self->widths = NULL;
    self->data = NULL;
    self->inds = NULL;
    self->status = NULL;
    self->offs = NULL;
    self->cells = NULL;
    self->ncols = 0;
    self->described = false;
}

void odbc_stmt_destroy(odbc_stmt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    odbc_stmt_t *self = *self_p;
    s_stmt_release(self);
    for (odbc_stmt_t **pp = &self->conn->stmts; *pp; pp = &(*pp)->next)
        if (*pp == self) {
            *pp = self->next;
            break;
        }
    s_stmt_free_result(self);
    for (int i = 0; i < self->nparams; i++)
        sqlrow_buf_free(&self->params[i].buf);
    free(self->params);
    sqlrow_buf_free(&self->arena);
    sqlrow_buf_free(&self->longbuf);
    sqlrow_buf_free(&self->rawbuf);
    free(self);
    *self_p = NULL;
}

odbc_stmt_t *odbc_stmt_new(odbc_conn_t *conn, const char *query, size_t max_chars,
                           unsigned timeout_s, odbc_error_t *err)
{
    if (!conn->open) {
        s_err_set(err, "08003", "%s", "not connected");
        return NULL;
    }
    odbc_stmt_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_err_set(err, "", "%s", "out of memory");
        return NULL;
    }
    self->conn = conn;
    self->max_chars = max_chars ? max_chars : 4096;
    self->next = conn->stmts;
    conn->stmts = self;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, conn->dbc, &self->h))) {
        self->h = SQL_NULL_HSTMT;
        s_diag(conn, SQL_HANDLE_DBC, conn->dbc, err);
        odbc_stmt_destroy(&self);
        return NULL;
    }
    if (timeout_s)
        SQLSetStmtAttr(self->h, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER) (uintptr_t) timeout_s, 0);
    sqlrow_buf_t w = { 0 };
    size_t units = 0;
    if (sqlrow_utf8_to_utf16(&conn->cv, query, strlen(query), &w, &units) < 0) {
        sqlrow_buf_free(&w);
        s_err_set(err, "", "%s", "the query is not valid UTF-8");
        odbc_stmt_destroy(&self);
        return NULL;
    }
    SQLRETURN r = SQLPrepareW(self->h, (SQLWCHAR *) w.data, (SQLINTEGER) units);
    sqlrow_buf_free(&w);
    if (!SQL_SUCCEEDED(r)) {
        s_diag(conn, SQL_HANDLE_STMT, self->h, err);
        odbc_stmt_destroy(&self);
        return NULL;
    }
    SQLSMALLINT np = 0;
    if (!SQL_SUCCEEDED(SQLNumParams(self->h, &np))) {
        s_diag(conn, SQL_HANDLE_STMT, self->h, err);
        odbc_stmt_destroy(&self);
        return NULL;
    }
    self->nparams = np;
    if (np > 0 && !(self->params = calloc((size_t) np, sizeof *self->params))) {
        s_err_set(err, "", "%s", "out of memory");
        odbc_stmt_destroy(&self);
        return NULL;
    }
    return self;
}

int odbc_stmt_nparams(const odbc_stmt_t *self)
{
    return self->nparams;
}

static int s_check_param(odbc_stmt_t *self, int i, odbc_error_t *err)
{
    if (!self->h) {
        s_err_set(err, "08003", "%s", "the connection was closed");
        if (err)
            err->conn_lost = true;
        return -1;
    }
    if (i < 1 || i > self->nparams) {
        s_err_set(err, "07009", "%s", "no such parameter marker");
        return -1;
    }
    return 0;
}

int odbc_stmt_bind_text(odbc_stmt_t *self, int i, const char *text, odbc_error_t *err)
{
    if (s_check_param(self, i, err) < 0)
        return -1;
    s_param_t *p = &self->params[i - 1];
    size_t units = 0;
    if (sqlrow_utf8_to_utf16(&self->conn->cv, text, strlen(text), &p->buf, &units) < 0) {
        s_err_set(err, "", "%s", "a parameter is not valid UTF-8");
        return -1;
    }
    p->ind = (SQLLEN) (units * sizeof(SQLWCHAR));
    SQLRETURN r = SQLBindParameter(self->h, (SQLUSMALLINT) i, SQL_PARAM_INPUT, SQL_C_WCHAR,
                                   SQL_WVARCHAR, units ? units : 1, 0, p->buf.data,
                                   (SQLLEN) p->buf.cap, &p->ind);
    if (!SQL_SUCCEEDED(r)) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    return 0;
}

int odbc_stmt_bind_int(odbc_stmt_t *self, int i, long value, odbc_error_t *err)
{
    if (s_check_param(self, i, err) < 0)
        return -1;
    s_param_t *p = &self->params[i - 1];
    p->ival = value;
    p->ind = 0;
    SQLRETURN r = SQLBindParameter(self->h, (SQLUSMALLINT) i, SQL_PARAM_INPUT, SQL_C_SBIGINT,
                                   SQL_BIGINT, 0, 0, &p->ival, 0, &p->ind);
    if (!SQL_SUCCEEDED(r)) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    return 0;
}

/* How a column of this SQL type is fetched and becomes JSON. */
static void s_column_kind(SQLSMALLINT type, SQLULEN size, size_t max_chars,
                          SQLSMALLINT *ctype, sqlrow_kind_t *kind, size_t *width)
{
    size_t chars;
    switch (type) {
    case SQL_TINYINT: case SQL_SMALLINT: case SQL_INTEGER: case SQL_BIGINT:
        *ctype = SQL_C_CHAR;
        *kind = SQLROW_INT;
        *width = 24;                        /* "-9223372036854775808" */
        return;
    case SQL_BIT:
        *ctype = SQL_C_CHAR;
        *kind = SQLROW_BOOL;
        *width = 8;
        return;
    case SQL_DECIMAL: case SQL_NUMERIC: case SQL_REAL: case SQL_FLOAT: case SQL_DOUBLE:
    case SQL_TYPE_DATE: case SQL_TYPE_TIME: case SQL_TYPE_TIMESTAMP:
    case SQL_DATE: case SQL_TIME: case SQL_TIMESTAMP:
        /* ASCII by definition; precision + sign, point, exponent */
        *ctype = SQL_C_CHAR;
        *kind = SQLROW_TEXT;
        chars = size > 0 && size < max_chars ? (size_t) size + 8 : 64;
        if (chars < 32)
            chars = 32;
        *width = chars + 1;
        return;
    case SQL_BINARY: case SQL_VARBINARY: case SQL_LONGVARBINARY:
        /* SQL_C_CHAR of binary data is its hex digits */
        *ctype = SQL_C_CHAR;
        *kind = SQLROW_TEXT;
        chars = size > 0 && size * 2 < max_chars ? (size_t) size * 2 : max_chars;
        *width = chars + 1;
        return;
    default:
        /* character data, intervals, GUIDs, whatever else: as Unicode text */
        *ctype = SQL_C_WCHAR;
        *kind = SQLROW_TEXT;
        chars = size > 0 && size < max_chars ? (size_t) size : max_chars;
        *width = (chars + 1) * sizeof(SQLWCHAR);
        return;
    }
}

static int s_describe(odbc_stmt_t *self, odbc_error_t *err)
{
    SQLSMALLINT nc = 0;
    if (!SQL_SUCCEEDED(SQLNumResultCols(self->h, &nc))) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    if (nc <= 0) {
        s_err_set(err, "", "%s", "the query returns no columns (not a SELECT?)");
        return -1;
    }
    size_t n = (size_t) nc;
    self->ncols = n;
    self->names = calloc(n, sizeof *self->names);
    self->kinds = calloc(n, sizeof *self->kinds);
    self->ctypes = calloc(n, sizeof *self->ctypes);
    self->widths = calloc(n, sizeof *self->widths);
    self->data = calloc(n, sizeof *self->data);
    self->inds = calloc(n, sizeof *self->inds);
    self->offs = calloc(n, sizeof *self->offs);
    self->cells = calloc(n, sizeof *self->cells);
    if (!self->names || !self->kinds || !self->ctypes || !self->widths || !self->data
        || !self->inds || !self->offs || !self->cells)
        goto nomem;
    size_t row_bytes = 0;
    for (size_t c = 0; c < n; c++) {
        SQLWCHAR wname[256] = { 0 };
        SQLSMALLINT namelen = 0, type = 0, digits = 0, nullable = 0;
        SQLULEN size = 0;
        if (!SQL_SUCCEEDED(SQLDescribeColW(self->h, (SQLUSMALLINT) (c + 1), wname,
                                           (SQLSMALLINT) (sizeof wname / sizeof *wname), &namelen,
                                           &type, &size, &digits, &nullable))) {
            s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
            return -1;
        }
        char name[512];
        s_w2u(&self->conn->cv, wname, sizeof wname / sizeof *wname, name, sizeof name);
        if (!(self->names[c] = strdup(name)))
            goto nomem;
        for (size_t d = 0; d < c; d++)
            if (strcmp(self->names[d], name) == 0) {
                s_err_set(err, "", "two columns are named '%.200s': give one an alias (AS ...)", name);
                return -1;
            }
        s_column_kind(type, size, self->max_chars, &self->ctypes[c], &self->kinds[c], &self->widths[c]);
        row_bytes += self->widths[c] + sizeof(SQLLEN);
    }
    size_t rows = S_BLOCK_BYTES / row_bytes;
    if (rows < 1)
        rows = 1;
    if (rows > S_BLOCK_ROWS_MAX)
        rows = S_BLOCK_ROWS_MAX;
    self->rows_per_block = rows;
    if (!(self->status = calloc(rows, sizeof *self->status)))
        goto nomem;
    for (size_t c = 0; c < n; c++) {
        self->data[c] = malloc(rows * self->widths[c]);
        self->inds[c] = calloc(rows, sizeof(SQLLEN));
        if (!self->data[c] || !self->inds[c])
            goto nomem;
        if (!SQL_SUCCEEDED(SQLBindCol(self->h, (SQLUSMALLINT) (c + 1), self->ctypes[c], self->data[c],
                                      (SQLLEN) self->widths[c], self->inds[c]))) {
            s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
            return -1;
        }
    }
    if (!SQL_SUCCEEDED(SQLSetStmtAttr(self->h, SQL_ATTR_ROW_BIND_TYPE, (SQLPOINTER) SQL_BIND_BY_COLUMN, 0))
        || !SQL_SUCCEEDED(SQLSetStmtAttr(self->h, SQL_ATTR_ROW_ARRAY_SIZE, (SQLPOINTER) (uintptr_t) rows, 0))
        || !SQL_SUCCEEDED(SQLSetStmtAttr(self->h, SQL_ATTR_ROWS_FETCHED_PTR, &self->fetched, 0))
        || !SQL_SUCCEEDED(SQLSetStmtAttr(self->h, SQL_ATTR_ROW_STATUS_PTR, self->status, 0))) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    self->described = true;
    return 0;
nomem:
    s_err_set(err, "", "%s", "out of memory");
    return -1;
}

int odbc_stmt_execute(odbc_stmt_t *self, odbc_error_t *err)
{
    if (!self->h) {
        s_err_set(err, "08003", "%s", "the connection was closed");
        if (err)
            err->conn_lost = true;
        return -1;
    }
    SQLFreeStmt(self->h, SQL_CLOSE);
    self->fetched = 0;
    self->cur = 0;
    self->end = false;
    if (!s_busy(self->conn, self->h)) {
        s_err_set(err, "HY008", "%s", "canceled: the adapter is stopping");
        return -1;
    }
    SQLRETURN r = SQLExecute(self->h);
    s_busy(self->conn, SQL_NULL_HSTMT);
    if (r == SQL_NO_DATA)
        r = SQL_SUCCESS;           /* a result with no rows */
    if (!SQL_SUCCEEDED(r)) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    if (!self->described) {
        if (s_describe(self, err) < 0) {
            s_stmt_free_result(self);
            SQLFreeStmt(self->h, SQL_CLOSE);
            SQLFreeStmt(self->h, SQL_UNBIND);
            return -1;
        }
    }
    return 0;
}

size_t odbc_stmt_ncols(const odbc_stmt_t *self)
{
    return self->ncols;
}

const char *const *odbc_stmt_colnames(const odbc_stmt_t *self)
{
    return (const char *const *) self->names;
}

const sqlrow_kind_t *odbc_stmt_colkinds(const odbc_stmt_t *self)
{
    return self->kinds;
}

/* Fetches the whole value of column c of block row r into longbuf. */
static int s_get_long(odbc_stmt_t *self, size_t r, size_t c, odbc_error_t *err)
{
    self->longbuf.len = 0;
    if (SQLSetPos(self->h, (SQLSETPOSIROW) (r + 1), SQL_POSITION, SQL_LOCK_NO_CHANGE) == SQL_ERROR) {
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
        return -1;
    }
    size_t term = self->ctypes[c] == SQL_C_WCHAR ? sizeof(SQLWCHAR) : 1;
    for (;;) {
        if (sqlrow_buf_reserve(&self->longbuf, 65536) < 0) {
            s_err_set(err, "", "%s", "out of memory");
            return -1;
        }
        /* whole units only, and room for the terminator */
        size_t room = self->longbuf.cap - self->longbuf.len - 1;
        room -= room % sizeof(SQLWCHAR);
        SQLLEN ind = 0;
        SQLRETURN rc = SQLGetData(self->h, (SQLUSMALLINT) (c + 1), self->ctypes[c],
                                  self->longbuf.data + self->longbuf.len, (SQLLEN) room, &ind);
        if (rc == SQL_NO_DATA)
            return 0;
        if (!SQL_SUCCEEDED(rc)) {
            s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
            return -1;
        }
        if (ind == SQL_NULL_DATA)
            return 0;
        if (rc == SQL_SUCCESS) {
            self->longbuf.len += (size_t) ind;
            return 0;
        }
        /* 01004: the buffer is full but for the terminator */
        self->longbuf.len += room - term;
    }
}

/* Keeps a copy of the offending value for the quarantine (longbuf is
 * reused by the next long value). */
static void s_set_raw(odbc_stmt_t *self, const void *src, size_t len, const char **problem,
                      const void **raw, size_t *raw_len)
{
    *problem = self->problem;
    self->rawbuf.len = 0;
    if (sqlrow_buf_append(&self->rawbuf, src, len) == 0) {
        *raw = self->rawbuf.data;
        *raw_len = len;
    }
}

int odbc_stmt_next(odbc_stmt_t *self, const sqlrow_cell_t **cells, const char **problem,
                   const void **raw, size_t *raw_len, odbc_error_t *err)
{
    *problem = NULL;
    *raw = NULL;
    *raw_len = 0;
    if (!self->h || !self->described) {
        s_err_set(err, "08003", "%s", "no result");
        return -1;
    }
    if (self->cur >= self->fetched) {
        if (self->end)
            return 0;
        self->fetched = 0;
        self->cur = 0;
        if (!s_busy(self->conn, self->h)) {
            s_err_set(err, "HY008", "%s", "canceled: the adapter is stopping");
            return -1;
        }
        SQLRETURN r = SQLFetch(self->h);
        s_busy(self->conn, SQL_NULL_HSTMT);
        if (r == SQL_NO_DATA || (SQL_SUCCEEDED(r) && self->fetched == 0)) {
            self->end = true;
            return 0;
        }
        if (!SQL_SUCCEEDED(r)) {
            s_diag(self->conn, SQL_HANDLE_STMT, self->h, err);
            return -1;
        }
    }
    size_t r = self->cur++;
    self->arena.len = 0;
    for (size_t c = 0; c < self->ncols; c++) {
        self->offs[c] = 0;
        self->cells[c].null = true;
        self->cells[c].len = 0;
    }
    if (self->status[r] == SQL_ROW_ERROR) {
        odbc_error_t e;
        s_diag(self->conn, SQL_HANDLE_STMT, self->h, &e);
        snprintf(self->problem, sizeof self->problem, "the driver could not read the row: SQLSTATE %s: %.300s",
                 e.sqlstate, e.message);
        *problem = self->problem;
    }
    for (size_t c = 0; c < self->ncols && self->status[r] != SQL_ROW_ERROR; c++) {
        SQLLEN ind = self->inds[c][r];
        if (ind == SQL_NULL_DATA)
            continue;
        self->offs[c] = self->arena.len;
        const char *src = self->data[c] + r * self->widths[c];
        size_t term = self->ctypes[c] == SQL_C_WCHAR ? sizeof(SQLWCHAR) : 1;
        size_t len;
        if (ind == SQL_NO_TOTAL || ind < 0 || (size_t) ind > self->widths[c] - term) {
            odbc_error_t e;
            if (s_get_long(self, r, c, &e) < 0) {
                if (e.conn_lost) {
                    if (err)
                        *err = e;
                    return -1;
                }
                if (!*problem) {
                    snprintf(self->problem, sizeof self->problem,
                             "column %s: a value longer than %zu characters that the driver cannot "
                             "fetch whole (SQLSTATE %s: %.200s)", self->names[c], self->max_chars,
                             e.sqlstate, e.message);
                    s_set_raw(self, src, self->widths[c] - term, problem, raw, raw_len);
                }
                continue;
            }
            src = self->longbuf.data;
            len = self->longbuf.len;
        } else
            len = (size_t) ind;
        size_t before = self->arena.len;
        int rc;
        if (self->ctypes[c] == SQL_C_WCHAR) {
            size_t bad = 0;
            rc = sqlrow_utf16_to_utf8(&self->conn->cv, (const uint16_t *) (const void *) src,
                                      len / sizeof(SQLWCHAR), &self->arena, &bad);
            if (rc < 0) {
                self->arena.len = before;
                if (!*problem) {
                    snprintf(self->problem, sizeof self->problem,
                             "column %.200s: not valid UTF-16 at character %zu", self->names[c], bad);
                    s_set_raw(self, src, len, problem, raw, raw_len);
                }
                continue;
            }
        } else if (sqlrow_buf_append(&self->arena, src, len) < 0) {
            s_err_set(err, "", "%s", "out of memory");
            return -1;
        }
        self->cells[c].null = false;
        self->cells[c].len = self->arena.len - before;
    }
    for (size_t c = 0; c < self->ncols; c++)
        self->cells[c].data = self->arena.data ? self->arena.data + self->offs[c] : "";
    *cells = self->cells;
    return 1;
}

void odbc_stmt_close_cursor(odbc_stmt_t *self)
{
    if (self->h)
        SQLFreeStmt(self->h, SQL_CLOSE);
    self->fetched = 0;
    self->cur = 0;
    self->end = true;
}
