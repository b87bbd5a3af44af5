/* ONNX Runtime batches run on a native thread of their own, off the event loop and without the GIL.
 *
 * A batch that runs on the event loop thread (inline-run-max-us) keeps the loop from reading and answering other
 * requests for the whole model run; a Python worker thread frees the loop but passes the GIL back and forth with it
 * (bench/HISTORY.md: 48 µs of loop CPU per inference). Here an Executor owns one native thread that runs a Session
 * (an OrtSession built through onnxruntime's C API from the same model bytes) on the inputs' own buffers, holding
 * no GIL at any point, and signals its eventfd when the run is done; the loop, woken like for any socket, collects
 * the outputs. One batch at a time per executor, and the next one staged: while a run goes on, the loop submits the
 * next batch's requests, and adds rows to it (extend) until the thread, done with the run before, takes it at once,
 * without waiting for the loop to collect that one.
 *
 * This file holds the module and the Session; the Executor is in _ortrun_executor.c, what they share in _ortrun.h.
 *
 * The C API comes from the onnxruntime wheel's own libonnxruntime (``init(path)``): ``OrtGetApiBase()->GetApi``
 * returns the table of function pointers, read here by slot (the table only ever grows at its end, so slots stay
 * put across versions). The wheel ships no C header; the few types used are declared below.
 *
 *   init(library_path)                                  load the library and the API table (once)
 *   Session(model, inputs, outputs, intra_op_threads)   an OrtSession (graph optimizations on, no spinning)
 *   Executor()                                          the thread; .fd becomes readable when a run is done,
 *                                                       .done tells whether the oldest is
 *   Executor.submit(session, arrays, element_types, spin_us, want) -> id
 *                                                       stage a run on C-contiguous buffers (kept until collect),
 *                                                       run after those before it (two in hand at most) once it
 *                                                       holds want rows or is released; an input
 *                                                       given as a list of parts (a batch's requests) is joined
 *                                                       along its first dim by the thread, before the run; after
 *                                                       a run with none staged the thread waits awake spin_us for
 *                                                       the next one
 *   Executor.extend(id, arrays) -> bool                 add parts to each input of run id while it is staged;
 *                                                       False once the thread has taken it
 *   Executor.release(id)                                let staged run id start without the rows it waits for
 *   Executor.collect() -> (outputs, duration_us)        the oldest run's, once done (else None); outputs:
 *                                                       [(bytearray, shape, element type)], or Error
 *   Executor.terminate(id)                              stop run id, staged or running (model-execution-timeout;
 *                                                       without an id, every run in hand)
 *   Executor.close()                                    end the thread (the runs in hand end first, collectable)
 */
#include "_ortrun.h"

void *const *ort_api;
OrtEnv *ort_env;
OrtMemoryInfo *ort_cpu_memory;
PyObject *ort_error;

PyObject *ort_raise_status(OrtStatus *status) {
    const char *message = API(S_GetErrorMessage, const char *(*)(const OrtStatus *))(status);
    PyErr_SetString(ort_error, message ? message : "onnxruntime call failed");
    API(S_ReleaseStatus, void (*)(OrtStatus *))(status);
    return NULL;
}

static PyObject *ortrun_init(PyObject *module, PyObject *arg) {
    if (ort_api != NULL)
        Py_RETURN_NONE;
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    void *handle = dlopen(PyBytes_AS_STRING(path), RTLD_NOW | RTLD_LOCAL);
    Py_DECREF(path);
    if (handle == NULL)
        return PyErr_Format(ort_error, "cannot load onnxruntime: %s", dlerror());
    const OrtApiBase *(*get_base)(void) = (const OrtApiBase *(*)(void))dlsym(handle, "OrtGetApiBase");
    const void *table = get_base ? get_base()->GetApi(API_VERSION) : NULL;
    if (table == NULL)
        return PyErr_Format(ort_error, "onnxruntime's C API (version %d) is not available", API_VERSION);
    ort_api = (void *const *)table;
    OrtStatus *status = API(S_CreateEnv, OrtStatus *(*)(int, const char *, OrtEnv **))(3, "inferd", &ort_env);
    if (status == NULL)   /* onnxruntime keeps one environment per process: the binding's, if it made one first */
        status = API(S_CreateCpuMemoryInfo, OrtStatus *(*)(int, int, OrtMemoryInfo **))(0, 0, &ort_cpu_memory);
    if (status != NULL) {
        ort_raise_status(status);
        ort_api = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- Session ------------------------------------------------------------------------------------------------ */

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
    if (ort_api == NULL)
        return PyErr_Format(ort_error, "init() first");
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
            ort_env, model.buf, (size_t)model.len, options, &self->session);
    if (options != NULL)
        API(S_ReleaseSessionOptions, void (*)(OrtSessionOptions *))(options);
    Py_END_ALLOW_THREADS
    if (status != NULL) {
        ort_raise_status(status);
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

PyTypeObject ort_session_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inferd.backends._ortrun.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An OrtSession built through the C API from a model's bytes.",
    .tp_new = session_new,
    .tp_dealloc = (destructor)session_dealloc,
};

static PyMethodDef module_methods[] = {
    {"init", ortrun_init, METH_O, "Load onnxruntime's C API from the library at this path (once)."},
    {NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "inferd.backends._ortrun", NULL, -1, module_methods};

PyMODINIT_FUNC PyInit__ortrun(void) {
    if (PyType_Ready(&ort_session_type) < 0 || PyType_Ready(&ort_executor_type) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    ort_error = PyErr_NewException("inferd.backends._ortrun.Error", PyExc_RuntimeError, NULL);
    if (ort_error == NULL || PyModule_AddObjectRef(module, "Error", ort_error) < 0
        || PyModule_AddObjectRef(module, "Session", (PyObject *)&ort_session_type) < 0
        || PyModule_AddObjectRef(module, "Executor", (PyObject *)&ort_executor_type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
