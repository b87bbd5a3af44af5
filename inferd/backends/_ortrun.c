/* ONNX Runtime batches run on a native thread of their own, off the event loop and without the GIL.
 *
 * A batch that runs on the event loop thread (inline-run-max-us) keeps the loop from reading and answering other
 * requests for the whole model run; a Python worker thread frees the loop but passes the GIL back and forth with it
 * (bench/HISTORY.md: 48 µs of loop CPU per inference). Here an Executor owns one native thread that runs a Session
 * (an OrtSession built through onnxruntime's C API from the same model bytes) on the inputs' own buffers, holding
 * no GIL at any point, and signals its eventfd when the run is done; the loop, woken like for any socket, collects
 * the outputs. One batch at a time per executor: while it runs, the loop reads the next batch's requests.
 *
 * The C API comes from the onnxruntime wheel's own libonnxruntime (``init(path)``): ``OrtGetApiBase()->GetApi``
 * returns the table of function pointers, read here by slot (the table only ever grows at its end, so slots stay
 * put across versions). The wheel ships no C header; the few types used are declared below.
 *
 *   init(library_path)                                  load the library and the API table (once)
 *   Session(model, inputs, outputs, intra_op_threads)   an OrtSession (graph optimizations on, no spinning)
 *   Executor()                                          the thread; .fd becomes readable when a run is done
 *   Executor.submit(session, arrays, element_types, spin_us)
 *                                                       start a run on C-contiguous buffers (kept until collect);
 *                                                       an input given as a list of parts (a batch's requests)
 *                                                       is joined along its first dim by the thread, before the
 *                                                       run; after it the thread waits awake spin_us for the
 *                                                       next one
 *   Executor.collect() -> (outputs, duration_us)        outputs: [(bytearray, shape, element type)], or Error
 *   Executor.terminate()                                stop the run in progress (model-execution-timeout)
 *   Executor.close()                                    end the thread (a run in progress ends first, collectable)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct {
    const void *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
} OrtApiBase;

#define API_VERSION 16   /* onnxruntime 1.16: every slot used here exists since then */

/* Slots of the OrtApi table. */
enum {
    S_GetErrorMessage = 2,
    S_CreateEnv = 3,
    S_CreateSessionFromArray = 8,
    S_Run = 9,
    S_CreateSessionOptions = 10,
    S_SetIntraOpNumThreads = 24,
    S_SetInterOpNumThreads = 25,
    S_CreateRunOptions = 39,
    S_RunOptionsSetRunLogSeverityLevel = 41,
    S_RunOptionsSetTerminate = 46,
    S_CreateTensorWithDataAsOrtValue = 49,
    S_IsTensor = 50,
    S_GetTensorMutableData = 51,
    S_GetTensorElementType = 60,
    S_GetDimensionsCount = 61,
    S_GetDimensions = 62,
    S_GetTensorTypeAndShape = 65,
    S_CreateCpuMemoryInfo = 69,
    S_ReleaseEnv = 92,
    S_ReleaseStatus = 93,
    S_ReleaseMemoryInfo = 94,
    S_ReleaseSession = 95,
    S_ReleaseValue = 96,
    S_ReleaseRunOptions = 97,
    S_ReleaseTensorTypeAndShapeInfo = 99,
    S_ReleaseSessionOptions = 100,
    S_AddSessionConfigEntry = 130,
};

static void *const *api;            /* the OrtApi table */
static OrtEnv *env;
static OrtMemoryInfo *cpu_memory;
static PyObject *Error;             /* _ortrun.Error: a failed run or load, with onnxruntime's message */

#define API(slot, type) ((type)api[slot])

/* onnxruntime's message of a failed call (consumes the status); always returns NULL. */
static PyObject *raise_status(OrtStatus *status) {
    const char *message = API(S_GetErrorMessage, const char *(*)(const OrtStatus *))(status);
    PyErr_SetString(Error, message ? message : "onnxruntime call failed");
    API(S_ReleaseStatus, void (*)(OrtStatus *))(status);
    return NULL;
}

