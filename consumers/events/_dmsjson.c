/*
 * consumers.events._dmsjson: the decoder's fast path, in C.
 *
 * Reads a batch of DMS Kinesis records (JSON) straight into Arrow column buffers, one set per
 * table, without making a Python object per value. It only *accepts* what it can type exactly
 * like consumers/events/decode.py + columns.py; every other record is handed back as "slow",
 * and the Python decoder (the reference) decides it: a change it cannot type here, a control
 * record, a dead letter. consumers/events/fast.py explains the contract and the fallbacks.
 *
 * A record is fast when all of these hold (else slow, nothing of it is kept):
 *   - strict JSON (RFC 8259: grammar, escapes, UTF-8 incl. no lone surrogates, nothing after
 *     the top-level object), no duplicate key in the objects this code reads, and no number
 *     anywhere that overflows a double (orjson, the reference's parser, refuses those);
 *   - metadata.record-type "data", operation load/insert/update/delete, a known table;
 *     for insert/update/delete a stream-position of the fixed-width form
 *     XXXXXXXX/XXXXXXXX.<digits>.XXXXXXXX/XXXXXXXX, a transaction-record-id that is an
 *     integer below 2^32, and a commit-timestamp that is a string or null;
 *   - data is an object of contract columns only, each value of its column's JSON form
 *     (integers in range for int2/4/8, true/false for bool, strings for string-typed columns;
 *     null anywhere), the key present and not null;
 *   - an update carries every TOASTable column (absent = unchanged TOAST: slow), and every
 *     record but a delete carries every contract column (absent: slow, decode.py decides);
 *   - before-image is absent, null, or an object whose key columns, when all present, are
 *     spelled exactly as in data (a primary-key change is slow).
 *
 * Output per table: the input index of each record, operation codes, ordering versions as
 * decimal128(38,0) little-endian values, commit timestamps (Arrow string), and per contract
 * column an Arrow validity bitmap with int16/int32/int64 values, bytes 0/1, or string
 * offsets + data. consumers/events/fast.py wraps them with pyarrow.Array.from_buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* K_DECIMAL: numeric(p,s), a string or a JSON number (DMS may send either), kept as text */
enum { K_REFERENCE = 0, K_INT16 = 1, K_INT32 = 2, K_INT64 = 3, K_BOOL = 4, K_STRING = 5, K_DECIMAL = 6 };
#define TEXT_KIND(k) ((k) == K_STRING || (k) == K_DECIMAL)
enum { OP_LOAD = 0, OP_INSERT = 1, OP_UPDATE = 2, OP_DELETE = 3 };
#define MAX_COLUMNS 256
#define MAX_DEPTH 512
#define MAX_BYTES (1 << 30)

/* ------------------------------------------------------------------ growable buffers */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static inline int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (n == 0) return 0; /* memcpy from or to NULL is undefined even for 0 bytes (UBSan) */
    if (buf_reserve(b, n)) return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static PyObject *buf_bytes(Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->len); }

/* ------------------------------------------------------------------ the plan */

typedef struct {
    const char *name;
    Py_ssize_t name_len;
    int kind;
    int toast;
    int key;       /* position in the key, or -1 */
    Buf validity;  /* bit-packed */
    Buf values;    /* int16/32/64, uint8, or string data */
    Buf offsets;   /* int32, strings only */
} Column;

typedef struct {
    const char *schema, *name;
    Py_ssize_t schema_len, name_len;
    int ncols, nkey, has_toast;
    PyObject *columns; /* owned: the PySequence_Fast of the columns, which owns col->name */
    Column *cols;
    int rows;
    Buf index, ops, versions, commit_validity, commit_offsets, commit_data;
} Table;

typedef struct {
    int ntables;
    PyObject *seq; /* owned: the PySequence_Fast of the tables, which owns the names */
    Table *tables;
} Plan;

static void plan_free(Plan *plan) {
    for (int t = 0; t < plan->ntables; t++) {
        Table *tb = &plan->tables[t];
        for (int c = 0; c < tb->ncols; c++) {
            free(tb->cols[c].validity.p);
            free(tb->cols[c].values.p);
            free(tb->cols[c].offsets.p);
        }
        free(tb->cols);
        Py_XDECREF(tb->columns);
        free(tb->index.p);
        free(tb->ops.p);
        free(tb->versions.p);
        free(tb->commit_validity.p);
        free(tb->commit_offsets.p);
        free(tb->commit_data.p);
    }
    free(plan->tables);
    Py_XDECREF(plan->seq);
}

