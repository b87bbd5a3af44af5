/* The dispatcher's C fast path (see _fastpath.c), for sets and sorted sets: SPOP's and SRANDMEMBER's draw from a set's
 * hash table, ZADD in its plain form, ZPOPMIN and ZPOPMAX without a count.
 *
 * ZADD moves a member within the sorted set's chunked entries (inferd.store.zset.Entries) here, as Entries.remove and
 * Entries.add do, comparing (score, member) entries by their double and bytes rather than as tuples: the two
 * bisections per move were most of a ZADD's own time in a set of 100,000 members. Within a chunk, they bisect its
 * scores (Entries.chunk_scores, an array of doubles), reading an entry's member only where the scores are equal: in
 * a large set each entry tuple and its float are a cache miss apiece. A chunk that must be split or joined is left to
 * the methods (once in hundreds of moves).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/random.h>

#include "_fastpath.h"

static Field f_scores = FIELD("scores");   /* ZSet.scores: member -> score */
static Field f_items = FIELD("items"), f_chunks = FIELD("chunks"), f_lasts = FIELD("lasts"),   /* Entries */
             f_length = FIELD("length"), f_starts = FIELD("starts"), f_chunk_scores = FIELD("chunk_scores");
static Field *fields[] = {&f_scores, &f_items, &f_chunks, &f_lasts, &f_length, &f_starts, &f_chunk_scores};
static PyObject *s_add, *s_pop, *s_append, *s_insert, *one, *empty_array_reply;

static uint64_t rng_state;   /* splitmix64, seeded at import from getrandom (the clock if that fails) */
static PyObject *set_dummy;   /* what CPython leaves in a slot whose member was removed (found at import) */

static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define DRAW_TRIES 64

/* A member of the set ``so`` drawn uniformly at random (borrowed), or NULL. It picks slots of the set's hash table at
 * random until one holds a member (each member is equally likely), so it costs O(slots / members): NULL after
 * DRAW_TRIES empty slots (a table that pops have left mostly empty; Python then copies the set, whose table is sized
 * to its members) and for an empty set. Python's own choice needs a tuple of the whole set, and a walk from the
 * table's start passes every slot emptied before (a set popped from the start). */
PyObject *fp_draw_member(PySetObject *so) {
    if (so->used == 0 || set_dummy == NULL)
        return NULL;
    unsigned __int128 slots = (unsigned __int128)so->mask + 1;
    for (int t = 0; t < DRAW_TRIES; t++) {
        PyObject *key = so->table[(size_t)((next_random() * slots) >> 64)].key;
        if (key != NULL && key != set_dummy)
            return key;
    }
    return NULL;
}

/* random_member(s): draw_member for Python (SPOP's and SRANDMEMBER's draw there), None for NULL. */
PyObject *fp_random_member(PyObject *module, PyObject *arg) {
    if (!PySet_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "random_member(set)");
        return NULL;
    }
    PyObject *member = fp_draw_member((PySetObject *)arg);
    return Py_NewRef(member != NULL ? member : Py_None);
}

/* A ZADD score as Redis's getDoubleFromObject reads it (strtod, whole, no range error), for the plain forms only:
 * digits, sign, point and exponent, at most 64 characters; 1 with ``*out`` set, else 0 (Python reads it, or gives
 * the error: spaces, inf, hex, underflow, overflow). */
static int plain_score(PyObject *value, double *out) {
    const char *s = PyBytes_AS_STRING(value);   /* NUL-terminated */
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    if (n == 0 || n > 64)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '+' || s[i] == 'e' ||
              s[i] == 'E'))
            return 0;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s + n || errno != 0 || isnan(d))
        return 0;
    *out = d;
    return 1;
}

/* ---- a sorted set's entries (inferd.store.zset.Entries), changed here as its add and remove change them ---------- */
static PyObject *s_remove, *s_split, *s_chunk, *zset_module;