static PyObject *ortrun_init(PyObject *module, PyObject *arg) {
    if (api != NULL)
        Py_RETURN_NONE;
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    void *handle = dlopen(PyBytes_AS_STRING(path), RTLD_NOW | RTLD_LOCAL);
    Py_DECREF(path);
    if (handle == NULL)
        return PyErr_Format(Error, "cannot load onnxruntime: %s", dlerror());
    const OrtApiBase *(*get_base)(void) = (const OrtApiBase *(*)(void))dlsym(handle, "OrtGetApiBase");
    const void *table = get_base ? get_base()->GetApi(API_VERSION) : NULL;
    if (table == NULL)
        return PyErr_Format(Error, "onnxruntime's C API (version %d) is not available", API_VERSION);
    api = (void *const *)table;
    OrtStatus *status = API(S_CreateEnv, OrtStatus *(*)(int, const char *, OrtEnv **))(3, "inferd", &env);
    if (status == NULL)   /* onnxruntime keeps one environment per process: the binding's, if it made one first */
        status = API(S_CreateCpuMemoryInfo, OrtStatus *(*)(int, int, OrtMemoryInfo **))(0, 0, &cpu_memory);
    if (status != NULL) {
        raise_status(status);
        api = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- Session ------------------------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    OrtSession *session;
    Py_ssize_t n_inputs, n_outputs;
    char **names;   /* n_inputs input names, then n_outputs output names */
} SessionObject;

static void free_names(char **names, Py_ssize_t count) {
    if (names == NULL)
        return;
    for (Py_ssize_t i = 0; i < count; i++)
        PyMem_RawFree(names[i]);
    PyMem_RawFree(names);
}

static int copy_names(PyObject *list, char **names, Py_ssize_t offset) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(list, i), &size);
        if (text == NULL)
            return -1;
        char *copy = PyMem_RawMalloc(size + 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, text, size + 1);
        names[offset + i] = copy;
    }
    return 0;
}

static OrtStatus *session_options(int intra_op, OrtSessionOptions **out) {
    OrtStatus *status = API(S_CreateSessionOptions, OrtStatus *(*)(OrtSessionOptions **))(out);
    typedef OrtStatus *(*entry_fn)(OrtSessionOptions *, const char *, const char *);
    if (status == NULL)
        status = API(S_SetIntraOpNumThreads, OrtStatus *(*)(OrtSessionOptions *, int))(*out, intra_op);
    if (status == NULL)
        status = API(S_SetInterOpNumThreads, OrtStatus *(*)(OrtSessionOptions *, int))(*out, 1);
    if (status == NULL)   /* pool threads (intra_op > 1) sleep after a run: the loop needs the CPU */
        status = API(S_AddSessionConfigEntry, entry_fn)(*out, "session.intra_op.allow_spinning", "0");
    return status;
}

