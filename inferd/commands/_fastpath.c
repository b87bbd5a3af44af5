/* The C fast path of the dispatcher: PING, GET, SET, HGET, HSET, LPUSH, RPUSH, LPOP, RPOP, SADD, SPOP, MGET, MSET,
 * INCR, DECR, INCRBY, DECRBY, ZADD, ZPOPMIN and ZPOPMAX in their plain forms.
 *
 * Runner.run(client, requests, start, out) runs requests[start:] for as long as each is one of these commands in a
 * form whose outcome needs none of the dispatcher's gates: the client outside MULTI, authenticated, replies on; the
 * key (each of MGET's and MSET's) without a TTL, not watched and no client blocked on it (a write's); the value
 * missing or of the command's type (MGET reads another type as nil, as in Python; INCR and the like need a value and
 * an increment that string2ll reads and a result within 64 bits, else Python gives the error; ZADD takes no option and
 * scores written with digits, sign, point and exponent only, which strtod reads whole and within range, as Redis reads
 * them; SPOP only while the append-only file is off, which must get the SREM of what it popped); the right number of
 * arguments. It appends each reply, encoded, to ``out`` and returns the index of the first request it left to the
 * Python dispatcher (len(requests) when it ran them all). What it does to the keyspace is what the Python handlers do
 * (the same dicts, the same value objects) and the bookkeeping is the dispatcher's: per-command calls and usec,
 * keyspace hits and misses, the client's last command, the slow log. Every refusal happens before anything is changed,
 * so the Python path then runs the request from the start (and gives any error). Only a failed allocation can stop a
 * request half done, as it can in Python.
 *
 * The sets' and sorted sets' parts (SPOP's draw, ZADD, ZPOPMIN/ZPOPMAX) are in _fastpath_sets.c; what the two files
 * share, in _fastpath.h.
 *
 * With the append-only file on (the database's ``journal``), each write it ran is handed, encoded as a RESP request,
 * to ``journal.plain(client, db, request)``, as the dispatcher hands its writes to ``journal.command``; while the
 * file is failing (``journal.error`` set) writes are left to the Python path, which refuses them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_fastpath.h"

/* Client, Database, Command, CommandStats, ServerStats, Dispatcher */
static Field f_multi = FIELD("multi"), f_authenticated = FIELD("authenticated"), f_reply_mode = FIELD("reply_mode"),
    f_closing = FIELD("closing"), f_resp3 = FIELD("resp3"), f_db = FIELD("db"), f_last_command = FIELD("last_command"),
    f_data = FIELD("data"), f_expires = FIELD("expires"), f_watched = FIELD("watched"), f_blocked = FIELD("blocked"),
    f_stats = FIELD("stats"), f_calls = FIELD("calls"), f_usec = FIELD("usec"),
    f_keyspace_hits = FIELD("keyspace_hits"), f_keyspace_misses = FIELD("keyspace_misses"),
    f_dirty = FIELD("dirty"), f_slowlog_threshold = FIELD("slowlog_threshold"), f_journal = FIELD("journal"),
    f_error = FIELD("error");
static Field *fields[] = {&f_multi, &f_authenticated, &f_reply_mode, &f_closing, &f_resp3, &f_db, &f_last_command,
                          &f_data, &f_expires, &f_watched, &f_blocked, &f_stats, &f_calls, &f_usec, &f_keyspace_hits,
                          &f_keyspace_misses, &f_dirty, &f_slowlog_threshold, &f_journal, &f_error};
static PyObject *s_slowlog, *s_appendleft, *s_append, *s_plain, *s_popleft, *s_pop;
static PyObject *ok_reply, *null2_reply, *null3_reply, *pong_reply;

