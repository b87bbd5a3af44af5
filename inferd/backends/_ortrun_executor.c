/* The Executor of _ortrun (see _ortrun.c): a native thread running a Session's batches one at a time, without the
 * GIL, the next one staged behind it.
 */
#include "_ortrun.h"

#define RUNS 2   /* runs in hand: the thread's (running, or done and not yet collected) and the next one, staged */

enum { FREE, STAGED, RUNNING, DONE };

/* One input of a run: its parts (a batch's requests, each its rows, or one array), held until collect; several are
 * copied one after the other into ``joined`` (their rows in order) by the thread, before the run. A part's Py_buffer
 * is moved into ``parts`` once taken, and only its buf, len and obj are read after that: what the run needs of its
 * shape is kept here. */
struct Input {
    Py_ssize_t n, cap;
    Py_buffer *parts;
    int element, ndim;
    Py_ssize_t itemsize;
    const char *format;
    int64_t dims[64];           /* the first part's, dims[0] being the rows of all the parts */
    char *joined;
};

struct Run {
    int state;                  /* FREE, STAGED (growing until the thread takes it), RUNNING, DONE (outputs ready) */
    long long id;
    long long want;             /* a staged run is taken once it holds this many rows, or once released */
    int released;
    SessionObject *session;     /* strong reference, dropped by collect */
    struct Input *inputs;       /* session->n_inputs */
    OrtValue **values;          /* n_inputs inputs (made by the thread), then n_outputs outputs */
    OrtRunOptions *run_options;
    OrtStatus *status;
    long long duration_ns;
};

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int fd;                     /* eventfd: written once per finished run */
    int closing;                /* the thread ends once no run is staged */
    int started;                /* the thread exists */
    unsigned events;            /* submits, extends and releases: what the thread's spin watches */
    long long spin_ns;          /* how long the thread waits awake for the next run before it sleeps */
    int head, in_hand;          /* the runs submitted and not yet collected: runs[head], runs[(head + 1) % RUNS].. */
    long long next_id;
    struct Run runs[RUNS];
} ExecutorObject;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The oldest staged run, the one the thread runs next, if it may start: it holds the rows it waits for, it was
 * released, or the thread is closing (lock held). */
static struct Run *next_staged(ExecutorObject *self) {
    for (int k = 0; k < self->in_hand; k++) {
        struct Run *run = &self->runs[(self->head + k) % RUNS];
        if (run->state == STAGED) {
            int ready = run->released || self->closing || run->inputs[0].ndim == 0
                        || run->inputs[0].dims[0] >= run->want;
            return ready ? run : NULL;
        }
    }
    return NULL;
}

/* Something the thread may be waiting for changed: a run staged, grown or released (lock held). */
static void notify(ExecutorObject *self) {
    __atomic_store_n(&self->events, self->events + 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&self->wake);
}

/* The run's inputs as OrtValues, the parts of each joined first (the thread, without the GIL). */
static OrtStatus *prepare(struct Run *run) {
    typedef OrtStatus *(*tensor_fn)(const OrtMemoryInfo *, void *, size_t, const int64_t *, size_t, int, OrtValue **);
    for (Py_ssize_t i = 0; i < run->session->n_inputs; i++) {
        struct Input *input = &run->inputs[i];
        void *data = input->parts[0].buf;
        size_t bytes = (size_t)input->parts[0].len;
        if (input->n > 1) {
            bytes = 0;
            for (Py_ssize_t k = 0; k < input->n; k++)
                bytes += (size_t)input->parts[k].len;
            input->joined = malloc(bytes > 0 ? bytes : 1);
            if (input->joined == NULL)
                return API(S_CreateStatus, OrtStatus *(*)(int, const char *))(1, "out of memory joining a batch");
            char *into = input->joined;
            for (Py_ssize_t k = 0; k < input->n; k++) {
                memcpy(into, input->parts[k].buf, (size_t)input->parts[k].len);
                into += input->parts[k].len;
            }
            data = input->joined;
        }
        OrtStatus *status = API(S_CreateTensorWithDataAsOrtValue, tensor_fn)(
            ort_cpu_memory, data, bytes, input->dims, (size_t)input->ndim, input->element, &run->values[i]);
        if (status != NULL)
            return status;
    }
    return NULL;
}