static PyObject *session_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"model", "inputs", "outputs", "intra_op_threads", NULL};
    Py_buffer model;
    PyObject *inputs, *outputs;
    int intra_op = 1;
    if (api == NULL)
        return PyErr_Format(Error, "init() first");
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*O!O!|i", keywords, &model, &PyList_Type, &inputs,
                                     &PyList_Type, &outputs, &intra_op))
        return NULL;
    SessionObject *self = (SessionObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto fail;
    self->n_inputs = PyList_GET_SIZE(inputs);
    self->n_outputs = PyList_GET_SIZE(outputs);
    self->names = PyMem_RawCalloc(self->n_inputs + self->n_outputs + 1, sizeof(char *));
    if (self->names == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (copy_names(inputs, self->names, 0) < 0 || copy_names(outputs, self->names, self->n_inputs) < 0)
        goto fail;
    OrtSessionOptions *options = NULL;
    OrtStatus *status;
    Py_BEGIN_ALLOW_THREADS
    status = session_options(intra_op, &options);
    if (status == NULL)
        status = API(S_CreateSessionFromArray, OrtStatus *(*)(const OrtEnv *, const void *, size_t,
                                                             const OrtSessionOptions *, OrtSession **))(
            env, model.buf, (size_t)model.len, options, &self->session);
    if (options != NULL)
        API(S_ReleaseSessionOptions, void (*)(OrtSessionOptions *))(options);
    Py_END_ALLOW_THREADS
    if (status != NULL) {
        raise_status(status);
        goto fail;
    }
    PyBuffer_Release(&model);
    return (PyObject *)self;
fail:
    PyBuffer_Release(&model);
    Py_XDECREF(self);
    return NULL;
}

static void session_dealloc(SessionObject *self) {
    if (self->session != NULL)
        API(S_ReleaseSession, void (*)(OrtSession *))(self->session);
    free_names(self->names, self->n_inputs + self->n_outputs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.backends._ortrun.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An OrtSession built through the C API from a model's bytes.",
    .tp_new = session_new,
    .tp_dealloc = (destructor)session_dealloc,
};

/* ---- Executor ----------------------------------------------------------------------------------------------- */

enum { IDLE, SUBMITTED, DONE };

/* An input given in parts (a batch's requests, each its rows): views[first] .. views[first + parts - 1], copied one
 * after the other into ``data`` (its rows in order) by the thread before the run. */
struct Join {
    char *data;
    Py_ssize_t first, parts;
};

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int fd;                     /* eventfd: written once per finished run */
    int state;                  /* IDLE, SUBMITTED (the thread runs it), DONE (outputs ready) */
    int closing;                /* the thread ends once no run is submitted */
    int started;                /* the thread exists */
    long long spin_ns;          /* how long the thread waits awake for the next run before it sleeps */
    SessionObject *session;     /* the run's: strong references, dropped by collect */
    Py_ssize_t n_views;
    Py_buffer *views;           /* the inputs' buffers (an input given in parts: each part's), held until collect */
    Py_ssize_t n_joins;
    struct Join *joins;         /* the inputs given in parts, which the thread copies into one buffer before the run */
    OrtValue **values;          /* n_inputs inputs, then n_outputs outputs */
    OrtRunOptions *run_options;
    OrtStatus *status;
    long long duration_ns;
} ExecutorObject;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *executor_main(void *arg) {
    ExecutorObject *self = arg;   /* never touches a Python object: the GIL is not needed here */
    typedef OrtStatus *(*run_fn)(OrtSession *, const OrtRunOptions *, const char *const *, const OrtValue *const *,
                                 size_t, const char *const *, size_t, OrtValue **);
    pthread_mutex_lock(&self->lock);
    for (;;) {
        if (self->spin_ns > 0 && self->state != SUBMITTED && !self->closing) {
            /* the next batch usually comes soon after the last one's outputs: wait for it awake a while */
            pthread_mutex_unlock(&self->lock);
            long long until = now_ns() + self->spin_ns;
            while (__atomic_load_n(&self->state, __ATOMIC_ACQUIRE) != SUBMITTED
                   && !__atomic_load_n(&self->closing, __ATOMIC_ACQUIRE) && now_ns() < until)
                __builtin_ia32_pause();
            pthread_mutex_lock(&self->lock);
        }
        while (self->state != SUBMITTED && !self->closing)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->state != SUBMITTED)
            break;
        pthread_mutex_unlock(&self->lock);
        SessionObject *session = self->session;
        for (Py_ssize_t j = 0; j < self->n_joins; j++) {   /* a batch's inputs, joined here rather than on the loop */
            char *into = self->joins[j].data;
            for (Py_ssize_t k = self->joins[j].first; k < self->joins[j].first + self->joins[j].parts; k++) {
                memcpy(into, self->views[k].buf, (size_t)self->views[k].len);
                into += self->views[k].len;
            }
        }
        long long start = now_ns();
        OrtStatus *status = API(S_Run, run_fn)(session->session, self->run_options, (const char *const *)session->names,
                                               (const OrtValue *const *)self->values, (size_t)session->n_inputs,
                                               (const char *const *)session->names + session->n_inputs,
                                               (size_t)session->n_outputs, self->values + session->n_inputs);
        long long duration = now_ns() - start;
        pthread_mutex_lock(&self->lock);
        self->status = status;
        self->duration_ns = duration;
        self->state = DONE;
        uint64_t one = 1;
        while (write(self->fd, &one, sizeof one) < 0 && errno == EINTR) {}
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static PyObject *executor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (api == NULL)
        return PyErr_Format(Error, "init() first");
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

/* Drop what a run held (GIL held, the thread not running it). */
static void release_run(ExecutorObject *self) {
    Py_ssize_t values = 0;
    if (self->session != NULL)
        values = self->session->n_inputs + self->session->n_outputs;
    for (Py_ssize_t i = 0; self->values != NULL && i < values; i++)
        if (self->values[i] != NULL)
            API(S_ReleaseValue, void (*)(OrtValue *))(self->values[i]);
    for (Py_ssize_t i = 0; i < self->n_views; i++)
        PyBuffer_Release(&self->views[i]);
    if (self->run_options != NULL)
        API(S_ReleaseRunOptions, void (*)(OrtRunOptions *))(self->run_options);
    if (self->status != NULL)
        API(S_ReleaseStatus, void (*)(OrtStatus *))(self->status);
    for (Py_ssize_t j = 0; j < self->n_joins; j++)
        PyMem_Free(self->joins[j].data);
    PyMem_Free(self->joins);
    PyMem_Free(self->values);
    PyMem_Free(self->views);
    self->joins = NULL;
    self->n_joins = 0;
    self->values = NULL;
    self->views = NULL;
    self->n_views = 0;
    self->run_options = NULL;
    self->status = NULL;
    Py_CLEAR(self->session);
}

static PyObject *executor_submit(ExecutorObject *self, PyObject *args) {
    SessionObject *session;
    PyObject *arrays, *types;
    int spin_us = 0;
    if (!PyArg_ParseTuple(args, "O!O!O!|i", &SessionType, &session, &PyList_Type, &arrays, &PyList_Type, &types,
                          &spin_us))
        return NULL;
    Py_ssize_t n = session->n_inputs;
    if (PyList_GET_SIZE(arrays) != n || PyList_GET_SIZE(types) != n)
        return PyErr_Format(PyExc_ValueError, "the session takes %zd inputs", n);
    if (self->state != IDLE || self->closing)
        return PyErr_Format(PyExc_RuntimeError, self->closing ? "closed" : "a run is in progress");
    Py_ssize_t buffers = 0, joins = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(arrays, i);
        buffers += PyList_Check(item) ? PyList_GET_SIZE(item) : 1;
        joins += PyList_Check(item);
    }
    self->values = PyMem_Calloc(n + session->n_outputs + 1, sizeof(OrtValue *));
    self->views = PyMem_Calloc(buffers + 1, sizeof(Py_buffer));
    self->joins = PyMem_Calloc(joins + 1, sizeof(struct Join));
    Py_INCREF(session);
    self->session = session;
    if (self->values == NULL || self->views == NULL || self->joins == NULL) {
        release_run(self);
        return PyErr_NoMemory();
    }
    typedef OrtStatus *(*tensor_fn)(const OrtMemoryInfo *, void *, size_t, const int64_t *, size_t, int, OrtValue **);
    for (Py_ssize_t i = 0; i < n; i++) {
        int element = (int)PyLong_AsLong(PyList_GET_ITEM(types, i));
        if (element == -1 && PyErr_Occurred())
            goto fail;
        PyObject *item = PyList_GET_ITEM(arrays, i);
        int joined = PyList_Check(item);
        Py_ssize_t parts = joined ? PyList_GET_SIZE(item) : 1, first = self->n_views;
        if (parts < 1) {
            PyErr_SetString(PyExc_ValueError, "an input in no parts");
            goto fail;
        }
        int64_t local[64];
        Py_ssize_t bytes = 0;
        for (Py_ssize_t k = 0; k < parts; k++) {
            Py_buffer *view = &self->views[first + k];
            if (PyObject_GetBuffer(joined ? PyList_GET_ITEM(item, k) : item, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
                < 0)
                goto fail;
            self->n_views = first + k + 1;
            if (view->ndim > 64 || (joined && view->ndim < 1)) {
                PyErr_SetString(PyExc_ValueError, "too many dimensions, or a part without rows");
                goto fail;
            }
            if (k == 0) {
                for (int d = 0; d < view->ndim; d++)
                    local[d] = (int64_t)view->shape[d];
            } else {   /* the parts of one input: the same element and the same dims but the first */
                Py_buffer *head = &self->views[first];
                int same = view->ndim == head->ndim && view->itemsize == head->itemsize
                           && strcmp(view->format ? view->format : "B", head->format ? head->format : "B") == 0;
                for (int d = 1; same && d < view->ndim; d++)
                    same = view->shape[d] == head->shape[d];
                if (!same) {
                    PyErr_SetString(PyExc_ValueError, "the parts of an input differ in type or dims");
                    goto fail;
                }
                local[0] += (int64_t)view->shape[0];
            }
            bytes += view->len;
        }
        Py_buffer *head = &self->views[first];
        void *data = head->buf;
        if (joined) {
            struct Join *join = &self->joins[self->n_joins];
            join->data = PyMem_Malloc(bytes > 0 ? (size_t)bytes : 1);
            if (join->data == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
            join->first = first;
            join->parts = parts;
            self->n_joins++;
            data = join->data;
        }
        OrtStatus *status = API(S_CreateTensorWithDataAsOrtValue, tensor_fn)(
            cpu_memory, data, (size_t)bytes, local, (size_t)head->ndim, element, &self->values[i]);
        if (status != NULL) {
            raise_status(status);
            goto fail;
        }
    }
    OrtStatus *status = API(S_CreateRunOptions, OrtStatus *(*)(OrtRunOptions **))(&self->run_options);
    if (status == NULL)   /* a failed or stopped run is the client's error, not a log line */
        status = API(S_RunOptionsSetRunLogSeverityLevel, OrtStatus *(*)(OrtRunOptions *, int))(self->run_options, 4);
    if (status != NULL) {
        raise_status(status);
        goto fail;
    }
    pthread_mutex_lock(&self->lock);
    self->spin_ns = spin_us > 0 ? spin_us * 1000LL : 0;
    self->state = SUBMITTED;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
fail:
    release_run(self);
    return NULL;
}

static PyObject *output_tuple(OrtValue *value) {
    int is_tensor = 0;
    OrtStatus *status = API(S_IsTensor, OrtStatus *(*)(const OrtValue *, int *))(value, &is_tensor);
    if (status != NULL)
        return raise_status(status);
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
        return raise_status(status);
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
    pthread_mutex_lock(&self->lock);
    int state = self->state;
    pthread_mutex_unlock(&self->lock);
    if (state != DONE)
        Py_RETURN_NONE;   /* nothing finished (a wake-up already collected) */
    PyObject *result = NULL;
    if (self->status != NULL) {
        OrtStatus *status = self->status;
        self->status = NULL;
        raise_status(status);
    } else {
        Py_ssize_t n = self->session->n_outputs, offset = self->session->n_inputs;
        PyObject *outputs = PyList_New(n);
        for (Py_ssize_t i = 0; outputs != NULL && i < n; i++) {
            PyObject *item = output_tuple(self->values[offset + i]);
            if (item == NULL)
                Py_CLEAR(outputs);
            else
                PyList_SET_ITEM(outputs, i, item);
        }
        if (outputs != NULL)
            result = Py_BuildValue("(NL)", outputs, self->duration_ns / 1000);
    }
    release_run(self);
    self->state = IDLE;
    return result;
}

static PyObject *executor_terminate(ExecutorObject *self, PyObject *unused) {
    pthread_mutex_lock(&self->lock);
    if (self->state == SUBMITTED && self->run_options != NULL)
        API(S_RunOptionsSetTerminate, OrtStatus *(*)(OrtRunOptions *))(self->run_options);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

/* End the thread: a run in progress finishes first (it reads the buffers held for it) and stays collectable. */
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
    release_run(self);
    if (self->fd >= 0)
        close(self->fd);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *executor_fd(ExecutorObject *self, void *unused) { return PyLong_FromLong(self->fd); }

static PyObject *executor_busy(ExecutorObject *self, void *unused) { return PyBool_FromLong(self->state != IDLE); }

static PyMethodDef executor_methods[] = {
    {"submit", (PyCFunction)executor_submit, METH_VARARGS,
     "Start a run: submit(session, arrays, element_types, spin_us=0)."},
    {"collect", (PyCFunction)executor_collect, METH_NOARGS,
     "The finished run's ([(bytearray, shape, element type) or None per output], duration_us), or None."},
    {"terminate", (PyCFunction)executor_terminate, METH_NOARGS, "Stop the run in progress."},
    {"close", (PyCFunction)executor_close, METH_NOARGS, "End the thread once a run in progress is done."},
    {NULL},
};

static PyGetSetDef executor_getset[] = {
    {"fd", (getter)executor_fd, NULL, "The eventfd that becomes readable when a run is done.", NULL},
    {"busy", (getter)executor_busy, NULL, "A run was submitted and not yet collected.", NULL},
    {NULL},
};

static PyTypeObject ExecutorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.backends._ortrun.Executor",
    .tp_basicsize = sizeof(ExecutorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A native thread running one onnxruntime batch at a time, without the GIL.",
    .tp_new = executor_new,
    .tp_dealloc = (destructor)executor_dealloc,
    .tp_methods = executor_methods,
    .tp_getset = executor_getset,
};

static PyMethodDef module_methods[] = {
    {"init", ortrun_init, METH_O, "Load onnxruntime's C API from the library at this path (once)."},
    {NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "inferd.backends._ortrun", NULL, -1, module_methods};

PyMODINIT_FUNC PyInit__ortrun(void) {
    if (PyType_Ready(&SessionType) < 0 || PyType_Ready(&ExecutorType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    Error = PyErr_NewException("inferd.backends._ortrun.Error", PyExc_RuntimeError, NULL);
    if (Error == NULL || PyModule_AddObjectRef(module, "Error", Error) < 0
        || PyModule_AddObjectRef(module, "Session", (PyObject *)&SessionType) < 0
        || PyModule_AddObjectRef(module, "Executor", (PyObject *)&ExecutorType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
