/* The request parser's inner loop in C: take every complete request out of a hiredis Reader.
 *
 * drain(reader, requests) -> (last, ignored, bad, error), exactly what RequestParser._drain_py returns:
 * each complete request (a non-empty list of bytes) is appended to ``requests``; ``last`` is the last object the
 * reader returned; ``ignored`` counts '*-1' and '*0' (which Redis ignores); ``bad`` is the first object that is not
 * a request (an element that is not a bulk string; the loop stops there); ``error`` is the exception the reader
 * raised (hiredis.ProtocolError: an inline command or garbage follows), returned rather than raised so that the
 * caller keeps the count of what came before it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *s_gets;

static PyObject *drain(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "drain(reader, requests: list)");
        return NULL;
    }
    PyObject *reader = args[0], *requests = args[1];
    PyObject *last = Py_NewRef(Py_None), *bad = Py_NewRef(Py_None), *error = Py_NewRef(Py_None);
    Py_ssize_t ignored = 0;
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
        Py_SETREF(last, request);   /* last holds the reference */
        if (request == Py_None || (PyList_CheckExact(request) && PyList_GET_SIZE(request) == 0)) {
            ignored++;
            continue;
        }
        int ok = PyList_CheckExact(request);
        for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(request); i++)
            ok = PyBytes_CheckExact(PyList_GET_ITEM(request, i));
        if (!ok) {
            Py_SETREF(bad, Py_NewRef(request));
            break;
        }
        if (PyList_Append(requests, request) < 0) {
            Py_DECREF(last);
            Py_DECREF(bad);
            Py_DECREF(error);
            return NULL;
        }
    }
    PyObject *result = Py_BuildValue("(NnNN)", last, ignored, bad, error);
    return result;
}

static PyMethodDef methods[] = {
    {"drain", (PyCFunction)(void (*)(void))drain, METH_FASTCALL,
     "drain(reader, requests) -> (last, ignored, bad, error): every complete request out of a hiredis Reader"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef drain_module = {
    PyModuleDef_HEAD_INIT, "_drain", "The request parser's inner loop (see drain).", -1, methods,
};

PyMODINIT_FUNC PyInit__drain(void) {
    if ((s_gets = PyUnicode_InternFromString("gets")) == NULL)
        return NULL;
    return PyModule_Create(&drain_module);
}