static void *executor_main(void *arg) {
    ExecutorObject *self = arg;   /* never touches a Python object: the GIL is not needed here */
    typedef OrtStatus *(*run_fn)(OrtSession *, const OrtRunOptions *, const char *const *, const OrtValue *const *,
                                 size_t, const char *const *, size_t, OrtValue **);
    pthread_mutex_lock(&self->lock);
    for (;;) {
        struct Run *run = next_staged(self);
        if (run == NULL && self->spin_ns > 0 && !self->closing) {
            /* the next batch usually comes soon after the last one's outputs: wait for it awake a while */
            unsigned seen = self->events;
            pthread_mutex_unlock(&self->lock);
            long long until = now_ns() + self->spin_ns;
            for (;;) {
                while (__atomic_load_n(&self->events, __ATOMIC_ACQUIRE) == seen
                       && !__atomic_load_n(&self->closing, __ATOMIC_ACQUIRE) && now_ns() < until)
                    __builtin_ia32_pause();
                pthread_mutex_lock(&self->lock);
                run = next_staged(self);
                if (run != NULL || self->closing || now_ns() >= until)
                    break;
                seen = self->events;   /* a change that does not let a run start yet: spin on */
                pthread_mutex_unlock(&self->lock);
            }
        }
        while (run == NULL && !self->closing) {
            pthread_cond_wait(&self->wake, &self->lock);
            run = next_staged(self);
        }
        if (run == NULL)
            break;   /* closing, and nothing staged is left */
        __atomic_store_n(&run->state, RUNNING, __ATOMIC_RELEASE);   /* from here the loop neither grows nor frees it */
        pthread_mutex_unlock(&self->lock);
        SessionObject *session = run->session;
        long long start = now_ns();
        OrtStatus *status = prepare(run);
        if (status == NULL)
            status = API(S_Run, run_fn)(session->session, run->run_options, (const char *const *)session->names,
                                        (const OrtValue *const *)run->values, (size_t)session->n_inputs,
                                        (const char *const *)session->names + session->n_inputs,
                                        (size_t)session->n_outputs, run->values + session->n_inputs);
        long long duration = now_ns() - start;
        pthread_mutex_lock(&self->lock);
        run->status = status;
        run->duration_ns = duration;
        __atomic_store_n(&run->state, DONE, __ATOMIC_RELEASE);
        uint64_t one = 1;
        while (write(self->fd, &one, sizeof one) < 0 && errno == EINTR) {}
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static PyObject *executor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (ort_api == NULL)
        return PyErr_Format(ort_error, "init() first");
    if (!PyArg_ParseTuple(args, ""))
        return NULL;
    ExecutorObject *self = (ExecutorObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->fd < 0) {
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pthread_create(&self->thread, NULL, executor_main, self) != 0) {
        Py_DECREF(self);
        return PyErr_Format(PyExc_RuntimeError, "cannot start the onnxruntime thread");
    }
    self->started = 1;
    return (PyObject *)self;
}

/* Drop what a run held (GIL held, the thread not running it): its slot is FREE again. */
static void release_run(struct Run *run) {
    Py_ssize_t n_inputs = run->session != NULL ? run->session->n_inputs : 0;
    Py_ssize_t values = run->session != NULL ? n_inputs + run->session->n_outputs : 0;
    for (Py_ssize_t i = 0; run->values != NULL && i < values; i++)
        if (run->values[i] != NULL)
            API(S_ReleaseValue, void (*)(OrtValue *))(run->values[i]);
    for (Py_ssize_t i = 0; run->inputs != NULL && i < n_inputs; i++) {
        for (Py_ssize_t k = 0; k < run->inputs[i].n; k++)
            PyBuffer_Release(&run->inputs[i].parts[k]);
        PyMem_Free(run->inputs[i].parts);
        free(run->inputs[i].joined);
    }
    if (run->run_options != NULL)
        API(S_ReleaseRunOptions, void (*)(OrtRunOptions *))(run->run_options);
    if (run->status != NULL)
        API(S_ReleaseStatus, void (*)(OrtStatus *))(run->status);
    PyMem_Free(run->inputs);
    PyMem_Free(run->values);
    Py_CLEAR(run->session);
    memset(run, 0, sizeof *run);   /* FREE */
}

static void release_buffers(Py_buffer *views, Py_ssize_t count) {
    for (Py_ssize_t k = 0; k < count; k++)
        PyBuffer_Release(&views[k]);
    PyMem_Free(views);
}

/* Whether ``view`` may be a part of ``input`` after its first: rows (a first dim), the same element and the same
 * dims but the first. */
static int alike(const struct Input *input, const Py_buffer *view) {
    int same = input->ndim >= 1 && view->ndim == input->ndim && view->itemsize == input->itemsize
               && strcmp(input->format ? input->format : "B", view->format ? view->format : "B") == 0;
    for (int d = 1; same && d < input->ndim; d++)
        same = (int64_t)view->shape[d] == input->dims[d];
    return same;
}

/* The buffers of ``arrays`` (one item per input: an array, or a list of arrays, its parts) in one array, input after
 * input (``counts`` receives each input's count, ``total`` their sum). NULL with an exception set, and nothing held,
 * on failure. */
static Py_buffer *take_buffers(PyObject *arrays, Py_ssize_t n, Py_ssize_t *counts, Py_ssize_t *total) {
    *total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(arrays, i);
        counts[i] = PyList_Check(item) ? PyList_GET_SIZE(item) : 1;
        if (counts[i] < 1) {
            PyErr_SetString(PyExc_ValueError, "an input in no parts");
            return NULL;
        }
        *total += counts[i];
    }
    Py_buffer *views = PyMem_Calloc((size_t)*total + 1, sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t taken = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(arrays, i);
        for (Py_ssize_t k = 0; k < counts[i]; k++, taken++)
            if (PyObject_GetBuffer(PyList_Check(item) ? PyList_GET_ITEM(item, k) : item, &views[taken],
                                   PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
                release_buffers(views, taken);   /* taken in order, input after input */
                return NULL;
            }
    }
    return views;
}

/* Whether ``views`` (``counts[i]`` parts per input, input after input) may be added to ``run``'s inputs; when
 * ``fresh`` (a new run) each input's first part describes it. Sets ValueError when not. */
static int check_parts(struct Run *run, Py_buffer *views, const Py_ssize_t *counts, int fresh) {
    for (Py_ssize_t i = 0, first = 0; i < run->session->n_inputs; first += counts[i], i++) {
        struct Input *input = &run->inputs[i];
        Py_ssize_t k = 0;
        if (fresh) {
            Py_buffer *head = &views[first];
            if (head->ndim > 64) {
                PyErr_SetString(PyExc_ValueError, "too many dimensions");
                return 0;
            }
            input->ndim = head->ndim;
            input->itemsize = head->itemsize;
            input->format = head->format;
            for (int d = 0; d < head->ndim; d++)
                input->dims[d] = (int64_t)head->shape[d];
            k = 1;
        }
        for (; k < counts[i]; k++)
            if (!alike(input, &views[first + k])) {
                PyErr_SetString(PyExc_ValueError, "the parts of an input differ in type or dims");
                return 0;
            }
    }
    return 1;
}

/* Move ``views`` (checked by check_parts) into ``run``'s inputs; 0 with MemoryError and nothing moved on failure. */
static int add_parts(struct Run *run, Py_buffer *views, const Py_ssize_t *counts, int fresh) {
    Py_ssize_t n = run->session->n_inputs;
    for (Py_ssize_t i = 0; i < n; i++) {   /* first room for all, so that a failure moves nothing */
        struct Input *input = &run->inputs[i];
        if (input->n + counts[i] > input->cap) {
            Py_ssize_t cap = (input->n + counts[i]) * 2;
            Py_buffer *parts = PyMem_Realloc(input->parts, (size_t)cap * sizeof(Py_buffer));
            if (parts == NULL) {
                PyErr_NoMemory();
                return 0;
            }
            input->parts = parts;
            input->cap = cap;
        }
    }
    for (Py_ssize_t i = 0, first = 0; i < n; first += counts[i], i++) {
        struct Input *input = &run->inputs[i];
        for (Py_ssize_t k = 0; k < counts[i]; k++) {
            if (!fresh || k > 0)
                input->dims[0] += (int64_t)views[first + k].shape[0];
            input->parts[input->n++] = views[first + k];
        }
    }
    return 1;
}

/* The run of ``id`` among those in hand, or NULL. */
static struct Run *find_run(ExecutorObject *self, long long id) {
    for (int k = 0; k < self->in_hand; k++) {
        struct Run *run = &self->runs[(self->head + k) % RUNS];
        if (run->id == id)
            return run;
    }
    return NULL;
}

static PyObject *executor_submit(ExecutorObject *self, PyObject *args) {
    SessionObject *session;
    PyObject *arrays, *types;
    int spin_us = 0;
    long long want = 0;
    if (!PyArg_ParseTuple(args, "O!O!O!|iL", &ort_session_type, &session, &PyList_Type, &arrays, &PyList_Type, &types,
                          &spin_us, &want))
        return NULL;
    Py_ssize_t n = session->n_inputs;
    if (n < 1)
        return PyErr_Format(PyExc_ValueError, "a session without inputs");
    if (PyList_GET_SIZE(arrays) != n || PyList_GET_SIZE(types) != n)
        return PyErr_Format(PyExc_ValueError, "the session takes %zd inputs", n);
    if (self->in_hand >= RUNS || self->closing)
        return PyErr_Format(PyExc_RuntimeError, self->closing ? "closed" : "%d runs are in hand", RUNS);
    struct Run *run = &self->runs[(self->head + self->in_hand) % RUNS];   /* FREE: only the loop frees or fills */
    run->inputs = PyMem_Calloc((size_t)n + 1, sizeof(struct Input));
    run->values = PyMem_Calloc((size_t)(n + session->n_outputs) + 1, sizeof(OrtValue *));
    Py_ssize_t *counts = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    Py_INCREF(session);
    run->session = session;
    Py_buffer *views = NULL;
    if (run->inputs == NULL || run->values == NULL || counts == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        run->inputs[i].element = (int)PyLong_AsLong(PyList_GET_ITEM(types, i));
        if (run->inputs[i].element == -1 && PyErr_Occurred())
            goto fail;
    }
    Py_ssize_t total;
    views = take_buffers(arrays, n, counts, &total);
    if (views == NULL)
        goto fail;
    if (!check_parts(run, views, counts, 1) || !add_parts(run, views, counts, 1)) {
        release_buffers(views, total);
        goto fail;
    }
    PyMem_Free(views);
    PyMem_Free(counts);
    OrtStatus *status = API(S_CreateRunOptions, OrtStatus *(*)(OrtRunOptions **))(&run->run_options);
    if (status == NULL)   /* a failed or stopped run is the client's error, not a log line */
        status = API(S_RunOptionsSetRunLogSeverityLevel, OrtStatus *(*)(OrtRunOptions *, int))(run->run_options, 4);
    if (status != NULL) {
        ort_raise_status(status);
        release_run(run);
        return NULL;
    }
    pthread_mutex_lock(&self->lock);
    run->id = ++self->next_id;
    run->want = want;
    run->state = STAGED;
    self->in_hand++;
    self->spin_ns = spin_us > 0 ? spin_us * 1000LL : 0;
    notify(self);
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromLongLong(run->id);
fail:
    PyMem_Free(counts);
    release_run(run);
    return NULL;
}

static PyObject *executor_extend(ExecutorObject *self, PyObject *args) {
    long long id;
    PyObject *arrays;
    if (!PyArg_ParseTuple(args, "LO!", &id, &PyList_Type, &arrays))
        return NULL;
    struct Run *run = find_run(self, id);
    if (run == NULL || __atomic_load_n(&run->state, __ATOMIC_ACQUIRE) != STAGED)
        Py_RETURN_FALSE;   /* taken (or collected) already */
    Py_ssize_t n = run->session->n_inputs, total;
    if (PyList_GET_SIZE(arrays) != n)
        return PyErr_Format(PyExc_ValueError, "the session takes %zd inputs", n);
    Py_ssize_t *counts = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    if (counts == NULL)
        return PyErr_NoMemory();
    Py_buffer *views = take_buffers(arrays, n, counts, &total);
    if (views == NULL) {
        PyMem_Free(counts);
        return NULL;
    }
    pthread_mutex_lock(&self->lock);   /* the thread takes a staged run under the lock */
    int added = run->state == STAGED && check_parts(run, views, counts, 0) && add_parts(run, views, counts, 0);
    if (added)
        notify(self);
    pthread_mutex_unlock(&self->lock);
    PyMem_Free(counts);
    if (!added) {
        release_buffers(views, total);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_FALSE;   /* the thread took it already */
    }
    PyMem_Free(views);
    Py_RETURN_TRUE;
}
static PyObject *output_tuple(OrtValue *value) {
    int is_tensor = 0;
    OrtStatus *status = API(S_IsTensor, OrtStatus *(*)(const OrtValue *, int *))(value, &is_tensor);
    if (status != NULL)
        return ort_raise_status(status);
    if (!is_tensor)
        Py_RETURN_NONE;
    OrtTensorTypeAndShapeInfo *info = NULL;
    int element = 0;
    size_t count = 0;
    int64_t dims[64];
    void *data = NULL;
    typedef OrtStatus *(*info_fn)(const OrtValue *, OrtTensorTypeAndShapeInfo **);
    status = API(S_GetTensorTypeAndShape, info_fn)(value, &info);
    if (status == NULL)
        status = API(S_GetTensorElementType, OrtStatus *(*)(const OrtTensorTypeAndShapeInfo *, int *))(info, &element);
    if (status == NULL)
        status = API(S_GetDimensionsCount, OrtStatus *(*)(const OrtTensorTypeAndShapeInfo *, size_t *))(info, &count);
    if (status == NULL && count > 64)
        count = 0, element = -1;
    if (status == NULL)
        status = API(S_GetDimensions, OrtStatus *(*)(const OrtTensorTypeAndShapeInfo *, int64_t *, size_t))(
            info, dims, count);
    if (status == NULL)
        status = API(S_GetTensorMutableData, OrtStatus *(*)(OrtValue *, void **))(value, &data);
    if (info != NULL)
        API(S_ReleaseTensorTypeAndShapeInfo, void (*)(OrtTensorTypeAndShapeInfo *))(info);
    if (status != NULL)
        return ort_raise_status(status);
    static const int sizes[] = {0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8};   /* by element type */
    if (element <= 0 || element >= (int)(sizeof sizes / sizeof sizes[0]) || sizes[element] == 0)
        Py_RETURN_NONE;   /* strings and other non-numeric tensors: the caller's error */
    Py_ssize_t elements = 1;
    PyObject *shape = PyTuple_New((Py_ssize_t)count);
    if (shape == NULL)
        return NULL;
    for (size_t d = 0; d < count; d++) {
        elements *= (Py_ssize_t)dims[d];
        PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong(dims[d]));
    }
    PyObject *bytes = PyByteArray_FromStringAndSize(data, elements * sizes[element]);
    if (bytes == NULL) {
        Py_DECREF(shape);
        return NULL;
    }
    return Py_BuildValue("(NNi)", bytes, shape, element);
}

