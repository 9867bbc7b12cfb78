/* stop: what stopping a running call needs in either runner: the
 * pyrpool.Cancelled exception, and the Python stack a timed-out call was
 * in (for its Timeout answer). See stop.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "stop.h"

PyObject *stop_cancelled;

int stop_init(void)
{
    stop_cancelled = PyErr_NewException("pyrpool.Cancelled", PyExc_BaseException, NULL);
    if (stop_cancelled == NULL) {
        PyErr_Print();
        return -1;
    }
    return 0;
}

void stop_fini(void)
{
    Py_CLEAR(stop_cancelled);
}

/* The Python stack of thread, as text (a new reference), or NULL. Run
 * from a pending call in the thread itself (process mode) or from the
 * main thread for a worker (thread mode). */
PyObject *stop_stack(unsigned long thread)
{
    PyObject *sys, *frames = NULL, *key = NULL, *frame, *tb = NULL, *lines = NULL, *sep = NULL;
    PyObject *text = NULL;

    sys = PyImport_ImportModule("sys");
    if (sys != NULL)
        frames = PyObject_CallMethod(sys, "_current_frames", NULL);
    if (frames != NULL)
        key = PyLong_FromUnsignedLong(thread);
    frame = key != NULL ? PyDict_GetItemWithError(frames, key) : NULL;
    if (frame != NULL)
        tb = PyImport_ImportModule("traceback");
    if (tb != NULL)
        lines = PyObject_CallMethod(tb, "format_stack", "O", frame);
    if (lines != NULL)
        sep = PyUnicode_FromString("");
    if (sep != NULL)
        text = PyUnicode_Join(sep, lines);
    PyErr_Clear();
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(key);
    Py_XDECREF(frames);
    Py_XDECREF(sys);
    return text;
}
