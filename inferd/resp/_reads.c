/* The per-read work of a connection in C: the request parser's inner loop, and the connection's read callback for
 * the reads it can finish alone.
 *
 * drain(reader, requests, data, base) -> (bad, error, consumed), exactly what parser.drain_py returns: each
 * complete request (a non-empty list of bytes) is appended to ``requests`` ('*-1' and '*0' are skipped, as Redis
 * ignores them); ``bad`` is the first object that is not a request (an element that is not a bulk string, or
 * Ellipsis for an object that starts in ``data`` with another byte than '*'; the loop stops there); ``error`` is
 * the exception the reader raised (hiredis.ProtocolError: an inline command or garbage follows), returned rather
 * than raised so that the caller keeps the count of what came before it; ``consumed`` is the bytes the requests and
 * the skipped headers take in their shortest encoding, which is the only one hiredis reads (so reaching the end of
 * what was fed, with nothing left in the reader, means it stopped at a request boundary; a '+' line that hiredis
 * takes as an element makes the count 3 bytes too large, which the parser's Python then finds and refuses).
 *
 * QuickRead(connection, parser, run, stats, writes, hold_max) is the connection's data_received.
 * For a read that starts at a request boundary (``parser.clean`` is the hiredis reader), ends at one, and whose
 * client is neither waiting, closing nor past a protocol error, it does what Connection.read does: counts the input,
 * splits the read into requests (whole multibulk requests in their plain form split here, anything else fed to the
 * reader and drained), runs the requests through the dispatcher's C fast path (``run``), and holds the replies for
 * the write batch (``writes.loop.call_soon(writes.flush)`` when it is the poll's first). Wherever that
 * stops it hands over to the Python methods that carry on from that point: Connection.read (nothing done yet),
 * Connection._read_drained (fed and drained, but not at a boundary, or the reader found an error), Connection._run
 * (parsed; the fast path stopped at a request), Connection._write (replies held already, or too large to hold).
 * A read of inline commands alone (whole lines of words without quotes, on a connection whose reader was never fed)
 * is split here as the parser's _feed_inline splits it, and its requests run the same way.
 *
 * flush_held(connections) is WriteBatch.flush's loop in C: each connection's held replies in one transport.write.
 *
 * plain_reply(value, resp3) (in _reads_reply.c, declared in _reads.h) is encoder.encode for the aggregate replies of plain values (LRANGE, MGET, HGETALL,
 * SMEMBERS, TENSORGET VALUES, a DAG's replies...): a list or tuple (an array), dict (a map in RESP3, a flat array in
 * RESP2) or set whose elements are bytes, Status, None, int (64-bit), float or such aggregates (8 deep), each of
 * exactly that type, as one bytes object with encode()'s bytes; None when any element is something else (a RESP3
 * double, an error, a zero-copy blob, a subclass...), which encode() then writes whole.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "_reads.h"
#include "_slots.h"

/* Connection, Client, RequestParser, ServerStats, WriteBatch */
static Field f_client = FIELD("client"), f_malformed = FIELD("malformed"), f_waiting = FIELD("waiting"),
    f_held = FIELD("held"), f_held_bytes = FIELD("held_bytes"), f_transport = FIELD("transport"),
    f_closing = FIELD("closing"), f_last_interaction = FIELD("last_interaction"), f_clean = FIELD("clean"),
    f_net_input_bytes = FIELD("net_input_bytes"), f_net_output_bytes = FIELD("net_output_bytes"),
    f_batch_held = FIELD("held"), f_at_start = FIELD("_at_start");
static Field *fields[] = {&f_client, &f_malformed, &f_waiting, &f_held, &f_held_bytes, &f_transport, &f_closing,
                          &f_last_interaction, &f_clean, &f_net_input_bytes, &f_net_output_bytes, &f_batch_held,
                          &f_at_start};
static PyObject *s_gets, *s_feed, *s_read, *s_read_drained, *s_run, *s_write, *s_join, *s_write_method, *s_loop,
    *s_call_soon, *s_flush, *s_has_data;
static PyObject *empty_bytes;