static PyObject *executor_collect(ExecutorObject *self, PyObject *unused) {
    uint64_t count;
    while (read(self->fd, &count, sizeof count) < 0 && errno == EINTR) {}
    if (self->in_hand == 0)
        Py_RETURN_NONE;   /* a wake-up already collected */
    struct Run *run = &self->runs[self->head];
    pthread_mutex_lock(&self->lock);
    int state = run->state;
    pthread_mutex_unlock(&self->lock);
    if (state != DONE)
        Py_RETURN_NONE;   /* the oldest run is not finished */
    PyObject *result = NULL;
    if (run->status != NULL) {
        OrtStatus *status = run->status;
        run->status = NULL;
        ort_raise_status(status);
    } else {
        Py_ssize_t n = run->session->n_outputs, offset = run->session->n_inputs;
        PyObject *outputs = PyList_New(n);
        for (Py_ssize_t i = 0; outputs != NULL && i < n; i++) {
            PyObject *item = output_tuple(run->values[offset + i]);
            if (item == NULL)
                Py_CLEAR(outputs);
            else
                PyList_SET_ITEM(outputs, i, item);
        }
        if (outputs != NULL)
            result = Py_BuildValue("(NL)", outputs, run->duration_ns / 1000);
    }
    release_run(run);
    pthread_mutex_lock(&self->lock);
    self->head = (self->head + 1) % RUNS;
    self->in_hand--;
    pthread_mutex_unlock(&self->lock);
    return result;
}