static int bad_entry(void) {
    PyErr_SetString(PyExc_SystemError, "a sorted set's entry is not a (float, bytes) tuple");
    return -1;
}

/* An entry's score: 0, or -1 (SystemError set) if it is not a pair that starts with a float. */
static int entry_score(PyObject *entry, double *score) {
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 || !PyFloat_CheckExact(PyTuple_GET_ITEM(entry, 0)))
        return bad_entry();
    *score = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(entry, 0));
    return 0;
}

/* The member of an entry that entry_score accepted: 0, or -1 (SystemError set) if it is not bytes. */
static int entry_member(PyObject *entry, PyObject **member) {
    if (!PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 1)))
        return bad_entry();
    *member = PyTuple_GET_ITEM(entry, 1);
    return 0;
}

/* An entry's score and member: 0, or -1 (SystemError set) if it is not a (float, bytes) tuple. */
static int entry_parts(PyObject *entry, double *score, PyObject **member) {
    return entry_score(entry, score) < 0 ? -1 : entry_member(entry, member);
}

/* The member bytes ``m`` (``n`` long) against ``entry``'s member, as bytes order them, into ``*cmp``: 0, or -1
 * (SystemError set) if the entry's member is not bytes. */
static int member_cmp(const char *m, Py_ssize_t n, PyObject *entry, int *cmp) {
    PyObject *other;
    if (entry_member(entry, &other) < 0)
        return -1;
    Py_ssize_t on = PyBytes_GET_SIZE(other);
    int c = memcmp(m, PyBytes_AS_STRING(other), (size_t)(n < on ? n : on));
    *cmp = c != 0 ? c : n < on ? -1 : n > on ? 1 : 0;
    return 0;
}

/* Where (score, member) goes in the sorted list ``entries``, as bisect_left (``right``: bisect_right) finds it with
 * the tuples' own order (score, then member bytes); -1 with SystemError set for an entry of another kind. The sets
 * are large and their entries scattered in memory: a probe reads the member only when the scores are equal, and the
 * two entries the next probe may read are fetched ahead. */
static Py_ssize_t entry_bisect(PyObject *entries, double score, PyObject *member, int right) {
    const char *m = PyBytes_AS_STRING(member);
    Py_ssize_t n = PyBytes_GET_SIZE(member), lo = 0, hi = PyList_GET_SIZE(entries);
    PyObject **items = ((PyListObject *)entries)->ob_item;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
#if defined(__GNUC__)
        if (lo < mid)
            __builtin_prefetch(items[lo + (mid - lo) / 2]);
        if (mid + 1 < hi)
            __builtin_prefetch(items[mid + 1 + (hi - mid - 1) / 2]);
#endif
        PyObject *entry = items[mid];
        double s;
        if (entry_score(entry, &s) < 0)
            return -1;
        int cmp = score < s ? -1 : score > s ? 1 : 0;   /* (no NaN is ever stored) */
        if (cmp == 0 && member_cmp(m, n, entry, &cmp) < 0)
            return -1;
        if (cmp < 0 || (cmp == 0 && !right))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Where (score, member) goes in the chunk ``list``, as entry_bisect finds it, bisecting ``scores`` (the chunk's
 * scores, an array of doubles) and reading a member only where the scores are equal; -1 with SystemError set when
 * the two disagree in length or an entry is of another kind. */
static Py_ssize_t chunk_bisect(PyObject *list, PyObject *scores, double score, PyObject *member, int right) {
    Py_buffer view;
    if (PyObject_GetBuffer(scores, &view, PyBUF_FORMAT) < 0)
        return -1;
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(list);
    if (view.itemsize != (Py_ssize_t)sizeof(double) || view.format == NULL || strcmp(view.format, "d") != 0 ||
        view.len != hi * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_SystemError, "a sorted set's chunk scores do not match its entries");
        return -1;
    }
    const double *s = view.buf;
    const char *m = PyBytes_AS_STRING(member);
    Py_ssize_t n = PyBytes_GET_SIZE(member);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int cmp = score < s[mid] ? -1 : score > s[mid] ? 1 : 0;   /* (no NaN is ever stored) */
        if (cmp == 0 && member_cmp(m, n, PyList_GET_ITEM(list, mid), &cmp) < 0) {
            lo = -1;
            break;
        }
        if (cmp < 0 || (cmp == 0 && !right))
            hi = mid;
        else
            lo = mid + 1;
    }
    PyBuffer_Release(&view);
    return lo;
}