static Py_ssize_t digits(Py_ssize_t n) {
    Py_ssize_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* The loop of drain(); the outputs are new references. Returns -1 only when appending to ``requests`` failed.
 * ``buf``/``len`` are the bytes just fed and ``base`` where the first object drained starts, counted from ``buf``
 * (negative when it began in an earlier read): an object that starts in ``buf`` with another byte than '*' is not
 * a request (hiredis also reads RESP3 types and bulk strings there; Redis reads an inline command), so the loop
 * stops at it with Ellipsis as ``bad``. */
static int drain_into(PyObject *reader, PyObject *requests, const char *buf, Py_ssize_t len, Py_ssize_t base,
                      PyObject **bad_out, PyObject **error_out, Py_ssize_t *consumed_out) {
    PyObject *bad = Py_NewRef(Py_None), *error = Py_NewRef(Py_None);
    Py_ssize_t consumed = 0;
    int rc = 0;
    for (;;) {
        PyObject *request = PyObject_CallMethodNoArgs(reader, s_gets);
        if (request == NULL) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            if (tb != NULL && value != NULL)
                PyException_SetTraceback(value, tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
            if (value == NULL)
                value = Py_NewRef(Py_None);
            Py_SETREF(error, value);
            break;
        }
        if (request == Py_False) {
            Py_DECREF(request);
            break;
        }
        Py_ssize_t at = base + consumed;
        if (at >= 0 && at < len && buf[at] != '*') {
            Py_DECREF(request);
            Py_SETREF(bad, Py_NewRef(Py_Ellipsis));
            break;
        }
        if (request == Py_None || (PyList_CheckExact(request) && PyList_GET_SIZE(request) == 0)) {
            consumed += request == Py_None ? 5 : 4;   /* "*-1\r\n", "*0\r\n" */
            Py_DECREF(request);
            continue;
        }
        Py_ssize_t argc = PyList_CheckExact(request) ? PyList_GET_SIZE(request) : 0;
        Py_ssize_t size = 3 + digits(argc);
        for (Py_ssize_t i = 0; i < argc && size > 0; i++) {
            PyObject *arg = PyList_GET_ITEM(request, i);
            if (PyBytes_CheckExact(arg))
                size += 5 + digits(PyBytes_GET_SIZE(arg)) + PyBytes_GET_SIZE(arg);
            else
                size = 0;
        }
        if (argc == 0 || size == 0) {
            Py_SETREF(bad, request);
            break;
        }
        consumed += size;
        rc = PyList_Append(requests, request);
        Py_DECREF(request);
        if (rc < 0)
            break;
    }
    *bad_out = bad;
    *error_out = error;
    *consumed_out = consumed;
    return rc;
}

static PyObject *drain(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyList_Check(args[1]) || !PyBytes_Check(args[2]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "drain(reader, requests: list, data: bytes, base: int)");
        return NULL;
    }
    Py_ssize_t base = PyLong_AsSsize_t(args[3]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    PyObject *bad, *error;
    Py_ssize_t consumed;
    if (drain_into(args[0], args[1], PyBytes_AS_STRING(args[2]), PyBytes_GET_SIZE(args[2]), base, &bad, &error,
                   &consumed) < 0) {
        Py_DECREF(bad);
        Py_DECREF(error);
        return NULL;
    }
    return Py_BuildValue("(NNn)", bad, error, consumed);
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *conn, *parser, *run, *stats, *writes, *call_soon, *flush;
    Py_ssize_t hold_max;
} QuickRead;

static int QuickRead_traverse(QuickRead *self, visitproc visit, void *arg) {
    Py_VISIT(self->conn);
    Py_VISIT(self->parser);
    Py_VISIT(self->run);
    Py_VISIT(self->stats);
    Py_VISIT(self->writes);
    Py_VISIT(self->call_soon);
    Py_VISIT(self->flush);
    return 0;
}

static int QuickRead_clear(QuickRead *self) {
    Py_CLEAR(self->conn);
    Py_CLEAR(self->parser);
    Py_CLEAR(self->run);
    Py_CLEAR(self->stats);
    Py_CLEAR(self->writes);
    Py_CLEAR(self->call_soon);
    Py_CLEAR(self->flush);
    return 0;
}

static void QuickRead_dealloc(QuickRead *self) {
    PyObject_GC_UnTrack(self);
    QuickRead_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Hold ``data`` (the replies to this read) for the write batch: Connection._write with nothing held before. */
static int hold(QuickRead *self, PyObject *data) {
    if (field_add(&f_net_output_bytes, self->stats, PyBytes_GET_SIZE(data)) < 0)
        return -1;
    PyObject *held = PyList_New(1);
    if (held == NULL)
        return -1;
    PyList_SET_ITEM(held, 0, Py_NewRef(data));
    int rc = field_set(&f_held, self->conn, held);
    Py_DECREF(held);
    if (rc < 0 || field_set_ssize(&f_held_bytes, self->conn, PyBytes_GET_SIZE(data)) < 0)
        return -1;
    /* WriteBatch.hold(connection) */
    PyObject *batch = field_get(&f_batch_held, self->writes);
    if (batch == NULL)
        return -1;
    rc = PyList_Check(batch) ? PyList_Append(batch, self->conn) : -1;
    if (rc == 0 && PyList_GET_SIZE(batch) == 1) {
        PyObject *handle = PyObject_CallOneArg(self->call_soon, self->flush);
        rc = handle == NULL ? -1 : 0;
        Py_XDECREF(handle);
    } else if (rc < 0 && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "WriteBatch.held must be a list");
    }
    Py_DECREF(batch);
    return rc;
}

/* The requests of a read, parsed: run them through the fast path and hold their replies, or hand over to the
 * connection's Python where the fast path stops. */
static PyObject *run_requests(QuickRead *self, PyObject *client, PyObject *requests) {
    PyObject *result = NULL, *out = NULL, *index = NULL, *reply = NULL;
    Py_ssize_t n = PyList_GET_SIZE(requests);
    if (n == 0)
        return Py_NewRef(Py_None);
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL || (out = PyList_New(0)) == NULL)
        goto done;
    PyObject *run_args[4] = {client, requests, zero, out};
    if ((index = PyObject_Vectorcall(self->run, run_args, 4, NULL)) == NULL)
        goto done;
    Py_ssize_t i = PyLong_AsSsize_t(index);
    if (i == -1 && PyErr_Occurred())
        goto done;
    if (i < n) {   /* the fast path stopped at requests[i]: Connection._run(requests, True, i, out) goes on */
        result = PyObject_CallMethodObjArgs(self->conn, s_run, requests, Py_True, index, out, NULL);
        goto done;
    }
    Py_ssize_t count = PyList_GET_SIZE(out);
    if (count == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (count == 1) {
        reply = Py_NewRef(PyList_GET_ITEM(out, 0));
    } else {
        if ((reply = PyObject_CallMethodOneArg(empty_bytes, s_join, out)) == NULL)
            goto done;
    }
    int held_none = field_is(&f_held, self->conn, Py_None);
    if (held_none < 0)
        goto done;
    if (!held_none || !PyBytes_CheckExact(reply) || PyBytes_GET_SIZE(reply) > self->hold_max) {
        result = PyObject_CallMethodObjArgs(self->conn, s_write, out, Py_True, NULL);
        goto done;
    }
    if (hold(self, reply) == 0)
        result = Py_NewRef(Py_None);
done:
    Py_XDECREF(zero);
    Py_XDECREF(out);
    Py_XDECREF(index);
    Py_XDECREF(reply);
    return result;
}

/* The read once fed and drained: run what it holds. Returns what the callback returns (None), NULL on error. */
static PyObject *run_read(QuickRead *self, PyObject *client, PyObject *reader, PyObject *data, PyObject *requests) {
    PyObject *bad, *error, *result = NULL;
    Py_ssize_t consumed;

    PyObject *fed = PyObject_CallMethodOneArg(reader, s_feed, data);
    if (fed == NULL)
        return NULL;
    Py_DECREF(fed);
    int rc = drain_into(reader, requests, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), 0, &bad, &error,
                        &consumed);
    int boundary = 0;
    if (rc == 0 && bad == Py_None && error == Py_None && consumed == PyBytes_GET_SIZE(data)) {
        /* the count ends with the read; a reader still holding bytes means a '+' element made it short (the
         * parser's _drained says why) */
        PyObject *more = PyObject_CallMethodNoArgs(reader, s_has_data);
        if (more == NULL)
            rc = -1;
        else
            boundary = more == Py_False;
        Py_XDECREF(more);
    }
    if (rc < 0 || !boundary) {
        /* not at a request boundary (or an error): the parser's Python carries on from here */
        PyObject *drained = rc < 0 ? NULL : Py_BuildValue("(OOn)", bad, error, consumed);
        Py_DECREF(bad);
        Py_DECREF(error);
        if (drained == NULL)
            return NULL;
        result = PyObject_CallMethodObjArgs(self->conn, s_read_drained, data, requests, drained, NULL);
        Py_DECREF(drained);
        return result;
    }
    Py_DECREF(bad);
    Py_DECREF(error);
    return run_requests(self, client, requests);
}

