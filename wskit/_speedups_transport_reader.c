/*
 * SocketTransport as its own reader (see _speedups_transport.c).
 *
 * asyncio's loop._add_reader(fd, transport._read_ready) keeps, for each
 * transport while it reads, an asyncio.Handle, the bound method it calls
 * and a copy of the context: three objects more for the cyclic garbage
 * collector to walk, again and again while connections stay open. Given a
 * context, the transport registers itself with the loop's selector as the
 * handle: what the loop reads of a reader handle is _cancelled, _run() and
 * cancel() (asyncio/selector_events.py and base_events.py, 3.11 to 3.13),
 * and _run() reads in that context, shared by a server's transports.
 * Without one, and in debug mode, where the loop formats and times its
 * handles, the transport reads through loop._add_reader() as asyncio's does.
 */

#include "_speedups_transport.h"

static PyObject *str_check_closed, *str_loop_selector, *str_get_key, *str_register, *str_events,
    *str_data, *str_cancel, *str_handle, *read_message;
/* selectors.EVENT_READ, as a number and as an int object. */
#define EVENT_READ 1
static PyObject *event_read;

/* loop._add_reader(fd, self._read_ready)'s work, with self as the handle:
 * 0, or -1. */
static int
register_self(Transport *self)
{
    PyObject *checked = PyObject_CallMethodNoArgs(self->loop, str_check_closed);
    if (checked == NULL) {
        return -1;
    }
    Py_DECREF(checked);
    PyObject *selector = PyObject_GetAttr(self->loop, str_loop_selector);
    PyObject *fd = selector == NULL ? NULL : PyLong_FromLong(self->fd);
    PyObject *key = fd == NULL ? NULL : PyObject_CallMethodOneArg(selector, str_get_key, fd);
    PyObject *result = NULL, *reader = NULL;
    if (key == NULL) {
        if (fd != NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            PyObject *data = PyTuple_Pack(2, (PyObject *)self, Py_None);
            result = data == NULL
                ? NULL
                : PyObject_CallMethodObjArgs(selector, str_register, fd, event_read, data, NULL);
            Py_XDECREF(data);
        }
    }
    else {
        PyObject *events = PyObject_GetAttr(key, str_events);
        PyObject *old = events == NULL ? NULL : PyObject_GetAttr(key, str_data);
        long mask = events == NULL ? -1 : PyLong_AsLong(events);
        if (old != NULL && PyTuple_Check(old) && PyTuple_GET_SIZE(old) == 2 && mask != -1) {
            reader = Py_NewRef(PyTuple_GET_ITEM(old, 0));
            PyObject *data = PyTuple_Pack(2, (PyObject *)self, PyTuple_GET_ITEM(old, 1));
            result = data == NULL
                ? NULL
                : PyObject_CallMethod(selector, "modify", "OlO", fd, mask | EVENT_READ, data);
            Py_XDECREF(data);
        }
        else if (old != NULL && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a selector key's data isn't (reader, writer)");
        }
        Py_XDECREF(events);
        Py_XDECREF(old);
        Py_DECREF(key);
    }
    Py_XDECREF(fd);
    Py_XDECREF(selector);
    if (result != NULL && reader != NULL && reader != Py_None) {
        Py_SETREF(result, PyObject_CallMethodNoArgs(reader, str_cancel));
    }
    Py_XDECREF(reader);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    self->reader_cancelled = 0;
    return 0;
}

int
wskit_transport_add_reader(Transport *self)
{
    if (self->loop == NULL) {
        return 0;
    }
    int debug = self->context == NULL ? 1 : wskit_transport_debug(self);
    if (debug < 0) {
        return -1;
    }
    return debug ? wskit_transport_loop_fd(self, wskit_tn.add_reader, wskit_tn.read_ready)
                 : register_self(self);
}

/* The loop's call of its reader: self._read_ready() in the context,
 * failures reported as asyncio.Handle._run() reports them. */
PyObject *
wskit_transport_run(Transport *self, PyObject *Py_UNUSED(unused))
{
    PyObject *context = Py_NewRef(self->context == NULL ? Py_None : self->context);
    if (context != Py_None && PyContext_Enter(context) < 0) {
        Py_DECREF(context);
        return NULL;
    }
    PyObject *result = wskit_transport_read_ready(self, NULL);
    if (context != Py_None && PyContext_Exit(context) < 0) {
        Py_CLEAR(result);
    }
    Py_DECREF(context);
    if (result != NULL) {
        return result;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) || self->loop == NULL) {
        return NULL;
    }
    PyObject *exc = wskit_take_exception();
    PyObject *report = Py_BuildValue("{O:O,O:O,O:O}", wskit_tn.message, read_message,
                                     wskit_tn.exception, exc, str_handle, (PyObject *)self);
    Py_DECREF(exc);
    PyObject *called = report == NULL
        ? NULL
        : wskit_transport_call_loop(self, wskit_tn.call_exception_handler, report, NULL);
    Py_XDECREF(report);
    return called;
}

/* As a handle's _callback, which the loop reads to name a slow callback
 * in debug mode (turned on after the transport registered itself). */
PyObject *
wskit_transport_reader_callback(Transport *self, void *Py_UNUSED(closure))
{
    return PyObject_GetAttr((PyObject *)self, wskit_tn.read_ready);
}

PyObject *
wskit_transport_cancel(Transport *self, PyObject *Py_UNUSED(unused))
{
    self->reader_cancelled = 1;
    Py_RETURN_NONE;
}

int
wskit_transport_reader_init(void)
{
    const InternedName names[] = {
        {&str_check_closed, "_check_closed"}, {&str_loop_selector, "_selector"},
        {&str_get_key, "get_key"}, {&str_register, "register"},
        {&str_events, "events"}, {&str_data, "data"}, {&str_cancel, "cancel"},
        {&str_handle, "handle"},
        {&read_message, "Exception in callback SocketTransport._read_ready()"},
    };
    event_read = PyLong_FromLong(EVENT_READ);
    return event_read == NULL ? -1 : wskit_intern_names(names, sizeof(names) / sizeof(names[0]));
}