/* zset.CHUNK, read at each change (the tests make it small). */
static Py_ssize_t chunk_size(void) {
    if (zset_module == NULL && (zset_module = PyImport_ImportModule("inferd.store.zset")) == NULL)
        return -1;
    PyObject *value = PyObject_GetAttr(zset_module, s_chunk);
    Py_ssize_t size = value == NULL ? -1 : PyLong_AsSsize_t(value);
    Py_XDECREF(value);
    return size;
}

/* Entries.length += delta: 0, or -1 with the exception set. */
static int entries_count(PyObject *items, Py_ssize_t delta) {
    PyObject *length = field_get(&f_length, items);
    Py_ssize_t n = length == NULL ? -1 : PyLong_AsSsize_t(length);
    Py_XDECREF(length);
    return n < 0 ? -1 : field_set_ssize(&f_length, items, n + delta);
}

/* Entries.remove((score, member)) for an entry that is there: here when its chunk keeps a quarter of CHUNK, else
 * by the method (the chunk joins a neighbour). 0, or -1 with the exception set. */
static int entries_remove(PyObject *items, PyObject *chunks, PyObject *lasts, PyObject *all_scores, double score,
                          PyObject *member, Py_ssize_t chunk) {
    Py_ssize_t k = entry_bisect(lasts, score, member, 0);
    if (k < 0)
        return -1;
    if (k >= PyList_GET_SIZE(chunks) || PyList_GET_SIZE(chunks) != PyList_GET_SIZE(lasts)) {
        PyErr_SetString(PyExc_SystemError, "a sorted set's entry is missing");
        return -1;
    }
    PyObject *list = PyList_GET_ITEM(chunks, k);
    Py_ssize_t size = PyList_CheckExact(list) ? PyList_GET_SIZE(list) : 0;
    if (size < 2 || size - 1 < chunk / 4) {   /* the method empties or joins the chunk */
        PyObject *entry = Py_BuildValue("(dO)", score, member);
        PyObject *res = entry == NULL ? NULL : PyObject_CallMethodOneArg(items, s_remove, entry);
        Py_XDECREF(entry);
        Py_XDECREF(res);
        return res == NULL ? -1 : 0;
    }
    Py_ssize_t i = chunk_bisect(list, PyList_GET_ITEM(all_scores, k), score, member, 0);
    if (i < 0 || PyList_SetSlice(list, i, i + 1, NULL) < 0 || PySequence_DelItem(PyList_GET_ITEM(all_scores, k), i) < 0 ||
        PyList_SetItem(lasts, k, Py_NewRef(PyList_GET_ITEM(list, size - 2))) < 0)
        return -1;
    return entries_count(items, -1);
}

/* Entries.add((score, member)) for an entry that is not there; a chunk grown past 2 * CHUNK is split by the
 * method. 0, or -1 with the exception set. */