/* Inline commands (Redis's other request form: the words of a command on one line, as redis-benchmark's PING_INLINE
 * and a terminal send them), split as parser.split_inline splits a line without quotes: each line of the read that
 * holds a word is appended to ``requests`` as the list of its words. Returns 1 when the read is whole lines of that
 * kind alone; 0 when the parser's Python must take it (a quote, which sdssplitargs reads with its escapes; a line
 * that starts with '*', where multibulk requests follow; one longer than INLINE_QUICK_MAX, past which the parser's
 * limits apply; a last line still arriving); -1 on error. */
#define INLINE_QUICK_MAX 4096

static int inline_blank(char c) {   /* isspace(): skipped between words */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int inline_end(char c) {   /* what ends a word (a vertical tab or form feed inside one is part of it) */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int split_inline_read(const char *buf, Py_ssize_t len, PyObject *requests) {
    if (len == 0 || buf[len - 1] != '\n')
        return 0;
    for (Py_ssize_t start = 0; start < len;) {
        const char *line = buf + start;
        Py_ssize_t end = (const char *)memchr(line, '\n', len - start) - buf;   /* found: the read ends with one */
        if (line[0] == '*' || end - start > INLINE_QUICK_MAX || memchr(line, '"', end - start) != NULL ||
            memchr(line, '\'', end - start) != NULL)
            return 0;
        PyObject *words = NULL;
        for (Py_ssize_t i = start; i < end;) {
            while (i < end && inline_blank(buf[i]))
                i++;
            Py_ssize_t first = i;
            while (i < end && !inline_end(buf[i]))
                i++;
            if (i == first)
                break;
            PyObject *word = PyBytes_FromStringAndSize(buf + first, i - first);
            if (word == NULL || (words == NULL && (words = PyList_New(0)) == NULL) || PyList_Append(words, word) < 0) {
                Py_XDECREF(word);
                Py_XDECREF(words);
                return -1;
            }
            Py_DECREF(word);
        }
        if (words != NULL) {
            int rc = PyList_Append(requests, words);
            Py_DECREF(words);
            if (rc < 0)
                return -1;
        }
        start = end + 1;
    }
    return 1;
}

/* Multibulk requests in their plain form (``*N`` then N ``$L`` bulk strings, each length in canonical digits and
 * each string followed by CRLF: what clients send), split here as the reader and drain() would split them, without
 * feeding the reader. Returns 1 when the read is whole requests of that form alone; 0 when the reader must take it
 * (anything else: '*0', '*-1', an element of another type, a length spelt otherwise, a request still arriving);
 * -1 on error. The limits the parser enforces (proto-max-bulk-len, client-query-buffer-limit, the multibulk length)
 * are 1 MiB at least, more than any length this reads. */
#define MULTIBULK_QUICK_MAX 1048576

/* A length after its mark, in canonical digits (at most 8) and CRLF: the bytes it takes, 0 if spelt otherwise. */
static Py_ssize_t read_length(const char *p, const char *end, Py_ssize_t *value) {
    const char *q = p;
    Py_ssize_t n = 0;
    if (q < end && *q == '0')
        q++;
    else
        while (q < end && *q >= '0' && *q <= '9' && q - p < 8)
            n = n * 10 + (*q++ - '0');
    if (q == p || end - q < 2 || q[0] != '\r' || q[1] != '\n')
        return 0;
    *value = n;
    return q + 2 - p;
}

static int split_multibulk_read(const char *buf, Py_ssize_t len, PyObject *requests) {
    const char *p = buf, *end = buf + len;
    while (p < end) {
        Py_ssize_t count, size, used;
        if (*p != '*' || (used = read_length(p + 1, end, &count)) == 0 || count == 0)
            return 0;
        p += 1 + used;
        if (count > (end - p) / 6)   /* "$0\r\n\r\n" at least each: not all here */
            return 0;
        PyObject *request = PyList_New(count);
        if (request == NULL)
            return -1;
        for (Py_ssize_t i = 0; i < count; i++) {
            if (end - p < 6 || *p != '$' || (used = read_length(p + 1, end, &size)) == 0 ||
                size > MULTIBULK_QUICK_MAX || end - (p + 1 + used) < size + 2 || p[1 + used + size] != '\r' ||
                p[2 + used + size] != '\n') {
                Py_DECREF(request);
                return 0;
            }
            PyObject *arg = PyBytes_FromStringAndSize(p + 1 + used, size);
            if (arg == NULL) {
                Py_DECREF(request);
                return -1;
            }
            PyList_SET_ITEM(request, i, arg);
            p += 1 + used + size + 2;
        }
        int rc = PyList_Append(requests, request);
        Py_DECREF(request);
        if (rc < 0)
            return -1;
    }
    return 1;
}

static PyObject *QuickRead_vectorcall(QuickRead *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "data_received(data)");
        return NULL;
    }
    PyObject *data = args[0], *client = NULL, *reader = NULL, *requests = NULL, *result = NULL;
    int quick = PyBytes_CheckExact(data) && PyBytes_GET_SIZE(data) > 0;
    int multibulk = quick && PyBytes_AS_STRING(data)[0] == '*';
    if (quick) {
        if ((client = field_get(&f_client, self->conn)) == NULL)
            return NULL;
        int r;
        if ((r = field_is(&f_closing, client, Py_False)) != 1 ||
            (r = field_is(&f_malformed, self->conn, Py_None)) != 1 ||
            (r = field_is(&f_waiting, self->conn, Py_None)) != 1)
            quick = 0;
        if (r < 0)
            goto done;
        if (quick) {   /* the parser's reader when the read starts at a request boundary, else None */
            if ((reader = field_get(&f_clean, self->parser)) == NULL)
                goto done;
            quick = reader != Py_None;
        }
        if (quick && !multibulk) {   /* inline commands: Python's _feed_inline takes them when nothing was fed */
            if ((r = field_is(&f_at_start, self->parser, Py_True)) < 0 || (requests = PyList_New(0)) == NULL)
                goto done;
            quick = r && (r = split_inline_read(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), requests)) == 1;
            if (r < 0)
                goto done;
        }
    }
    if (!quick) {
        result = PyObject_CallMethodOneArg(self->conn, s_read, data);
        goto done;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* time.monotonic() */
    PyObject *now = PyFloat_FromDouble((double)ts.tv_sec + ts.tv_nsec * 1e-9);
    int rc = now == NULL ? -1 : field_set(&f_last_interaction, client, now);
    Py_XDECREF(now);
    if (rc < 0 || field_add(&f_net_input_bytes, self->stats, PyBytes_GET_SIZE(data)) < 0)
        goto done;
    if (!multibulk)
        result = run_requests(self, client, requests);
    else if ((requests = PyList_New(0)) != NULL) {   /* plain requests split here; the rest through the reader */
        int r = split_multibulk_read(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), requests);
        if (r == 1)
            result = run_requests(self, client, requests);
        else if (r == 0 && PyList_SetSlice(requests, 0, PyList_GET_SIZE(requests), NULL) == 0)
            result = run_read(self, client, reader, data, requests);
    }
