/* What the dispatcher's C fast path shares between its files: _fastpath.c (the Runner: the gates, the bookkeeping,
 * strings, hashes, lists), _fastpath_sets.c (sets and sorted sets: SPOP's draw, ZADD, ZPOPMIN/ZPOPMAX) and
 * _fastpath_tensors.c (AI.TENSORSET's VALUES). Their
 * shared functions carry an fp_ prefix: the extension's symbols are not hidden, so no generic name may stand alone.
 */
#ifndef INFERD_FASTPATH_H
#define INFERD_FASTPATH_H

#include <time.h>

#include "_slots.h"

/* Monotonic nanoseconds: a command's run time, the draw's seed where getrandom fails. */
static inline long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

enum { K_NONE, K_GET, K_SET, K_HGET, K_HSET, K_LPUSH, K_RPUSH, K_MGET, K_INCR, K_DECR, K_INCRBY, K_DECRBY, K_MSET,
       K_ZADD, K_PING, K_LPOP, K_RPOP, K_SADD, K_SPOP, K_ZPOPMIN, K_ZPOPMAX,
       K_COUNT };

typedef struct {
    PyObject_HEAD
    PyObject *kinds;          /* dict: command name (bytes, as typed) -> kind (int) */
    PyObject *cmds[K_COUNT];  /* the Command of each kind, or NULL */
    PyObject *server_stats;   /* ServerStats: keyspace_hits / keyspace_misses / dirty */
    PyObject *dispatcher;     /* slowlog_threshold, _slowlog() */
    PyObject *reply_on;       /* REPLY_ON: client.reply_mode must be this object */
    PyObject *deque_type;     /* collections.deque: the list type */
    PyObject *zset_type;      /* inferd.store.zset.ZSet: the sorted-set type (its ``scores`` dict, its ``add``) */
} Runner;

/* The state one run reads from the client once: whether the fast path may serve it at all, and its database. */
typedef struct {
    PyObject *null_reply;                 /* borrowed: the null of the client's protocol */
    PyObject *db, *data, *expires, *watched, *blocked, *journal;   /* new references */
    int resp3;                            /* the client speaks RESP3 */
    int journal_failed;                   /* the journal's last write failed: writes go to the Python path */
} ClientView;

/* _fastpath.c */
PyObject *fp_integer(Py_ssize_t n);
PyObject *fp_container_for_write(ClientView *v, PyObject *key, PyTypeObject *type);

/* _fastpath_tensors.c */
PyObject *fp_float_values(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *fp_dag_shape_matches(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* _fastpath_sets.c */
int fp_sets_init(void);
PyObject *fp_draw_member(PySetObject *so);
PyObject *fp_random_member(PyObject *module, PyObject *arg);
PyObject *fp_zset_add(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *fp_zset_pop(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *fp_zadd(Runner *self, PyObject *argv, ClientView *v);
PyObject *fp_zpop(Runner *self, PyObject *key, int highest, ClientView *v);

#endif