static int entries_add(PyObject *items, PyObject *chunks, PyObject *lasts, PyObject *all_scores, PyObject *score,
                       PyObject *member, Py_ssize_t chunk) {
    PyObject *entry = PyTuple_Pack(2, score, member);
    if (entry == NULL)
        return -1;
    /* A float and bytes make no cycle: untracked now, while the collector's list around it is in the cache, the
     * entry's eventual removal need not unlink it there (the collector, which would untrack it too, seldom runs:
     * server.py's threshold, and a move frees the entry it replaces) */
    PyObject_GC_UnTrack(entry);
    int rc = -1;
    Py_ssize_t count = PyList_GET_SIZE(chunks);
    if (count == 0 || count != PyList_GET_SIZE(lasts)) {   /* the first entry: the method makes the chunk */
        PyObject *res = PyObject_CallMethodOneArg(items, s_add, entry);
        Py_XDECREF(res);
        rc = res == NULL ? -1 : 0;
        goto done;
    }
    double d = PyFloat_AS_DOUBLE(score);
    Py_ssize_t k = entry_bisect(lasts, d, member, 0), size;
    if (k < 0)
        goto done;
    PyObject *list = PyList_GET_ITEM(chunks, k == count ? k - 1 : k);
    PyObject *scores = PyList_GET_ITEM(all_scores, k == count ? k - 1 : k), *res;
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_SystemError, "a sorted set's chunk is not a list");
        goto done;
    }
    if (k == count) {   /* after every entry: the last chunk's new last */
        if (PyList_Append(list, entry) < 0 || PyList_SetItem(lasts, --k, Py_NewRef(entry)) < 0)
            goto done;
        res = PyObject_CallMethodOneArg(scores, s_append, score);
    } else {
        Py_ssize_t i = chunk_bisect(list, scores, d, member, 1);
        PyObject *at = i < 0 || PyList_Insert(list, i, entry) < 0 ? NULL : PyLong_FromSsize_t(i);
        PyObject *args[] = {scores, at, score};
        res = at == NULL ? NULL : PyObject_VectorcallMethod(s_insert, args, 3, NULL);
        Py_XDECREF(at);
    }
    if (res == NULL)
        goto done;
    Py_DECREF(res);
    size = PyList_GET_SIZE(list);
    if (entries_count(items, 1) < 0)
        goto done;
    if (size > 2 * chunk) {
        PyObject *at = PyLong_FromSsize_t(k);
        PyObject *res = at == NULL ? NULL : PyObject_CallMethodOneArg(items, s_split, at);
        Py_XDECREF(at);
        Py_XDECREF(res);
        if (res == NULL)
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(entry);
    return rc;
}

/* Entries.take(1, last)'s entry (a new reference), taken here when the end chunk keeps a quarter of CHUNK after it
 * or is the only one; Py_None (a new reference) when the method must take it (the chunk empties or joins its
 * neighbour); NULL with the exception set. */