static void Runner_dealloc(Runner *self) {
    Py_XDECREF(self->kinds);
    for (int k = 0; k < K_COUNT; k++)
        Py_XDECREF(self->cmds[k]);
    Py_XDECREF(self->server_stats);
    Py_XDECREF(self->dispatcher);
    Py_XDECREF(self->reply_on);
    Py_XDECREF(self->deque_type);
    Py_XDECREF(self->zset_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Runner(kinds, cmds, server_stats, dispatcher, reply_on, deque, zset): ``cmds`` is a tuple indexed by kind. */
static int Runner_init(Runner *self, PyObject *args, PyObject *kw) {
    PyObject *kinds, *cmds, *server_stats, *dispatcher, *reply_on, *deque_type, *zset_type;
    if (!PyArg_ParseTuple(args, "O!O!OOOOO!", &PyDict_Type, &kinds, &PyTuple_Type, &cmds, &server_stats, &dispatcher,
                          &reply_on, &deque_type, &PyType_Type, &zset_type))
        return -1;
    if (PyTuple_GET_SIZE(cmds) != K_COUNT) {
        PyErr_Format(PyExc_ValueError, "cmds must have %d entries", K_COUNT);
        return -1;
    }
    Py_INCREF(kinds);
    Py_XSETREF(self->kinds, kinds);
    for (int k = 0; k < K_COUNT; k++) {
        PyObject *cmd = PyTuple_GET_ITEM(cmds, k);
        Py_XSETREF(self->cmds[k], cmd == Py_None ? NULL : Py_NewRef(cmd));
    }
    Py_XSETREF(self->server_stats, Py_NewRef(server_stats));
    Py_XSETREF(self->dispatcher, Py_NewRef(dispatcher));
    Py_XSETREF(self->reply_on, Py_NewRef(reply_on));
    Py_XSETREF(self->deque_type, Py_NewRef(deque_type));
    Py_XSETREF(self->zset_type, Py_NewRef(zset_type));
    return 0;
}

static PyObject *bulk(PyObject *value) {
    Py_ssize_t len = PyBytes_GET_SIZE(value);
    PyObject *reply = PyBytes_FromStringAndSize(NULL, bulk_string_size(len));
    if (reply != NULL)
        bulk_string(PyBytes_AS_STRING(reply), PyBytes_AS_STRING(value), len);
    return reply;
}

/* ``argv`` (a list of bytes) as one RESP request, the form the append-only file keeps. */
static PyObject *encode_request(PyObject *argv) {
    Py_ssize_t argc = PyList_GET_SIZE(argv), size;
    char header[32];
    size = header_line(header, '*', argc);
    for (Py_ssize_t a = 0; a < argc; a++)
        size += bulk_string_size(PyBytes_GET_SIZE(PyList_GET_ITEM(argv, a)));
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(data);
    p += header_line(p, '*', argc);
    for (Py_ssize_t a = 0; a < argc; a++) {
        PyObject *arg = PyList_GET_ITEM(argv, a);
        p = bulk_string(p, PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg));
    }
    return data;
}

/* MGET's reply: each key's string, or the null (``null_reply``) for a key missing or holding another type; counts
 * the keys found and missed (a key of another type is found, as Redis's lookup finds it). */
static PyObject *mget_reply(PyObject *argv, PyObject *data, PyObject *null_reply, long long *hits, long long *misses) {
    Py_ssize_t count = PyList_GET_SIZE(argv) - 1, nulls = PyBytes_GET_SIZE(null_reply);
    /* each key's string or NULL, borrowed: no Python code runs before they are copied */
    PyObject **values = PyMem_Malloc((size_t)count * sizeof *values);
    if (values == NULL)
        return PyErr_NoMemory();
    char header[32];
    Py_ssize_t size = header_line(header, '*', count);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *value = PyDict_GetItemWithError(data, PyList_GET_ITEM(argv, i + 1));
        if (value == NULL && PyErr_Occurred()) {
            PyMem_Free(values);
            return NULL;
        }
        *(value == NULL ? misses : hits) += 1;
        values[i] = value != NULL && PyBytes_CheckExact(value) ? value : NULL;
        size += values[i] == NULL ? nulls : bulk_string_size(PyBytes_GET_SIZE(value));
    }
    PyObject *reply = PyBytes_FromStringAndSize(NULL, size);
    if (reply != NULL) {
        char *p = PyBytes_AS_STRING(reply);
        p += header_line(p, '*', count);
        for (Py_ssize_t i = 0; i < count; i++) {
            if (values[i] == NULL) {
                memcpy(p, PyBytes_AS_STRING(null_reply), (size_t)nulls);
                p += nulls;
            } else {
                p = bulk_string(p, PyBytes_AS_STRING(values[i]), PyBytes_GET_SIZE(values[i]));
            }
        }
    }
    PyMem_Free(values);
    return reply;
}