done:
    Py_XDECREF(client);
    Py_XDECREF(reader);
    Py_XDECREF(requests);
    return result;
}

static int QuickRead_init(QuickRead *self, PyObject *args, PyObject *kw) {
    PyObject *conn, *parser, *run, *stats, *writes;
    Py_ssize_t hold_max;
    if (!PyArg_ParseTuple(args, "OOOOOn", &conn, &parser, &run, &stats, &writes, &hold_max))
        return -1;
    /* writes.loop.call_soon and writes.flush, looked up once */
    PyObject *loop = PyObject_GetAttr(writes, s_loop);
    PyObject *call_soon = loop == NULL ? NULL : PyObject_GetAttr(loop, s_call_soon);
    Py_XDECREF(loop);
    PyObject *flush = call_soon == NULL ? NULL : PyObject_GetAttr(writes, s_flush);
    if (flush == NULL) {
        Py_XDECREF(call_soon);
        return -1;
    }
    Py_XSETREF(self->conn, Py_NewRef(conn));
    Py_XSETREF(self->parser, Py_NewRef(parser));
    Py_XSETREF(self->run, Py_NewRef(run));
    Py_XSETREF(self->stats, Py_NewRef(stats));
    Py_XSETREF(self->writes, Py_NewRef(writes));
    Py_XSETREF(self->call_soon, call_soon);
    Py_XSETREF(self->flush, flush);
    self->hold_max = hold_max;
    self->vectorcall = (vectorcallfunc)QuickRead_vectorcall;
    return 0;
}

