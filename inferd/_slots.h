/* Shared by inferd's C extensions (commands/_fastpath.c, resp/_reads.c): attributes of inferd's own objects, read
 * and written at their __slots__ offsets; and the RESP pieces both write (header_line, bulk_string).
 *
 * The objects the per-read path touches (Client, Database, Connection, RequestParser, WriteBatch, ServerStats,
 * CommandStats) declare __slots__. A Field finds, the first time it meets an object, the offset of the slot ``name``
 * in that object's type; objects of exactly that type are then read and written there directly, which skips the
 * type lookup and the descriptor call of a getattr (about a third of the C paths' own time at redis-benchmark -P 1,
 * where a read makes some 35 such accesses). An object of any other type, an attribute that is not a slot, and a
 * slot never set go through getattr/setattr, with their usual errors.
 */
#ifndef INFERD_SLOTS_H
#define INFERD_SLOTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* A module init's interned name: ``var`` = ``text`` interned, or the init returns NULL. */
#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

typedef struct {
    const char *text;
    PyObject *name;        /* interned; set by fields_init */
    PyTypeObject *type;    /* the type whose slot ``offset`` is (a strong reference), or NULL */
    Py_ssize_t offset;
    int resolved;          /* the first object was seen */
} Field;

#define FIELD(text) {text, NULL, NULL, 0, 0}

/* Interns the names of a module's fields (at its init). */
static inline int fields_init(Field *const *fields, size_t count) {
    for (size_t i = 0; i < count; i++)
        if ((fields[i]->name = PyUnicode_InternFromString(fields[i]->text)) == NULL)
            return -1;
    return 0;
}

static inline void field_resolve(Field *f, PyObject *obj) {
    f->resolved = 1;
    PyObject *descr = PyObject_GetAttr((PyObject *)Py_TYPE(obj), f->name);
    if (descr == NULL) {
        PyErr_Clear();   /* not a class attribute at all: getattr will say what it is */
        return;
    }
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == Py_T_OBJECT_EX && member->flags == 0) {
            f->type = (PyTypeObject *)Py_NewRef(Py_TYPE(obj));
            f->offset = member->offset;
        }
    }
    Py_DECREF(descr);
}

/* The slot of ``obj`` for this field, or NULL where it must go through getattr/setattr. */
static inline PyObject **field_slot(Field *f, PyObject *obj) {
    if (!f->resolved)
        field_resolve(f, obj);
    return Py_TYPE(obj) == f->type ? (PyObject **)((char *)obj + f->offset) : NULL;
}

/* getattr(obj, name): a new reference, or NULL with the exception set. */
static inline PyObject *field_get(Field *f, PyObject *obj) {
    PyObject **slot = field_slot(f, obj);
    if (slot != NULL && *slot != NULL)
        return Py_NewRef(*slot);
    return PyObject_GetAttr(obj, f->name);
}

/* setattr(obj, name, value): 0, or -1 with the exception set. */
static inline int field_set(Field *f, PyObject *obj, PyObject *value) {
    PyObject **slot = field_slot(f, obj);
    if (slot != NULL) {
        Py_XSETREF(*slot, Py_NewRef(value));
        return 0;
    }
    return PyObject_SetAttr(obj, f->name, value);
}

/* 1 when the attribute is ``expected``, 0 when not, -1 on error. */
static inline int field_is(Field *f, PyObject *obj, PyObject *expected) {
    PyObject **slot = field_slot(f, obj);
    if (slot != NULL && *slot != NULL)
        return *slot == expected;
    PyObject *value = PyObject_GetAttr(obj, f->name);
    if (value == NULL)
        return -1;
    int same = value == expected;
    Py_DECREF(value);
    return same;
}

/* The integer attribute plus ``delta``. */
static inline int field_add(Field *f, PyObject *obj, long long delta) {
    PyObject *old = field_get(f, obj);
    if (old == NULL)
        return -1;
    PyObject *d = PyLong_FromLongLong(delta);
    PyObject *sum = d == NULL ? NULL : PyNumber_Add(old, d);
    Py_DECREF(old);
    Py_XDECREF(d);
    if (sum == NULL)
        return -1;
    int rc = field_set(f, obj, sum);
    Py_DECREF(sum);
    return rc;
}

static inline int field_set_ssize(Field *f, PyObject *obj, Py_ssize_t value) {
    PyObject *v = PyLong_FromSsize_t(value);
    int rc = v == NULL ? -1 : field_set(f, obj, v);
    Py_XDECREF(v);
    return rc;
}

/* Writes ``prefix``, the decimal digits of ``n`` and CRLF to ``buf`` (32 bytes); returns the length. (snprintf's
 * format parsing was 1% of the server's CPU at redis-benchmark -P 1.) */
static inline int header_line(char *buf, char prefix, Py_ssize_t n) {
    char digits[24];
    int d = 0, len = 0;
    size_t u = n < 0 ? (size_t)0 - (size_t)n : (size_t)n;
    do {
        digits[d++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    buf[len++] = prefix;
    if (n < 0)
        buf[len++] = '-';
    while (d)
        buf[len++] = digits[--d];
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

/* The size of a bulk string of ``len`` bytes: its header, the bytes and CRLF. */
static inline Py_ssize_t bulk_string_size(Py_ssize_t len) {
    char header[32];
    return header_line(header, '$', len) + len + 2;
}

/* Writes the bulk string of ``data`` (``len`` bytes) at ``p`` (room for bulk_string_size(len)); returns its end. */
static inline char *bulk_string(char *p, const char *data, Py_ssize_t len) {
    p += header_line(p, '$', len);
    memcpy(p, data, (size_t)len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#endif