/* A string INCR and the like may count from or by, read as Redis's string2ll reads it (digits, an optional '-', no
 * leading zero, no "-0", within 64 bits): 1 with ``*out`` set, else 0 (Python replies the error). */
static int string_to_ll(PyObject *value, long long *out) {
    const char *s = PyBytes_AS_STRING(value);
    Py_ssize_t n = PyBytes_GET_SIZE(value), i = s[0] == '-';
    if (n == 0 || n > 20 || i == n || (s[i] == '0' && n > 1))
        return 0;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (ULLONG_MAX - (unsigned)(s[i] - '0')) / 10)
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (s[0] == '-') {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == 0 ? 0 : -(long long)(v - 1) - 1;
    } else {
        if (v > LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

PyObject *fp_integer(Py_ssize_t n) {
    char buf[32];
    int len = header_line(buf, ':', n);
    return PyBytes_FromStringAndSize(buf, len);
}

/* 1 when ``key`` is in the non-empty dict ``d``, 0 when not, -1 on error. */
static int in_dict(PyObject *d, PyObject *key) {
    return PyDict_GET_SIZE(d) == 0 ? 0 : PyDict_Contains(d, key);
}

/* 1 when one of the keys argv[first], argv[first + step]... has a TTL or, for a write, a watcher or a client blocked
 * on it (the Python path must run the request); 0 when none has; -1 on error. */
static int keys_held(ClientView *v, PyObject *argv, Py_ssize_t first, Py_ssize_t step, int write) {
    int r = 0;
    for (Py_ssize_t a = first; a < PyList_GET_SIZE(argv) && r == 0; a += step) {
        PyObject *key = PyList_GET_ITEM(argv, a);
        if ((r = in_dict(v->expires, key)) == 0 && write && (r = in_dict(v->watched, key)) == 0)
            r = in_dict(v->blocked, key);
    }
    return r;
}

static void release_view(ClientView *v) {
    Py_XDECREF(v->db);
    Py_XDECREF(v->data);
    Py_XDECREF(v->expires);
    Py_XDECREF(v->watched);
    Py_XDECREF(v->blocked);
    Py_XDECREF(v->journal);
}

/* 1: fast path allowed (view filled), 0: not, -1: error. */
static int view_client(Runner *self, PyObject *client, ClientView *v) {
    int r;
    v->db = v->data = v->expires = v->watched = v->blocked = v->journal = NULL;
    v->journal_failed = 0;
    if ((r = field_is(&f_multi, client, Py_None)) != 1 || (r = field_is(&f_authenticated, client, Py_True)) != 1 ||
        (r = field_is(&f_reply_mode, client, self->reply_on)) != 1 || (r = field_is(&f_closing, client, Py_False)) != 1)
        return r;
    if ((r = field_is(&f_resp3, client, Py_True)) < 0)
        return -1;
    v->resp3 = r;
    v->null_reply = r ? null3_reply : null2_reply;
    PyObject *db = v->db = field_get(&f_db, client);
    if (db == NULL)
        return -1;
    if ((v->data = field_get(&f_data, db)) != NULL && (v->expires = field_get(&f_expires, db)) != NULL &&
        (v->watched = field_get(&f_watched, db)) != NULL && (v->blocked = field_get(&f_blocked, db)) != NULL)
        v->journal = field_get(&f_journal, db);   /* (no call made with an error pending) */
    if (v->data == NULL || v->expires == NULL || v->watched == NULL || v->blocked == NULL || v->journal == NULL)
        return -1;
    if (v->journal != Py_None) {
        if ((r = field_is(&f_error, v->journal, Py_None)) < 0)
            return -1;
        v->journal_failed = !r;
    }
    if (!PyDict_CheckExact(v->data) || !PyDict_CheckExact(v->expires) || !PyDict_CheckExact(v->watched) ||
        !PyDict_CheckExact(v->blocked))
        return 0;
    return 1;
}

/* The value of type ``type`` at ``key`` (new reference), created empty and stored there if missing (as the Python
 * handlers do); Py_None (borrowed) if the key holds another type; NULL on error. */
PyObject *fp_container_for_write(ClientView *v, PyObject *key, PyTypeObject *type) {
    PyObject *value = PyDict_GetItemWithError(v->data, key);
    if (value != NULL)
        return Py_TYPE(value) == type ? Py_NewRef(value) : Py_None;
    if (PyErr_Occurred() || (value = PyObject_CallNoArgs((PyObject *)type)) == NULL)
        return NULL;
    if (PyDict_SetItem(v->data, key, value) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* HSET's and SADD's reply: how many of the fields (pairs, for a hash: PyDict_Type) or members (PySet_Type) in
 * argv[2:] the value of that type at ``key`` (created if missing) did not hold; Py_None (borrowed) for another type. */
static PyObject *add_members(ClientView *v, PyObject *argv, PyObject *key, PyTypeObject *type) {
    PyObject *held = fp_container_for_write(v, key, type);
    if (held == NULL || held == Py_None)
        return held;
    int hash = type == &PyDict_Type;
    Py_ssize_t argc = PyList_GET_SIZE(argv), before = hash ? PyDict_GET_SIZE(held) : PySet_GET_SIZE(held);
    for (Py_ssize_t a = 2; a < argc; a += hash ? 2 : 1) {
        PyObject *item = PyList_GET_ITEM(argv, a);
        if ((hash ? PyDict_SetItem(held, item, PyList_GET_ITEM(argv, a + 1)) : PySet_Add(held, item)) < 0) {
            Py_DECREF(held);
            return NULL;
        }
    }
    Py_ssize_t added = (hash ? PyDict_GET_SIZE(held) : PySet_GET_SIZE(held)) - before;
    Py_DECREF(held);
    return fp_integer(added);
}

/* Runs one request; returns its reply (new reference), Py_None (borrowed, not run: leave it to Python) or NULL on
 * error. A read adds the keys it found and missed to ``hits`` and ``misses``. */
static PyObject *run_one(Runner *self, int kind, PyObject *argv, ClientView *v, long long *hits,
                         long long *misses) {
    Py_ssize_t argc = PyList_GET_SIZE(argv);
    PyObject *value;
    int r;
    for (Py_ssize_t a = 1; a < argc; a++)
        if (!PyBytes_CheckExact(PyList_GET_ITEM(argv, a)))
            return Py_None;
    if (kind == K_PING)
        return argc == 1 ? Py_NewRef(pong_reply) : argc == 2 ? bulk(PyList_GET_ITEM(argv, 1)) : Py_None;
    if (argc < 2)
        return Py_None;
    PyObject *key = PyList_GET_ITEM(argv, 1);
    if ((r = in_dict(v->expires, key)) != 0)   /* a key with a TTL may have expired: Python expires it */
        return r < 0 ? NULL : Py_None;
    switch (kind) {
    case K_MGET:
        if ((r = keys_held(v, argv, 2, 1, 0)) != 0)
            return r < 0 ? NULL : Py_None;
        return mget_reply(argv, v->data, v->null_reply, hits, misses);
    case K_GET:
    case K_HGET:
        if (argc != (kind == K_GET ? 2 : 3))
            return Py_None;
        value = PyDict_GetItemWithError(v->data, key);
        if (value == NULL) {
            if (PyErr_Occurred())
                return NULL;
            *misses += 1;
            return Py_NewRef(v->null_reply);
        }
        if (kind == K_GET) {
            if (!PyBytes_CheckExact(value))
                return Py_None;   /* WRONGTYPE */
            *hits += 1;
            return bulk(value);
        }
        if (!PyDict_CheckExact(value))
            return Py_None;
        *hits += 1;
        value = PyDict_GetItemWithError(value, PyList_GET_ITEM(argv, 2));
        if (value == NULL)
            return PyErr_Occurred() ? NULL : Py_NewRef(v->null_reply);
        return PyBytes_CheckExact(value) ? bulk(value) : Py_None;
    default:
        break;
    }
    /* writes: a watched key must signal its watchers, a key clients are blocked on must wake them: the Python path
     * does both */
    if ((r = in_dict(v->watched, key)) != 0 || (r = in_dict(v->blocked, key)) != 0)
        return r < 0 ? NULL : Py_None;
    if (v->journal_failed)   /* MISCONF */
        return Py_None;
    if (kind == K_MSET) {   /* MSET's other keys: the same checks, all before anything is set */
        if (argc % 2 == 0)
            return Py_None;
        if ((r = keys_held(v, argv, 3, 2, 1)) != 0)
            return r < 0 ? NULL : Py_None;
    }
    switch (kind) {
    case K_SET:
        if (argc != 3)
            return Py_None;
        if (PyDict_SetItem(v->data, key, PyList_GET_ITEM(argv, 2)) < 0)
            return NULL;
        return Py_NewRef(ok_reply);
    case K_ZADD:
        return fp_zadd(self, argv, v);
    case K_ZPOPMIN:
    case K_ZPOPMAX:
        return argc == 2 ? fp_zpop(self, key, kind == K_ZPOPMAX, v) : Py_None;
    case K_LPOP:
    case K_RPOP:
    case K_SPOP: {
        if (argc != 2 || (kind == K_SPOP && v->journal != Py_None))   /* SPOP is journaled as the SREM it made */
            return Py_None;
        PyObject *items = PyDict_GetItemWithError(v->data, key);
        if (items == NULL)
            return PyErr_Occurred() ? NULL : Py_NewRef(v->null_reply);
        PyObject *taken;
        if (kind == K_SPOP) {
            if (!PySet_CheckExact(items))
                return Py_None;
            PyObject *member = fp_draw_member((PySetObject *)items);
            if (member == NULL || !PyBytes_CheckExact(member))
                return Py_None;
            taken = Py_NewRef(member);
            if (PySet_Discard(items, member) < 0) {
                Py_DECREF(taken);
                return NULL;
            }
        } else {
            if (Py_TYPE(items) != (PyTypeObject *)self->deque_type)
                return Py_None;
            PyObject *end = PySequence_GetItem(items, kind == K_LPOP ? 0 : -1);   /* what the pop will take */
            if (end == NULL)
                return NULL;
            int plain = PyBytes_CheckExact(end);
            Py_DECREF(end);
            if (!plain)
                return Py_None;
            taken = PyObject_CallMethodNoArgs(items, kind == K_LPOP ? s_popleft : s_pop);
            if (taken == NULL)
                return NULL;
        }
        Py_ssize_t left = PyObject_Length(items);
        PyObject *reply = left < 0 || (left == 0 && PyDict_DelItem(v->data, key) < 0) ? NULL : bulk(taken);
        Py_DECREF(taken);
        return reply;
    }
    case K_SADD:
        return argc < 3 ? Py_None : add_members(v, argv, key, &PySet_Type);
    case K_MSET:
        for (Py_ssize_t a = 1; a < argc; a += 2)
            if (PyDict_SetItem(v->data, PyList_GET_ITEM(argv, a), PyList_GET_ITEM(argv, a + 1)) < 0)
                return NULL;
        return Py_NewRef(ok_reply);
    case K_HSET:
        return argc < 4 || argc % 2 != 0 ? Py_None : add_members(v, argv, key, &PyDict_Type);
    case K_INCR:
    case K_DECR:
    case K_INCRBY:
    case K_DECRBY: {
        long long n = 0, by = kind == K_INCR ? 1 : -1;
        if (argc != (kind == K_INCR || kind == K_DECR ? 2 : 3))
            return Py_None;
        if (argc == 3) {
            if (!string_to_ll(PyList_GET_ITEM(argv, 2), &by) || (kind == K_DECRBY && by == LLONG_MIN))
                return Py_None;   /* not an integer, or a decrement that would overflow */
            by = kind == K_DECRBY ? -by : by;
        }
        value = PyDict_GetItemWithError(v->data, key);
        if (value == NULL && PyErr_Occurred())
            return NULL;
        if (value != NULL && (!PyBytes_CheckExact(value) || !string_to_ll(value, &n)))
            return Py_None;   /* WRONGTYPE, or not an integer */
        if (by > 0 ? n > LLONG_MAX - by : n < LLONG_MIN - by)
            return Py_None;   /* would overflow */
        n += by;
        char buf[32];
        int len = header_line(buf, ':', (Py_ssize_t)n);   /* ":<digits>\r\n": the reply, and the digits stored */
        PyObject *digits = PyBytes_FromStringAndSize(buf + 1, len - 3);
        if (digits == NULL)
            return NULL;
        int rc = PyDict_SetItem(v->data, key, digits);
        Py_DECREF(digits);
        return rc < 0 ? NULL : PyBytes_FromStringAndSize(buf, len);
    }
    case K_LPUSH:
    case K_RPUSH: {
        if (argc < 3)
            return Py_None;
        PyObject *items = fp_container_for_write(v, key, (PyTypeObject *)self->deque_type);
        if (items == NULL || items == Py_None)
            return items;
        PyObject *method = kind == K_LPUSH ? s_appendleft : s_append;
        for (Py_ssize_t a = 2; a < argc; a++) {
            PyObject *res = PyObject_CallMethodOneArg(items, method, PyList_GET_ITEM(argv, a));
            if (res == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            Py_DECREF(res);
        }
        Py_ssize_t len = PyObject_Length(items);
        Py_DECREF(items);
        return len < 0 ? NULL : fp_integer(len);
    }
    default:
        return Py_None;
    }
}

static PyObject *Runner_run(Runner *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyList_Check(args[1]) || !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "run(client, requests: list, start: int, out: list)");
        return NULL;
    }
    PyObject *client = args[0], *requests = args[1], *out = args[3];
    Py_ssize_t start = PyLong_AsSsize_t(args[2]);
    if (start < 0 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(requests), i = start;
    long long calls[K_COUNT] = {0}, usec[K_COUNT] = {0}, hits = 0, misses = 0, writes = 0, threshold = -1;
    PyObject *last_cmd = NULL;
    ClientView v = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    int viewed = 0, failed = 0;

    for (; i < n; i++) {
        PyObject *argv = PyList_GET_ITEM(requests, i);
        if (!PyList_Check(argv) || PyList_GET_SIZE(argv) < 1)
            break;
        PyObject *name = PyList_GET_ITEM(argv, 0);
        if (!PyBytes_CheckExact(name))
            break;
        PyObject *kind_obj = PyDict_GetItemWithError(self->kinds, name);
        if (kind_obj == NULL) {
            failed = PyErr_Occurred() != NULL;
            break;
        }
        int kind = (int)PyLong_AsLong(kind_obj);
        if (kind <= K_NONE || kind >= K_COUNT || self->cmds[kind] == NULL)
            break;
        if (!viewed) {   /* only fast commands run here, and none changes what the view holds */
            int r = view_client(self, client, &v);
            if (r <= 0) {
                failed = r < 0;
                break;
            }
            PyObject *t = field_get(&f_slowlog_threshold, self->dispatcher);
            if (t == NULL || ((threshold = PyLong_AsLongLong(t)) == -1 && PyErr_Occurred())) {
                Py_XDECREF(t);
                failed = 1;
                break;
            }
            Py_DECREF(t);
            viewed = 1;
        }
        long long found = 0, missed = 0;
        long long t0 = now_ns();
        PyObject *reply = run_one(self, kind, argv, &v, &found, &missed);
        long long elapsed_us = (now_ns() - t0) / 1000;
        if (reply == NULL) {
            failed = 1;
            break;
        }
        if (reply == Py_None)
            break;
        int appended = PyList_Append(out, reply);
        Py_DECREF(reply);
        int write = kind != K_GET && kind != K_HGET && kind != K_MGET && kind != K_PING;
        calls[kind]++;
        usec[kind] += elapsed_us;
        hits += found;
        misses += missed;
        writes += write;
        last_cmd = self->cmds[kind];
        if (appended < 0) {
            failed = 1;
            i++;
            break;
        }
        if (write && v.journal != Py_None) {   /* the append-only file gets it before the reply goes */
            PyObject *data = encode_request(argv);   /* every element is bytes (run_one checked) */
            PyObject *res = data == NULL ? NULL : PyObject_CallMethodObjArgs(v.journal, s_plain, client, v.db, data,
                                                                              NULL);
            Py_XDECREF(data);
            if (res == NULL) {
                failed = 1;
                i++;
                break;
            }
            Py_DECREF(res);
        }
        if (threshold >= 0 && elapsed_us >= threshold) {
            PyObject *us = PyLong_FromLongLong(elapsed_us);
            PyObject *res = us == NULL ? NULL : PyObject_CallMethodObjArgs(self->dispatcher, s_slowlog, client, argv,
                                                                           us, NULL);
            Py_XDECREF(us);
            if (res == NULL) {
                failed = 1;
                i++;
                break;
            }
            Py_DECREF(res);
        }
    }
    release_view(&v);

    /* the bookkeeping of what ran, also when a failure stopped the run */
    PyObject *exc_type = NULL, *exc_value = NULL, *exc_tb = NULL;
    if (failed)
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    int bad = 0;   /* the first failure stops the bookkeeping (no call is made with an error pending) */
    for (int k = 1; k < K_COUNT && !bad; k++) {
        if (calls[k] == 0)
            continue;
        PyObject *stats = field_get(&f_stats, self->cmds[k]);
        bad = stats == NULL || field_add(&f_calls, stats, calls[k]) < 0 || field_add(&f_usec, stats, usec[k]) < 0;
        Py_XDECREF(stats);
    }
    if (hits && !bad)
        bad = field_add(&f_keyspace_hits, self->server_stats, hits) < 0;
    if (misses && !bad)
        bad = field_add(&f_keyspace_misses, self->server_stats, misses) < 0;
    if (writes && !bad)
        bad = field_add(&f_dirty, self->server_stats, writes) < 0;
    if (last_cmd != NULL && !bad)
        bad = field_set(&f_last_command, client, last_cmd) < 0;
    if (bad || failed) {
        /* Only a failed allocation gets here. The request that failed is left to the Python path (which replies
         * the error); the error is reported, not raised, so the requests run before it keep their replies. */
        if (failed) {
            PyErr_Clear();
            PyErr_Restore(exc_type, exc_value, exc_tb);
        }
        PyErr_WriteUnraisable(self->dispatcher);
    }
    return PyLong_FromSsize_t(i);
}

static PyMethodDef Runner_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Runner_run, METH_FASTCALL,
     "run(client, requests, start, out) -> index of the first request left to the Python dispatcher"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RunnerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.commands._fastpath.Runner",
    .tp_basicsize = sizeof(Runner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The dispatcher's C fast path for plain PING, GET, SET, HGET, HSET, LPUSH, RPUSH, LPOP, RPOP, SADD, "
              "SPOP, MGET, MSET, INCR, DECR, INCRBY, DECRBY, ZADD, ZPOPMIN and ZPOPMAX.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Runner_init,
    .tp_dealloc = (destructor)Runner_dealloc,
    .tp_methods = Runner_methods,
};

static PyMethodDef module_methods[] = {
    {"random_member", fp_random_member, METH_O, "random_member(set) -> a member drawn uniformly at random, or None"},
    {"zset_add", (PyCFunction)(void (*)(void))fp_zset_add, METH_FASTCALL,
     "zset_add(zset, member, score) -> ZSet.add(member, score), its entries changed here (as ZADD does)"},
    {"zset_pop", (PyCFunction)(void (*)(void))fp_zset_pop, METH_FASTCALL,
     "zset_pop(zset, highest) -> ZSet.pop(1, highest)'s entry, taken here (as ZPOPMIN and ZPOPMAX do)"},
    {"float_values", (PyCFunction)(void (*)(void))fp_float_values, METH_FASTCALL,
     "float_values(argv, start, itemsize) -> the FLOAT/DOUBLE buffer of AI.TENSORSET's VALUES argv[start:], or None"},
    {"dag_shape_matches", (PyCFunction)(void (*)(void))fp_dag_shape_matches, METH_FASTCALL,
     "dag_shape_matches(argv, fixed, words, arrows, names, pattern) -> whether argv has a DAG plan's shape"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, "_fastpath",
    "The dispatcher's C fast path (see Runner), SPOP's draw (random_member), ZADD's move (zset_add), ZPOPMIN's and "
    "ZPOPMAX's take (zset_pop), TENSORSET's VALUES (float_values) and a DAG plan's shape (dag_shape_matches).",
    -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (fields_init(fields, sizeof fields / sizeof fields[0]) < 0 || fp_sets_init() < 0)
        return NULL;
    INTERN(s_slowlog, "_slowlog");
    INTERN(s_appendleft, "appendleft");
    INTERN(s_append, "append");
    INTERN(s_plain, "plain");
    INTERN(s_popleft, "popleft");
    INTERN(s_pop, "pop");
    if ((ok_reply = PyBytes_FromString("+OK\r\n")) == NULL || (null2_reply = PyBytes_FromString("$-1\r\n")) == NULL ||
        (null3_reply = PyBytes_FromString("_\r\n")) == NULL || (pong_reply = PyBytes_FromString("+PONG\r\n")) == NULL)
        return NULL;
    if (PyType_Ready(&RunnerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Runner", (PyObject *)&RunnerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