/* tables: a sequence of (schema, name, [(column, kind, toastable, key position)]). The names
 * point into those objects, so the plan holds a reference to every sequence it reads them from
 * (PySequence_Fast makes a new list from any other iterable: borrowing from it would dangle). */
static int plan_build(PyObject *tables, Plan *plan) {
    PyObject *seq = plan->seq = PySequence_Fast(tables, "tables must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    plan->tables = calloc(n ? (size_t)n : 1, sizeof(Table));
    if (!plan->tables) {
        PyErr_NoMemory();
        return -1;
    }
    plan->ntables = (int)n;
    for (Py_ssize_t t = 0; t < n; t++) {
        Table *tb = &plan->tables[t];
        PyObject *cols;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, t), "s#s#O", &tb->schema,
                              &tb->schema_len, &tb->name, &tb->name_len, &cols))
            return -1;
        PyObject *cseq = tb->columns = PySequence_Fast(cols, "columns must be a sequence");
        if (!cseq) return -1;
        Py_ssize_t nc = PySequence_Fast_GET_SIZE(cseq);
        if (nc > MAX_COLUMNS) {
            PyErr_SetString(PyExc_ValueError, "too many columns for the fast path");
            return -1;
        }
        tb->cols = calloc(nc ? (size_t)nc : 1, sizeof(Column));
        if (!tb->cols) {
            PyErr_NoMemory();
            return -1;
        }
        tb->ncols = (int)nc;
        for (Py_ssize_t c = 0; c < nc; c++) {
            Column *col = &tb->cols[c];
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(cseq, c), "s#iii", &col->name,
                                  &col->name_len, &col->kind, &col->toast, &col->key))
                return -1;
            if (col->kind < K_REFERENCE || col->kind > K_DECIMAL) {
                PyErr_SetString(PyExc_ValueError, "unknown column kind");
                return -1;
            }
            if (col->key >= 0) tb->nkey++;
            if (col->toast) tb->has_toast = 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ JSON scanning */

typedef struct {
    const unsigned char *p, *end;
} Cur;

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline void ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