static PyObject *entries_take_one(PyObject *items, int last, Py_ssize_t chunk) {
    PyObject *chunks = field_get(&f_chunks, items), *lasts = NULL, *all_scores = NULL, *entry = NULL;
    if (chunks == NULL || (lasts = field_get(&f_lasts, items)) == NULL ||
        (all_scores = field_get(&f_chunk_scores, items)) == NULL)
        goto done;
    if (!PyList_CheckExact(chunks) || !PyList_CheckExact(lasts) || PyList_GET_SIZE(chunks) != PyList_GET_SIZE(lasts) ||
        !PyList_CheckExact(all_scores) || PyList_GET_SIZE(all_scores) != PyList_GET_SIZE(chunks)) {
        PyErr_SetString(PyExc_SystemError, "a sorted set's entries are not lists of chunks");
        goto done;
    }
    Py_ssize_t count = PyList_GET_SIZE(chunks), k = last ? count - 1 : 0;
    PyObject *list = count > 0 ? PyList_GET_ITEM(chunks, k) : NULL;
    Py_ssize_t size = list != NULL && PyList_CheckExact(list) ? PyList_GET_SIZE(list) : 0;
    if (size < 2 || (count > 1 && size - 1 < chunk / 4)) {
        entry = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t at = last ? size - 1 : 0;
    entry = Py_NewRef(PyList_GET_ITEM(list, at));
    if (PyList_SetSlice(list, at, at + 1, NULL) < 0 || PySequence_DelItem(PyList_GET_ITEM(all_scores, k), at) < 0 ||
        (last && PyList_SetItem(lasts, k, Py_NewRef(PyList_GET_ITEM(list, size - 2))) < 0) ||
        field_set(&f_starts, items, Py_None) < 0 || entries_count(items, -1) < 0)
        Py_CLEAR(entry);
done:
    Py_XDECREF(all_scores);
    Py_XDECREF(lasts);
    Py_XDECREF(chunks);
    return entry;
}

/* ZSet.pop(1, highest)'s entry (a new reference; the set holds one at least): taken from the entries here when
 * entries_take_one can, else by the method. NULL with the exception set. */
static PyObject *zset_pop_one(PyObject *zs, int highest) {
    Py_ssize_t chunk = chunk_size();
    PyObject *items = chunk < 0 ? NULL : field_get(&f_items, zs), *scores = NULL, *member;
    PyObject *entry = items == NULL ? NULL : entries_take_one(items, highest, chunk);
    double score;
    if (entry == Py_None) {
        Py_DECREF(entry);
        PyObject *popped = PyObject_CallMethodObjArgs(zs, s_pop, one, highest ? Py_True : Py_False, NULL);
        entry = popped != NULL && PyList_CheckExact(popped) && PyList_GET_SIZE(popped) == 1
                    ? Py_NewRef(PyList_GET_ITEM(popped, 0)) : NULL;
        if (popped != NULL && entry == NULL)
            PyErr_SetString(PyExc_SystemError, "ZSet.pop gave no entry");
        Py_XDECREF(popped);
    } else if (entry != NULL && (entry_parts(entry, &score, &member) < 0 ||
                                 (scores = field_get(&f_scores, zs)) == NULL || PyDict_DelItem(scores, member) < 0))
        Py_CLEAR(entry);
    Py_XDECREF(scores);
    Py_XDECREF(items);
    return entry;
}

/* zset_pop(zs, highest) for Python (the tests set the two ways side by side): ZSet.pop(1, highest)'s entry. */
PyObject *fp_zset_pop(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBool_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "zset_pop(zset, highest: bool)");
        return NULL;
    }
    Py_ssize_t size = PyObject_Length(args[0]);
    if (size < 0)
        return NULL;
    if (size == 0) {
        PyErr_SetString(PyExc_ValueError, "zset_pop: the set is empty");
        return NULL;
    }
    return zset_pop_one(args[0], args[1] == Py_True);
}

/* ZSet.add(member, score) for a member at another score than ``score`` (``current``: its score, NULL if new),
 * ``scores`` being the set's member -> score dict: 0, or -1 with the exception set. */
static int zset_move(PyObject *zs, PyObject *scores, PyObject *member, double score, PyObject *current) {
    score += 0.0;   /* -0.0 is kept as 0.0 (ZSet.add) */
    Py_ssize_t chunk = chunk_size();
    if (chunk < 0)
        return -1;
    PyObject *items = field_get(&f_items, zs), *chunks = NULL, *lasts = NULL, *all_scores = NULL, *value = NULL;
    int rc = -1;
    if (items == NULL || (chunks = field_get(&f_chunks, items)) == NULL || (lasts = field_get(&f_lasts, items)) == NULL
        || (all_scores = field_get(&f_chunk_scores, items)) == NULL)
        goto done;
    if (!PyList_CheckExact(chunks) || !PyList_CheckExact(lasts) || !PyList_CheckExact(all_scores) ||
        PyList_GET_SIZE(all_scores) != PyList_GET_SIZE(chunks) || (current != NULL && !PyFloat_CheckExact(current))) {
        PyErr_SetString(PyExc_SystemError, "a sorted set's entries are not lists of chunks");
        goto done;
    }
    if (field_set(&f_starts, items, Py_None) < 0)
        goto done;
    if (current != NULL &&
        entries_remove(items, chunks, lasts, all_scores, PyFloat_AS_DOUBLE(current), member, chunk) < 0)
        goto done;
    if ((value = PyFloat_FromDouble(score)) == NULL || PyDict_SetItem(scores, member, value) < 0)
        goto done;
    rc = entries_add(items, chunks, lasts, all_scores, value, member, chunk);
done:
    Py_XDECREF(value);
    Py_XDECREF(all_scores);
    Py_XDECREF(lasts);
    Py_XDECREF(chunks);
    Py_XDECREF(items);
    return rc;
}

