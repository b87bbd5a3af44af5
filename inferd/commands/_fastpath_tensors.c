/* The dispatcher's C fast path (see _fastpath.c), for tensors and DAGs: AI.TENSORSET's VALUES of a FLOAT or DOUBLE
 * tensor, and the shape check of a DAG plan.
 *
 * Python read each value with float() into a list, then numpy made the array of it: 5.6 µs for 30 values and 24 µs
 * for 256. Here each value is read into the tensor's buffer by the function float() itself reads with. A scoring DAG's
 * plan check (DagPlan.matches: itemgetter tuples, a count of ``|>``, each name's first position) took 1.4 µs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>

#include "_fastpath.h"

/* A value as float() reads it, for the plain forms only (digits, sign, point, exponent; at most 64 characters, read
 * whole): 1 with ``*out`` set, else 0. It is read by the function float() reads bytes with (PyOS_string_to_double:
 * correctly rounded, locale-independent, inf past the range of a double). */
static int plain_double(PyObject *value, double *out) {
    if (!PyBytes_CheckExact(value))
        return 0;
    const char *s = PyBytes_AS_STRING(value);   /* NUL-terminated */
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    if (n == 0 || n > 64)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '+' || s[i] == 'e' ||
              s[i] == 'E'))
            return 0;
    char *end;
    double d = PyOS_string_to_double(s, &end, NULL);
    if (d == -1.0 && PyErr_Occurred()) {   /* not a number after all (float() refuses it too) */
        PyErr_Clear();
        return 0;
    }
    if (end != s + n)
        return 0;
    *out = d;
    return 1;
}

/* float_values(argv, start, itemsize): the values argv[start:] as the buffer of a FLOAT (itemsize 4: each double
 * rounded to the nearest float, as numpy casts) or DOUBLE (8) tensor, in native byte order; None when one of them is
 * not plain (Python reads them all, or gives the error) or is finite beyond FLOAT's range (numpy makes it inf). */
PyObject *fp_float_values(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t start, itemsize;
    if (nargs != 3 || !PyList_CheckExact(args[0]) || (start = PyLong_AsSsize_t(args[1])) < 0 ||
        (itemsize = PyLong_AsSsize_t(args[2])) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "float_values(argv: list, start: int, itemsize: int)");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(args[0]) - start;
    if ((itemsize != 4 && itemsize != 8) || count <= 0)
        Py_RETURN_NONE;
    PyObject *data = PyBytes_FromStringAndSize(NULL, count * itemsize);
    if (data == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(data);
    for (Py_ssize_t i = 0; i < count; i++) {
        double d;
        if (!plain_double(PyList_GET_ITEM(args[0], start + i), &d) ||
            (itemsize == 4 && isfinite(d) && fabs(d) > FLT_MAX)) {
            Py_DECREF(data);
            Py_RETURN_NONE;
        }
        if (itemsize == 4)
            ((float *)p)[i] = (float)d;
        else
            ((double *)p)[i] = d;
    }
    return data;
}

/* Whether two arguments are the same bytes (-1: one is not a bytes object). */
static int same_bytes(PyObject *a, PyObject *b) {
    if (!PyBytes_CheckExact(a) || !PyBytes_CheckExact(b))
        return -1;
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return a == b || (n == PyBytes_GET_SIZE(b) && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), n) == 0);
}

/* dag_shape_matches(argv, fixed, words, arrows, names, pattern): DagPlan.matches without the Python: the words at the
 * positions ``fixed`` are ``words``, ``|>`` occurs ``arrows`` times, and the names at the positions ``names`` are
 * equal where ``pattern`` says (each name's first position among them). False also when an argument is not bytes or
 * a position is out of range (the caller then parses the DAG in full, which decides). */
PyObject *fp_dag_shape_matches(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyTuple_CheckExact(args[1]) || !PyTuple_CheckExact(args[2]) ||
        !PyLong_CheckExact(args[3]) || !PyTuple_CheckExact(args[4]) || !PyTuple_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "dag_shape_matches(list, tuple, tuple, int, tuple, tuple)");
        return NULL;
    }
    PyObject *argv = args[0], *fixed = args[1], *words = args[2], *names = args[4], *pattern = args[5];
    Py_ssize_t argc = PyList_GET_SIZE(argv), n_fixed = PyTuple_GET_SIZE(fixed), n_names = PyTuple_GET_SIZE(names);
    Py_ssize_t arrows = PyLong_AsSsize_t(args[3]);
    if (arrows == -1 && PyErr_Occurred())
        return NULL;
    if (PyTuple_GET_SIZE(words) != n_fixed || PyTuple_GET_SIZE(pattern) != n_names) {
        PyErr_SetString(PyExc_ValueError, "dag_shape_matches: fixed and words, names and pattern differ in length");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n_fixed; i++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(fixed, i));
        if (at == -1 && PyErr_Occurred())
            return NULL;
        if (at < 0 || at >= argc || same_bytes(PyList_GET_ITEM(argv, at), PyTuple_GET_ITEM(words, i)) != 1)
            Py_RETURN_FALSE;
    }
    Py_ssize_t seen = 0;
    for (Py_ssize_t i = 0; i < argc; i++) {
        PyObject *word = PyList_GET_ITEM(argv, i);
        if (!PyBytes_CheckExact(word))
            Py_RETURN_FALSE;
        if (PyBytes_GET_SIZE(word) == 2 && PyBytes_AS_STRING(word)[0] == '|' && PyBytes_AS_STRING(word)[1] == '>')
            seen++;
    }
    if (seen != arrows)
        Py_RETURN_FALSE;
    for (Py_ssize_t j = 0; j < n_names; j++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(names, j));
        Py_ssize_t want = PyLong_AsSsize_t(PyTuple_GET_ITEM(pattern, j));
        if ((at == -1 || want == -1) && PyErr_Occurred())
            return NULL;
        if (at < 0 || at >= argc)
            Py_RETURN_FALSE;
        PyObject *name = PyList_GET_ITEM(argv, at);
        Py_ssize_t first = j;   /* the first of the names equal to this one */
        for (Py_ssize_t k = 0; k < j; k++) {
            Py_ssize_t other = PyLong_AsSsize_t(PyTuple_GET_ITEM(names, k));
            if (other == -1 && PyErr_Occurred())
                return NULL;
            if (other >= 0 && other < argc && same_bytes(PyList_GET_ITEM(argv, other), name) == 1) {
                first = k;
                break;
            }
        }
        if (first != want)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}