static inline int hexval(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int read_u4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

/* A string token: c->p at the opening quote. Checks escapes (incl. surrogate pairs) and
 * control characters; UTF-8 is checked once per record. Sets the span between the quotes
 * and whether it holds an escape. */
#define HIGHS 0x8080808080808080ULL

/* Where the next '"', '\\' or control character is, 16 bytes at a time (SSE2, which every
 * x86-64 has); 8 at a time elsewhere. */
#if defined(__SSE2__)
static inline const unsigned char *next_special(const unsigned char *p, const unsigned char *end) {
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    const __m128i zero = _mm_setzero_si128();
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                   _mm_cmpeq_epi8(_mm_subs_epu8(x, ctl), zero));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
    return p;
}
#else
#define ONES 0x0101010101010101ULL
static inline const unsigned char *next_special(const unsigned char *p, const unsigned char *end) {
    while (end - p >= 8) {
        uint64_t x, q, b;
        memcpy(&x, p, 8);
        q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
        if (((q - ONES) & ~q & HIGHS) | ((b - ONES) & ~b & HIGHS) | ((x - ONES * 0x20) & ~x & HIGHS))
            break;
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
    return p;
}
#endif

static int scan_string(Cur *c, const unsigned char **s, size_t *n, int *escaped) {
    const unsigned char *p = c->p + 1, *end = c->end;
    *escaped = 0;
    for (;;) {
        p = next_special(p, end);
        if (p >= end) return -1;
        unsigned char ch = *p;
        if (ch == '"') {
            *s = c->p + 1;
            *n = (size_t)(p - (c->p + 1));
            c->p = p + 1;
            return 0;
        }
        if (ch < 0x20) return -1;
        *escaped = 1; /* ch is a backslash */
        if (p + 1 >= end) return -1;
        unsigned char e = p[1];
        if (e == 'u') {
            unsigned u;
            if (p + 6 > end || read_u4(p + 2, &u)) return -1;
            p += 6;
            if (u >= 0xD800 && u <= 0xDBFF) {
                unsigned lo;
                if (p + 6 > end || p[0] != '\\' || p[1] != 'u' || read_u4(p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                p += 6;
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                return -1;
            }
            continue;
        }
        if (e == 0 || !strchr("\"\\/bfnrt", e)) return -1;
        p += 2;
    }
}

static void put_utf8(unsigned char **o, unsigned cp) {
    unsigned char *q = *o;
    if (cp < 0x80) {
        *q++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *q++ = (unsigned char)(0xC0 | (cp >> 6));
        *q++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (unsigned char)(0xE0 | (cp >> 12));
        *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (unsigned char)(0xF0 | (cp >> 18));
        *q++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* Appends the unescaped string (already checked by scan_string); returns its length. */
static long unescape_into(Buf *b, const unsigned char *s, size_t n) {
    if (buf_reserve(b, n)) return -1; /* unescaping never grows a string */
    unsigned char *o = (unsigned char *)b->p + b->len, *start = o;
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        unsigned char e = p[1];
        p += 2;
        switch (e) {
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned u = 0, lo = 0;
                read_u4(p, &u);
                p += 4;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    read_u4(p + 2, &lo);
                    p += 6;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                put_utf8(&o, u);
                break;
            }
            default: *o++ = e; /* " \ / */
        }
    }
    b->len += (size_t)(o - start);
    return (long)(o - start);
}

/* Whether a number token's magnitude overflows a double. The reference's parser (orjson)
 * refuses such a record ("number is infinity when parsed as double"), so it is not fast: the
 * reference dead-letters it, whichever member holds the number. Only a token with an exponent
 * or more than 308 integer digits can overflow; those are parsed, correctly rounded and
 * locale-free, by CPython's own PyOS_string_to_double. */
static int overflows_double(const unsigned char *s, size_t n, size_t int_digits, int is_int) {
    if (is_int || int_digits <= 308) {
        int exponent = 0;
        for (size_t i = 0; i < n; i++)
            if (s[i] == 'e' || s[i] == 'E') exponent = 1;
        if (!exponent && int_digits <= 308) return 0;
    }
    char small[64], *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy) return 1; /* not fast: the reference decides */
    memcpy(copy, s, n);
    copy[n] = 0;
    double d = PyOS_string_to_double(copy, NULL, NULL);
    if (copy != small) free(copy);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return d == Py_HUGE_VAL || d == -Py_HUGE_VAL;
}

/* A number token, by the JSON grammar. is_int: no fraction or exponent. */
static int scan_number(Cur *c, int *is_int) {
    const unsigned char *p = c->p, *end = c->end, *digits;
    *is_int = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return -1;
    digits = p;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return -1;
    }
    size_t int_digits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        *is_int = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (overflows_double(c->p, (size_t)(p - c->p), int_digits, *is_int)) return -1;
    c->p = p;
    return 0;
}

static int scan_literal(Cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n)) return -1;
    c->p += n;
    return 0;
}

/* Walking a container: `opened` after its '[' or '{' (1: empty, consumed; 0: an element
 * follows), `member_key` reads an object member's key and its ':', `next_member` follows an
 * element (1: another follows; 0: the container ended, consumed). -1 is bad JSON throughout. */
static int opened(Cur *c, unsigned char close) {
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

static int member_key(Cur *c, const unsigned char **k, size_t *kn, int *esc) {
    ws(c);
    if (c->p >= c->end || *c->p != '"' || scan_string(c, k, kn, esc)) return -1;
    ws(c);
    if (c->p >= c->end || *c->p != ':') return -1;
    c->p++;
    return 0;
}

static int next_member(Cur *c, unsigned char close) {
    ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == ',') {
        c->p++;
        return 1;
    }
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    return -1;
}