static PyTypeObject QuickReadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.resp._reads.QuickRead",
    .tp_basicsize = sizeof(QuickRead),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A connection's data_received for the reads it can finish in C (see the module's comment).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)QuickRead_init,
    .tp_dealloc = (destructor)QuickRead_dealloc,
    .tp_traverse = (traverseproc)QuickRead_traverse,
    .tp_clear = (inquiry)QuickRead_clear,
    .tp_vectorcall_offset = offsetof(QuickRead, vectorcall),
    .tp_call = PyVectorcall_Call,
};

/* flush_held(connections): Connection.flush for each, in order: the replies it holds, in one transport.write. */
static PyObject *flush_held(PyObject *module, PyObject *connections) {
    if (!PyList_Check(connections)) {
        PyErr_SetString(PyExc_TypeError, "flush_held(connections: list)");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(connections); i++) {
        PyObject *conn = PyList_GET_ITEM(connections, i);
        PyObject *held = field_get(&f_held, conn);
        if (held == NULL)
            return NULL;
        if (field_set(&f_held, conn, Py_None) < 0) {
            Py_DECREF(held);
            return NULL;
        }
        if (!PyList_Check(held) || PyList_GET_SIZE(held) == 0) {   /* None: nothing held, or the connection lost */
            Py_DECREF(held);
            continue;
        }
        PyObject *data = PyList_GET_SIZE(held) == 1 ? Py_NewRef(PyList_GET_ITEM(held, 0))
                                                    : PyObject_CallMethodOneArg(empty_bytes, s_join, held);
        Py_DECREF(held);
        PyObject *transport = data == NULL ? NULL : field_get(&f_transport, conn);
        PyObject *res = transport == NULL ? NULL : PyObject_CallMethodOneArg(transport, s_write_method, data);
        Py_XDECREF(data);
        Py_XDECREF(transport);
        if (res == NULL)
            return NULL;
        Py_DECREF(res);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"drain", (PyCFunction)(void (*)(void))drain, METH_FASTCALL,
     "drain(reader, requests, data, base) -> (bad, error, consumed): every complete request out of a hiredis "
     "Reader just fed ``data``, the first starting at ``base`` in it"},
    {"flush_held", (PyCFunction)flush_held, METH_O,
     "flush_held(connections): write the replies each connection holds for the write batch, one write each"},
    {"plain_reply", (PyCFunction)(void (*)(void))rd_plain_reply, METH_FASTCALL,
     "plain_reply(value, resp3) -> bytes | None: encode(value) for an array, map or set of plain values (bytes, "
     "Status, None, int, float and such aggregates); None for anything else"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef reads_module = {
    PyModuleDef_HEAD_INIT, "_reads", "A connection's per-read work in C (see drain and QuickRead).", -1, methods,
};

PyMODINIT_FUNC PyInit__reads(void) {
    if (fields_init(fields, sizeof fields / sizeof fields[0]) < 0)
        return NULL;
    INTERN(s_gets, "gets");
    INTERN(s_feed, "feed");
    INTERN(s_has_data, "has_data");
    INTERN(s_read, "read");
    INTERN(s_read_drained, "_read_drained");
    INTERN(s_run, "_run");
    INTERN(s_write, "_write");
    INTERN(s_join, "join");
    INTERN(s_write_method, "write");
    INTERN(s_loop, "loop");
    INTERN(s_call_soon, "call_soon");
    INTERN(s_flush, "flush");
    if ((empty_bytes = PyBytes_FromStringAndSize(NULL, 0)) == NULL)
        return NULL;
    if (rd_reply_init() < 0)
        return NULL;
    if (PyType_Ready(&QuickReadType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&reads_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "QuickRead", (PyObject *)&QuickReadType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