/* zset_add(zs, member, score) for Python (the tests set the two ways side by side): ZSet.add's result. */
PyObject *fp_zset_add(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_CheckExact(args[1]) || !PyFloat_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "zset_add(zset, member: bytes, score: float)");
        return NULL;
    }
    PyObject *scores = field_get(&f_scores, args[0]);
    if (scores == NULL)
        return NULL;
    PyObject *result = NULL, *current = PyDict_CheckExact(scores) ? PyDict_GetItemWithError(scores, args[1]) : NULL;
    if (!PyDict_CheckExact(scores))
        PyErr_SetString(PyExc_TypeError, "zset_add: the set's scores are not a dict");
    else if (current == NULL && PyErr_Occurred())
        ;
    else if (current != NULL && PyFloat_CheckExact(current) && PyFloat_AS_DOUBLE(current) == PyFloat_AS_DOUBLE(args[2]))
        result = Py_NewRef(Py_False);
    else {
        Py_XINCREF(current);
        if (zset_move(args[0], scores, args[1], PyFloat_AS_DOUBLE(args[2]), current) == 0)
            result = Py_NewRef(current == NULL ? Py_True : Py_False);
        Py_XDECREF(current);
    }
    Py_DECREF(scores);
    return result;
}

/* ZADD key score member [score member ...], every score read first (none is set if one is refused): the members
 * added, as zsetAdd counts them, or Py_None (borrowed: Python runs it) or NULL on error. */
PyObject *fp_zadd(Runner *self, PyObject *argv, ClientView *v) {
    Py_ssize_t argc = PyList_GET_SIZE(argv), pairs = (argc - 2) / 2;
    if (argc < 4 || argc % 2 != 0)
        return Py_None;
    double stack[8], *scores = pairs <= 8 ? stack : PyMem_Malloc((size_t)pairs * sizeof *scores);
    if (scores == NULL)
        return PyErr_NoMemory();
    PyObject *result = Py_None, *zs = NULL, *members = NULL;
    for (Py_ssize_t p = 0; p < pairs; p++)
        if (!plain_score(PyList_GET_ITEM(argv, 2 + 2 * p), &scores[p]))
            goto done;   /* an option, or a score Python must read */
    zs = fp_container_for_write(v, PyList_GET_ITEM(argv, 1), (PyTypeObject *)self->zset_type);
    if (zs == NULL || zs == Py_None) {
        result = zs;
        zs = NULL;
        goto done;
    }
    if ((members = field_get(&f_scores, zs)) == NULL || !PyDict_CheckExact(members)) {
        result = members == NULL ? NULL : Py_None;   /* (never: ZSet.scores is a dict) */
        goto done;
    }
    Py_ssize_t added = 0;
    for (Py_ssize_t p = 0; p < pairs; p++) {
        PyObject *member = PyList_GET_ITEM(argv, 3 + 2 * p);
        PyObject *current = PyDict_GetItemWithError(members, member);
        if (current == NULL && PyErr_Occurred()) {
            result = NULL;
            goto done;
        }
        if (current != NULL && PyFloat_CheckExact(current) && PyFloat_AS_DOUBLE(current) == scores[p])
            continue;   /* at that score already (0.0 and -0.0 alike, as in zsetAdd) */
        Py_XINCREF(current);   /* (the dict's reference goes when the member moves) */
        int rc = zset_move(zs, members, member, scores[p], current);
        Py_XDECREF(current);
        if (rc < 0) {
            result = NULL;
            goto done;
        }
        added += current == NULL;
    }
    result = fp_integer(added);
done:
    Py_XDECREF(members);
    Py_XDECREF(zs);
    if (scores != stack)
        PyMem_Free(scores);
    return result;
}