/* Skips any JSON value, checking its grammar. */
static int skip_value(Cur *c, int depth) {
    const unsigned char *s;
    size_t n;
    int flag;
    ws(c);
    if (c->p >= c->end) return -1;
    switch (*c->p) {
        case '"': return scan_string(c, &s, &n, &flag);
        case 't': return scan_literal(c, "true", 4);
        case 'f': return scan_literal(c, "false", 5);
        case 'n': return scan_literal(c, "null", 4);
        case '{':
        case '[': {
            if (depth >= MAX_DEPTH) return -1;
            int obj = *c->p == '{', r;
            unsigned char close = obj ? '}' : ']';
            if (opened(c, close)) return 0;
            do {
                if (obj && member_key(c, &s, &n, &flag)) return -1;
                if (skip_value(c, depth + 1)) return -1;
            } while ((r = next_member(c, close)) > 0);
            return r;
        }
        default: {
            int is_int;
            return scan_number(c, &is_int);
        }
    }
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as a JSON parser requires. */
static int valid_utf8(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
        unsigned char b = *p;
        if (b < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned cp, min;
        if ((b & 0xE0) == 0xC0) {
            n = 1, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (end - p <= n) return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ one record */

typedef struct {
    const unsigned char *s; /* token start (strings: inside the quotes) */
    size_t n;
    int state; /* 0 absent, 1 null, 2 value */
    int escaped;
    int number; /* a JSON number kept as text (K_DECIMAL): no quotes around it */
    int64_t i;
} Value;

typedef struct {
    const unsigned char *s;
    size_t n;
    int present, escaped;
} Str;

static inline int span_eq(const unsigned char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    return n == m && memcmp(s, lit, m) == 0;
}

/* Reads a metadata value that must be a string (or null where allowed): 0 ok, -1 not fast. */
static int meta_string(Cur *c, Str *out, int allow_null) {
    ws(c);
    if (c->p >= c->end) return -1;
    if (out->present) return -1; /* duplicate key */
    out->present = 1;
    if (*c->p == '"') return scan_string(c, &out->s, &out->n, &out->escaped);
    if (allow_null && *c->p == 'n') {
        out->present = 2; /* null */
        return scan_literal(c, "null", 4);
    }
    return -1;
}

typedef struct {
    Str record_type, operation, schema, table, position, commit, record_id;
} Meta;

/* transaction-record-id: a non-negative JSON integer (its range is checked by parse_position). */
static int meta_record_id(Cur *c, Str *out) {
    ws(c);
    if (c->p >= c->end || out->present || *c->p == '-') return -1;
    out->present = 1;
    out->s = c->p;
    int is_int;
    if (scan_number(c, &is_int) || !is_int) return -1;
    out->n = (size_t)(c->p - out->s);
    return 0;
}

static int parse_meta(Cur *c, Meta *m) {
    const unsigned char *k;
    size_t kn;
    int esc, r;
    if (opened(c, '}')) return 0;
    do {
        if (member_key(c, &k, &kn, &esc)) return -1;
        Str *target = NULL;
        int allow_null = 0;
        if (esc) return -1; /* an escaped metadata key: let the reference decide */
        if (span_eq(k, kn, "record-type")) target = &m->record_type;
        else if (span_eq(k, kn, "operation")) target = &m->operation;
        else if (span_eq(k, kn, "schema-name")) target = &m->schema;
        else if (span_eq(k, kn, "table-name")) target = &m->table;
        else if (span_eq(k, kn, "stream-position")) target = &m->position, allow_null = 1;
        else if (span_eq(k, kn, "commit-timestamp")) target = &m->commit, allow_null = 1;
        else if (span_eq(k, kn, "transaction-record-id")) {
            if (meta_record_id(c, &m->record_id)) return -1;
            continue;
        }
        if (target ? meta_string(c, target, allow_null) : skip_value(c, 1)) return -1;
    } while ((r = next_member(c, '}')) > 0);
    return r;
}

static int parse_lsn(const unsigned char *s, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 17; i++) {
        if (i == 8) {
            if (s[i] != '/') return -1;
            continue;
        }
        int d = hexval(s[i]);
        if (d < 0) return -1;
        v = v * 16 + (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* Only the fixed-width form DMS writes, `XXXXXXXX/XXXXXXXX.<digits>.XXXXXXXX/XXXXXXXX`, with a
 * transaction-record-id below 2^32 → (the later LSN << 32) | transaction-record-id, as
 * decode.py's version_of computes it (its docstring says why). Anything else: slow. */
static int parse_position(const Str *pos, const Str *record_id, unsigned __int128 *out) {
    const unsigned char *s = pos->s;
    size_t n = pos->n;
    if (pos->escaped || n < 37 || n > 54 || s[17] != '.' || s[n - 18] != '.') return -1;
    for (size_t i = 18; i < n - 18; i++)
        if (s[i] < '0' || s[i] > '9') return -1;
    uint64_t first, last, rec = 0;
    if (parse_lsn(s, &first) || parse_lsn(s + n - 17, &last)) return -1;
    if (record_id->present != 1 || record_id->n > 10) return -1;
    for (size_t i = 0; i < record_id->n; i++) rec = rec * 10 + (uint64_t)(record_id->s[i] - '0');
    if (rec >= ((uint64_t)1 << 32)) return -1;
    *out = ((unsigned __int128)(first > last ? first : last) << 32) | (unsigned __int128)rec;
    return 0;
}

static int find_column(const Table *tb, const unsigned char *k, size_t kn, int hint) {
    if (hint < tb->ncols && (size_t)tb->cols[hint].name_len == kn &&
        memcmp(tb->cols[hint].name, k, kn) == 0)
        return hint;
    for (int i = 0; i < tb->ncols; i++)
        if ((size_t)tb->cols[i].name_len == kn && memcmp(tb->cols[i].name, k, kn) == 0) return i;
    return -1;
}

/* One member of the data object, read before the table is known (metadata comes after data
 * in DMS records), so data is scanned once. */
enum { T_NULL, T_STRING, T_NUMBER, T_TRUE, T_FALSE, T_OTHER };
typedef struct {
    const unsigned char *k, *s; /* key; value token (strings: inside the quotes) */
    size_t kn, n;
    int type, escaped, is_int;
} Field;

static int scan_field(Cur *c, Field *f) {
    ws(c);
    if (c->p >= c->end) return -1;
    const unsigned char *start = c->p;
    f->escaped = 0;
    f->is_int = 0;
    switch (*c->p) {
        case '"':
            f->type = T_STRING;
            return scan_string(c, &f->s, &f->n, &f->escaped);
        case 'n':
            f->type = T_NULL;
            return scan_literal(c, "null", 4);
        case 't':
            f->type = T_TRUE;
            return scan_literal(c, "true", 4);
        case 'f':
            f->type = T_FALSE;
            return scan_literal(c, "false", 5);
        case '{':
        case '[':
            f->type = T_OTHER;
            if (skip_value(c, 1)) return -1;
            break;
        default:
            f->type = T_NUMBER;
            if (scan_number(c, &f->is_int)) return -1;
    }
    f->s = start;
    f->n = (size_t)(c->p - start);
    return 0;
}

static int parse_fields(Cur *c, Field *fields, int *count) {
    int esc, n = 0, r;
    *count = 0;
    if (opened(c, '}')) return 0;
    do {
        if (n >= MAX_COLUMNS) return -1;
        Field *f = &fields[n++];
        if (member_key(c, &f->k, &f->kn, &esc) || esc || scan_field(c, f)) return -1;
    } while ((r = next_member(c, '}')) > 0);
    *count = n;
    return r;
}

/* The data members as the table's column values: 0, or -1 when the reference must decide. */
static int bind_fields(const Table *tb, const Field *fields, int count, Value *vals) {
    int hint = 0;
    for (int j = 0; j < count; j++) {
        const Field *f = &fields[j];
        int i = find_column(tb, f->k, f->kn, hint);
        if (i < 0) return -1; /* not in the contract: a dead letter, by the reference */
        hint = i + 1;
        Value *v = &vals[i];
        if (v->state) return -1; /* duplicate column */
        v->s = f->s;
        v->n = f->n;
        v->escaped = f->escaped;
        if (f->type == T_NULL) {
            v->state = 1;
            continue;
        }
        v->state = 2;
        const Column *col = &tb->cols[i];
        switch (col->kind) {
            case K_STRING:
                if (f->type != T_STRING) return -1;
                break;
            case K_DECIMAL:
                if (f->type != T_STRING && f->type != T_NUMBER) return -1;
                v->number = f->type == T_NUMBER;
                break;
            case K_BOOL:
                if (f->type != T_TRUE && f->type != T_FALSE) return -1;
                v->i = f->type == T_TRUE;
                break;
            case K_INT16:
            case K_INT32:
            case K_INT64: {
                if (f->type != T_NUMBER || !f->is_int) return -1;
                const unsigned char *p = f->s, *end = f->s + f->n;
                int neg = *p == '-';
                if (neg) p++;
                if (end - p > 19) return -1; /* out of range for any width */
                uint64_t x = 0; /* 19 digits fit in 64 unsigned bits */
                for (; p < end; p++) x = x * 10 + (uint64_t)(*p - '0');
                uint64_t lim = col->kind == K_INT16 ? 32767 : col->kind == K_INT32 ? 2147483647 : INT64_MAX;
                if (x > lim + (uint64_t)neg) return -1; /* [-lim - 1, lim] */
                v->i = neg ? (int64_t)(0 - x) : (int64_t)x;
                break;
            }
            default:
                return -1; /* a value the reference types (float, time, bytea, arrays, ...) */
        }
    }
    return 0;
}

/* before-image: the key columns, when all present, must be spelled as in data. */
static int check_before(Cur *c, const Table *tb, const Value *vals) {
    const unsigned char *k;
    size_t kn;
    int esc, found = 0, differs = 0, r;
    unsigned char seen[MAX_COLUMNS];
    memset(seen, 0, (size_t)tb->ncols);
    if (opened(c, '}')) return 0;
    do {
        if (member_key(c, &k, &kn, &esc) || esc) return -1;
        int i = find_column(tb, k, kn, 0);
        ws(c);
        const unsigned char *start = c->p;
        if (skip_value(c, 1)) return -1;
        if (i >= 0 && tb->cols[i].key >= 0) {
            if (seen[i]) return -1;
            seen[i] = 1;
            found++;
            /* the data token: strings are kept without their quotes */
            const Value *v = &vals[i];
            const unsigned char *ds = v->s;
            size_t dn = v->n;
            if (v->state == 2 && TEXT_KIND(tb->cols[i].kind) && !v->number) ds--, dn += 2;
            if ((size_t)(c->p - start) != dn || memcmp(start, ds, dn)) differs = 1;
        }
    } while ((r = next_member(c, '}')) > 0);
    if (r) return -1;
    return (found == tb->nkey && differs) ? -1 : 0;
}

static inline int set_bit(Buf *b, int row, int on) {
    if ((row & 7) == 0) {
        unsigned char z = 0;
        if (buf_put(b, &z, 1)) return -1;
    }
    if (on) b->p[row >> 3] |= (char)(1 << (row & 7));
    return 0;
}

static int put_string(Buf *offsets, Buf *data, int row, const Value *v) {
    if (row == 0) {
        int32_t zero = 0;
        if (buf_put(offsets, &zero, 4)) return -1;
    }
    if (v->state == 2) {
        if (v->escaped ? unescape_into(data, v->s, v->n) < 0 : buf_put(data, v->s, v->n)) return -1;
    }
    if (data->len > MAX_BYTES) return -2;
    int32_t end = (int32_t)data->len;
    return buf_put(offsets, &end, 4);
}

/* Appends the record's values to its table (all checks passed). -1: out of memory, -2: too big. */
static int commit_row(Table *tb, int index, int op, unsigned __int128 version, const Str *commit,
                      const Value *vals) {
    int row = tb->rows;
    int32_t idx = index;
    unsigned char opc = (unsigned char)op;
    if (buf_put(&tb->index, &idx, 4) || buf_put(&tb->ops, &opc, 1) ||
        buf_put(&tb->versions, &version, 16))
        return -1;
    Value cv = {0};
    if (op != OP_LOAD && commit->present == 1) {
        cv.state = 2, cv.s = commit->s, cv.n = commit->n, cv.escaped = commit->escaped;
    }
    if (set_bit(&tb->commit_validity, row, cv.state == 2)) return -1;
    int r = put_string(&tb->commit_offsets, &tb->commit_data, row, &cv);
    if (r) return r;
    for (int i = 0; i < tb->ncols; i++) {
        Column *col = &tb->cols[i];
        const Value *v = &vals[i];
        int valid = v->state == 2;
        if (set_bit(&col->validity, row, valid)) return -1;
        switch (col->kind) {
            case K_INT16: {
                int16_t x = valid ? (int16_t)v->i : 0;
                if (buf_put(&col->values, &x, 2)) return -1;
                break;
            }
            case K_INT32: {
                int32_t x = valid ? (int32_t)v->i : 0;
                if (buf_put(&col->values, &x, 4)) return -1;
                break;
            }
            case K_INT64: {
                int64_t x = valid ? v->i : 0;
                if (buf_put(&col->values, &x, 8)) return -1;
                break;
            }
            case K_BOOL: {
                unsigned char x = valid ? (unsigned char)v->i : 0;
                if (buf_put(&col->values, &x, 1)) return -1;
                break;
            }
            case K_STRING:
            case K_DECIMAL:
                r = put_string(&col->offsets, &col->values, row, v);
                if (r) return r;
                break;
            default: /* K_REFERENCE: only nulls get here */
                break;
        }
    }
    tb->rows++;
    return 0;
}

/* The table the record belongs to and its values, or -1 when the reference must decide. */
static int decode_one(const Plan *plan, const unsigned char *raw, size_t len, int index, int *status) {
    Cur c = {raw, raw + len};
    *status = -1;
    const unsigned char *p = raw;
#if defined(__SSE2__)
    while (c.end - p >= 64) { /* ASCII only, 64 bytes at a time: the usual case */
        __m128i x = _mm_or_si128(
            _mm_or_si128(_mm_loadu_si128((const __m128i *)p), _mm_loadu_si128((const __m128i *)(p + 16))),
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + 32)), _mm_loadu_si128((const __m128i *)(p + 48))));
        if (_mm_movemask_epi8(x)) break;
        p += 64;
    }
#endif
    while (c.end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        if (x & HIGHS) break;
        p += 8;
    }
    for (; p < c.end; p++) {
        if (*p >= 0x80) {
            if (!valid_utf8(p, c.end)) return 0;
            break;
        }
    }
    Field fields[MAX_COLUMNS];
    int nfields = 0;
    Meta m;
    memset(&m, 0, sizeof m);
    const unsigned char *data = NULL, *before = NULL, *meta = NULL, *k;
    size_t kn;
    int esc;
    int r;
    ws(&c);
    if (c.p >= c.end || *c.p != '{' || opened(&c, '}')) return 0;
    do {
        if (member_key(&c, &k, &kn, &esc) || esc) return 0;
        ws(&c);
        if (c.p >= c.end) return 0; /* truncated after the key: nothing to read */
        const unsigned char **slot = NULL;
        if (span_eq(k, kn, "data")) slot = &data;
        else if (span_eq(k, kn, "metadata")) slot = &meta;
        else if (span_eq(k, kn, "before-image")) slot = &before;
        if (slot) {
            if (*slot) return 0; /* duplicate */
            *slot = c.p;
        }
        if (slot == &data && *c.p == '{') {
            if (parse_fields(&c, fields, &nfields)) return 0;
        } else if (slot == &meta && *c.p == '{') {
            if (parse_meta(&c, &m)) return 0;
        } else if (skip_value(&c, 1)) {
            return 0;
        }
    } while ((r = next_member(&c, '}')) > 0);
    if (r) return 0;
    ws(&c);
    if (c.p != c.end || !meta || *meta != '{' || !data || *data != '{') return 0;

    if (m.record_type.present != 1 || !span_eq(m.record_type.s, m.record_type.n, "data")) return 0;
    if (m.operation.present != 1 || m.schema.present != 1 || m.table.present != 1) return 0;
    if (m.schema.escaped || m.table.escaped) return 0;
    int op;
    if (span_eq(m.operation.s, m.operation.n, "load")) op = OP_LOAD;
    else if (span_eq(m.operation.s, m.operation.n, "insert")) op = OP_INSERT;
    else if (span_eq(m.operation.s, m.operation.n, "update")) op = OP_UPDATE;
    else if (span_eq(m.operation.s, m.operation.n, "delete")) op = OP_DELETE;
    else return 0;
    int t;
    Table *tb = NULL;
    for (t = 0; t < plan->ntables; t++) {
        Table *x = &plan->tables[t];
        if ((size_t)x->schema_len == m.schema.n && (size_t)x->name_len == m.table.n &&
            !memcmp(x->schema, m.schema.s, m.schema.n) && !memcmp(x->name, m.table.s, m.table.n)) {
            tb = x;
            break;
        }
    }
    if (!tb) return 0;
    unsigned __int128 version = 0;
    if (op != OP_LOAD &&
        (m.position.present != 1 || parse_position(&m.position, &m.record_id, &version)))
        return 0;

    Value vals[MAX_COLUMNS];
    memset(vals, 0, sizeof(Value) * (size_t)tb->ncols);
    if (bind_fields(tb, fields, nfields, vals)) return 0;
    for (int i = 0; i < tb->ncols; i++) {
        const Column *col = &tb->cols[i];
        if (col->key >= 0 && vals[i].state != 2) return 0;          /* missing or NULL key */
        if (op == OP_UPDATE && col->toast && vals[i].state == 0) return 0; /* unchanged TOAST */
        /* any other absent column (not a delete): a NULL without IncludeNullAndEmpty, a column
         * dropped at the source with it: the reference decides (decode.py, nulls_present) */
        if (op != OP_DELETE && vals[i].state == 0) return 0;
        if (col->kind == K_REFERENCE && vals[i].state == 2) return 0;
    }
    if (before) {
        Cur bc = {before, c.end};
        if (*before == '{') {
            if (check_before(&bc, tb, vals)) return 0;
        } else if (*before != 'n') {
            return 0; /* a before-image that is neither an object nor null */
        }
    }
    r = commit_row(tb, index, op, version, &m.commit, vals);
    if (r) return r;
    *status = t;
    return 0;
}

/* decode(tables, records) -> (status, outputs)
 *   status: bytes of int32, per record its table's position in `tables`, or -1 (slow)
 *   outputs: per table (rows, index, ops, versions, (validity, offsets, data) of the commit
 *            timestamps, [(validity, values, offsets or None) per column]) */
static PyObject *decode(PyObject *self, PyObject *args) {
    PyObject *tables, *records;
    if (!PyArg_ParseTuple(args, "OO", &tables, &records)) return NULL;
    Plan plan;
    memset(&plan, 0, sizeof plan);
    if (plan_build(tables, &plan)) {
        plan_free(&plan);
        return NULL;
    }
    PyObject *seq = PySequence_Fast(records, "records must be a sequence of bytes");
    if (!seq) {
        plan_free(&plan);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *status = PyBytes_FromStringAndSize(NULL, n * 4);
    PyObject *result = NULL, *outputs = NULL;
    if (!status) goto done;
    int32_t *st = (int32_t *)PyBytes_AS_STRING(status);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "records must be bytes");
            goto done;
        }
        int s;
        const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(item);
        size_t len = (size_t)PyBytes_GET_SIZE(item);
#ifdef DMSJSON_FUZZ
        /* The sanitizer build (fuzz/build.sh) decodes a heap copy of exactly the record's size:
         * a bytes object ends in a NUL inside its allocation, which hides a read past the end
         * from AddressSanitizer. */
        unsigned char *copy = malloc(len ? len : 1);
        if (!copy) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(copy, raw, len);
        raw = copy;
#endif
        int r = decode_one(&plan, raw, len, (int)i, &s);
#ifdef DMSJSON_FUZZ
        free(copy);
#endif
        if (r == -1) {
            PyErr_NoMemory();
            goto done;
        }
        if (r == -2) {
            PyErr_SetString(PyExc_OverflowError, "batch too large for 32-bit string offsets");
            goto done;
        }
        st[i] = s;
    }
    outputs = PyList_New(plan.ntables);
    if (!outputs) goto done;
    for (int t = 0; t < plan.ntables; t++) {
        Table *tb = &plan.tables[t];
        PyObject *cols = PyList_New(tb->ncols);
        if (!cols) goto done;
        for (int i = 0; i < tb->ncols; i++) {
            Column *col = &tb->cols[i];
            PyObject *offsets;
            if (TEXT_KIND(col->kind)) {
                offsets = buf_bytes(&col->offsets);
            } else {
                offsets = Py_None;
                Py_INCREF(offsets);
            }
            PyObject *one = Py_BuildValue("(NNN)", buf_bytes(&col->validity), buf_bytes(&col->values), offsets);
            if (!one) {
                Py_DECREF(cols);
                goto done;
            }
            PyList_SET_ITEM(cols, i, one);
        }
        PyObject *out = Py_BuildValue("(iNNN(NNN)N)", tb->rows, buf_bytes(&tb->index), buf_bytes(&tb->ops),
                                      buf_bytes(&tb->versions), buf_bytes(&tb->commit_validity),
                                      buf_bytes(&tb->commit_offsets), buf_bytes(&tb->commit_data), cols);
        if (!out) goto done;
        PyList_SET_ITEM(outputs, t, out);
    }
    result = Py_BuildValue("(OO)", status, outputs);
done:
    Py_XDECREF(status);
    Py_XDECREF(outputs);
    Py_DECREF(seq);
    plan_free(&plan);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS, "decode(tables, records) -> (status, outputs); see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dmsjson",
                                    "The decoder's fast path: DMS JSON records to Arrow buffers.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dmsjson(void) { return PyModule_Create(&module); }