static PyObject *executor_release(ExecutorObject *self, PyObject *args) {
    long long id;
    if (!PyArg_ParseTuple(args, "L", &id))
        return NULL;
    pthread_mutex_lock(&self->lock);
    struct Run *run = find_run(self, id);
    if (run != NULL && run->state == STAGED && !run->released) {
        run->released = 1;
        notify(self);
    }
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

static PyObject *executor_terminate(ExecutorObject *self, PyObject *args) {
    long long id = -1;
    if (!PyArg_ParseTuple(args, "|L", &id))
        return NULL;
    pthread_mutex_lock(&self->lock);
    for (int k = 0; k < self->in_hand; k++) {
        struct Run *run = &self->runs[(self->head + k) % RUNS];
        if ((id < 0 || run->id == id) && run->state != DONE && run->run_options != NULL)
            API(S_RunOptionsSetTerminate, OrtStatus *(*)(OrtRunOptions *))(run->run_options);
    }
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

/* End the thread: the runs in hand finish first (they read the buffers held for them) and stay collectable. */
static void executor_stop(ExecutorObject *self) {
    if (!self->started)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    self->closing = 1;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    Py_END_ALLOW_THREADS
    self->started = 0;
}

static PyObject *executor_close(ExecutorObject *self, PyObject *unused) {
    executor_stop(self);
    Py_RETURN_NONE;
}

static void executor_dealloc(ExecutorObject *self) {
    executor_stop(self);
    for (int k = 0; k < RUNS; k++)
        release_run(&self->runs[k]);
    if (self->fd >= 0)
        close(self->fd);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *executor_fd(ExecutorObject *self, void *unused) { return PyLong_FromLong(self->fd); }

static PyObject *executor_busy(ExecutorObject *self, void *unused) { return PyBool_FromLong(self->in_hand > 0); }

static PyObject *executor_done(ExecutorObject *self, void *unused) {
    return PyBool_FromLong(self->in_hand > 0
                           && __atomic_load_n(&self->runs[self->head].state, __ATOMIC_ACQUIRE) == DONE);
}

static PyMethodDef executor_methods[] = {
    {"submit", (PyCFunction)executor_submit, METH_VARARGS,
     "Stage a run, taken by the thread after those before it: submit(session, arrays, element_types, spin_us=0) "
     "-> its id."},
    {"extend", (PyCFunction)executor_extend, METH_VARARGS,
     "Add rows to a staged run: extend(id, arrays) -> False once the thread has taken it."},
    {"collect", (PyCFunction)executor_collect, METH_NOARGS,
     "The oldest run's ([(bytearray, shape, element type) or None per output], duration_us) once it is done, or "
     "None."},
    {"release", (PyCFunction)executor_release, METH_VARARGS,
     "Let a staged run start without the rows it waits for: release(id)."},
    {"terminate", (PyCFunction)executor_terminate, METH_VARARGS,
     "Stop a run, staged or running (by id; without one, every run in hand)."},
    {"close", (PyCFunction)executor_close, METH_NOARGS, "End the thread once the runs in hand are done."},
    {NULL},
};

static PyGetSetDef executor_getset[] = {
    {"fd", (getter)executor_fd, NULL, "The eventfd that becomes readable when a run is done.", NULL},
    {"busy", (getter)executor_busy, NULL, "A run was submitted and not yet collected.", NULL},
    {"done", (getter)executor_done, NULL, "The oldest run in hand is done: collect has its outputs.", NULL},
    {NULL},
};

PyTypeObject ort_executor_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.backends._ortrun.Executor",
    .tp_basicsize = sizeof(ExecutorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A native thread running onnxruntime batches one at a time, without the GIL, the next one staged.",
    .tp_new = executor_new,
    .tp_dealloc = (destructor)executor_dealloc,
    .tp_methods = executor_methods,
    .tp_getset = executor_getset,
};
