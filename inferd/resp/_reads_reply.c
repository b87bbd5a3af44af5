/* The _reads extension's reply encoder (see _reads.c): plain_reply(value, resp3), encoder.encode for the aggregate
 * replies of plain values, in one pass into one buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#include "_reads.h"
#include "_slots.h"

static PyObject *status_type;   /* inferd.resp.encoder.Status */

int rd_reply_init(void) {
    PyObject *encoder = PyImport_ImportModule("inferd.resp.encoder");
    if (encoder == NULL)
        return -1;
    status_type = PyObject_GetAttrString(encoder, "Status");
    Py_DECREF(encoder);
    return status_type == NULL ? -1 : 0;
}

/* plain_reply(value, resp3): see the header. The reply grows in a buffer of ``cap`` bytes, ``len`` of them used. */
typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Reply;

#define PLAIN_DEPTH 8   /* deeper arrays are left to encode() */

/* Room for ``n`` more bytes; -1 (MemoryError set) when it cannot grow. */
static int reserve(Reply *r, Py_ssize_t n) {
    if (r->len + n <= r->cap)
        return 0;
    Py_ssize_t cap = r->cap * 2;
    if (cap < r->len + n)
        cap = r->len + n;
    char *data = PyMem_Realloc(r->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->data = data;
    r->cap = cap;
    return 0;
}

static int put_header(Reply *r, char mark, Py_ssize_t n) {
    if (reserve(r, 32) < 0)
        return -1;
    r->len += header_line(r->data + r->len, mark, n);
    return 0;
}

/* ``mark``, ``text`` and CRLF: a simple string (``+``), a RESP3 double (``,``) or null (``_``). */
static int put_line(Reply *r, char mark, const char *text, Py_ssize_t n) {
    if (reserve(r, n + 3) < 0)
        return -1;
    r->data[r->len++] = mark;
    memcpy(r->data + r->len, text, (size_t)n);
    r->len += n;
    r->data[r->len++] = '\r';
    r->data[r->len++] = '\n';
    return 0;
}

static int put_bulk(Reply *r, const char *text, Py_ssize_t n) {
    if (reserve(r, bulk_string_size(n)) < 0)
        return -1;
    r->len = bulk_string(r->data + r->len, text, n) - r->data;
    return 0;
}

/* ``text`` as a bulk string (RESP2) or a double (RESP3), as encoder.encode writes a float. */
static int put_double_text(Reply *r, const char *text, Py_ssize_t n, int resp3) {
    return resp3 ? put_line(r, ',', text, n) : put_bulk(r, text, n);
}

/* encoder.format_double: inf, -inf, nan, an integral value below 1e17 as an integer, else repr(). */
static int put_double(Reply *r, double x, int resp3) {
    char small[32];
    if (isinf(x))
        return put_double_text(r, x > 0 ? "inf" : "-inf", x > 0 ? 3 : 4, resp3);
    if (isnan(x))
        return put_double_text(r, "nan", 3, resp3);
    if (fabs(x) < 1e17 && x == (double)(long long)x) {
        int n = header_line(small, ' ', (Py_ssize_t)(long long)x);   /* " <digits>\r\n" */
        return put_double_text(r, small + 1, n - 3, resp3);
    }
    char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL)
        return -1;
    int rc = put_double_text(r, text, (Py_ssize_t)strlen(text), resp3);
    PyMem_Free(text);
    return rc;
}

static int put_value(Reply *r, PyObject *value, int resp3, int depth);

/* An aggregate: ``count`` elements (pairs for a map) after a header of ``total`` (see put_value). */
static int put_items(Reply *r, PyObject *value, char mark, Py_ssize_t total, int resp3, int depth) {
    if (put_header(r, mark, total) < 0)
        return -1;
    if (PyDict_CheckExact(value)) {
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        int rc;
        while (PyDict_Next(value, &pos, &key, &item))
            if ((rc = put_value(r, key, resp3, depth)) <= 0 || (rc = put_value(r, item, resp3, depth)) <= 0)
                return rc;
        return 1;
    }
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(value); i++) {
            int rc = put_value(r, PySequence_Fast_GET_ITEM(value, i), resp3, depth);
            if (rc <= 0)
                return rc;
        }
        return 1;
    }
    PyObject *it = PyObject_GetIter(value);   /* a set or frozenset */
    if (it == NULL)
        return -1;
    PyObject *item;
    int rc = 1;
    while (rc > 0 && (item = PyIter_Next(it)) != NULL) {
        rc = put_value(r, item, resp3, depth);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return rc > 0 && PyErr_Occurred() ? -1 : rc;
}

/* Appends ``value``'s encoding: 1 done, 0 a value encode() must write (the caller gives up), -1 an error. */
static int put_value(Reply *r, PyObject *value, int resp3, int depth) {
    PyTypeObject *t = Py_TYPE(value);
    if (t == &PyBytes_Type)
        return put_bulk(r, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)) < 0 ? -1 : 1;
    if (value == Py_None)   /* "_\r\n", or RESP2's null bulk string "$-1\r\n" */
        return (resp3 ? put_line(r, '_', "", 0) : put_header(r, '$', -1)) < 0 ? -1 : 1;
    if (t == &PyLong_Type) {
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow)
            return 0;
        if (n == -1 && PyErr_Occurred())
            return -1;
        return put_header(r, ':', (Py_ssize_t)n) < 0 ? -1 : 1;
    }
    if (t == &PyFloat_Type)
        return put_double(r, PyFloat_AS_DOUBLE(value), resp3) < 0 ? -1 : 1;
    if ((PyObject *)t == status_type)   /* a simple string (OK, QUEUED...) */
        return put_line(r, '+', PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)) < 0 ? -1 : 1;
    if (depth >= PLAIN_DEPTH)
        return 0;
    if (t == &PyList_Type || t == &PyTuple_Type)
        return put_items(r, value, '*', PySequence_Fast_GET_SIZE(value), resp3, depth + 1);
    if (t == &PyDict_Type) {
        Py_ssize_t n = PyDict_GET_SIZE(value);
        return put_items(r, value, resp3 ? '%' : '*', resp3 ? n : 2 * n, resp3, depth + 1);
    }
    if (t == &PySet_Type || t == &PyFrozenSet_Type)
        return put_items(r, value, resp3 ? '~' : '*', PySet_GET_SIZE(value), resp3, depth + 1);
    return 0;
}

PyObject *rd_plain_reply(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "plain_reply(value, resp3)");
        return NULL;
    }
    PyObject *value = args[0];
    PyTypeObject *t = Py_TYPE(value);
    if (t != &PyList_Type && t != &PyTuple_Type && t != &PyDict_Type && t != &PySet_Type && t != &PyFrozenSet_Type)
        Py_RETURN_NONE;   /* scalars: the caller's own branches, or encode(), are as quick */
    int resp3 = PyObject_IsTrue(args[1]);
    if (resp3 < 0)
        return NULL;
    Reply r = {PyMem_Malloc(256), 0, 256};
    if (r.data == NULL)
        return PyErr_NoMemory();
    int rc = put_value(&r, value, resp3, 0);
    PyObject *out = rc < 0 ? NULL : rc == 0 ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize(r.data, r.len);
    PyMem_Free(r.data);
    return out;
}