/* ZPOPMIN / ZPOPMAX key: [member, score] (the score as Redis 7.0's addReplyDouble writes it, %.17g: a bulk string
 * in RESP2, a double in RESP3), an empty array for no key, Py_None (borrowed) for another type; the emptied key is
 * deleted. */
PyObject *fp_zpop(Runner *self, PyObject *key, int highest, ClientView *v) {
    PyObject *zs = PyDict_GetItemWithError(v->data, key);
    if (zs == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(empty_array_reply);
    if (Py_TYPE(zs) != (PyTypeObject *)self->zset_type)
        return Py_None;
    Py_INCREF(zs);   /* (deleting the key below may drop the dict's reference) */
    PyObject *entry = zset_pop_one(zs, highest), *reply = NULL, *member;
    double popped;
    Py_ssize_t left = entry == NULL ? -1 : PyObject_Length(zs);
    if (left < 0 || (left == 0 && PyDict_DelItem(v->data, key) < 0) || entry_parts(entry, &popped, &member) < 0)
        goto done;
    char text[40];
    int n = snprintf(text, sizeof text, "%.17g", popped);
    char score[64];
    int m = v->resp3 ? snprintf(score, sizeof score, ",%s\r\n", text)
                  : snprintf(score, sizeof score, "$%d\r\n%s\r\n", n, text);
    Py_ssize_t mlen = PyBytes_GET_SIZE(member);
    if ((reply = PyBytes_FromStringAndSize(NULL, 4 + bulk_string_size(mlen) + m)) != NULL) {
        char *p = PyBytes_AS_STRING(reply);
        memcpy(p, "*2\r\n", 4);
        p = bulk_string(p + 4, PyBytes_AS_STRING(member), mlen);
        memcpy(p, score, (size_t)m);
    }
done:
    Py_XDECREF(entry);
    Py_DECREF(zs);
    return reply;
}

/* The key a set's table holds where a member was removed: the one key left in a set after its only member is
 * discarded (Python 3.13 no longer declares _PySet_Dummy). NULL if not found: then no draw is made here. */
static int find_set_dummy(void) {
    PyObject *members = PySet_New(NULL), *member = PyLong_FromLong(1);
    int rc = members == NULL || member == NULL || PySet_Add(members, member) < 0 || PySet_Discard(members, member) < 0
                 ? -1 : 0;
    if (rc == 0) {
        PySetObject *so = (PySetObject *)members;
        for (Py_ssize_t i = 0; i <= so->mask && set_dummy == NULL; i++)
            set_dummy = so->table[i].key;   /* (a static object: the pointer outlives the set) */
    }
    Py_XDECREF(member);
    Py_XDECREF(members);
    return rc;
}

/* This file's interned names, replies and fields, the draw's seed (getrandom; the clock if that fails) and the
 * sets' removed-slot key: 0, or -1 with the exception set. */
int fp_sets_init(void) {
    if (getrandom(&rng_state, sizeof rng_state, GRND_NONBLOCK) != (ssize_t)sizeof rng_state)
        rng_state = (uint64_t)now_ns();
    if (find_set_dummy() < 0 || fields_init(fields, sizeof fields / sizeof fields[0]) < 0)
        return -1;
    if ((s_add = PyUnicode_InternFromString("add")) == NULL || (s_pop = PyUnicode_InternFromString("pop")) == NULL ||
        (s_append = PyUnicode_InternFromString("append")) == NULL ||
        (s_insert = PyUnicode_InternFromString("insert")) == NULL ||
        (s_remove = PyUnicode_InternFromString("remove")) == NULL ||
        (s_split = PyUnicode_InternFromString("_split")) == NULL ||
        (s_chunk = PyUnicode_InternFromString("CHUNK")) == NULL || (one = PyLong_FromLong(1)) == NULL)
        return -1;
    empty_array_reply = PyBytes_FromString("*0\r\n");
    return empty_array_reply == NULL ? -1 : 0;
}
