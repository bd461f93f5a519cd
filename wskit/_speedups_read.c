/*
 * wskit._speedups: ReadPath, the twin of wskit._purepython_asyncio's: the
 * base of wskit.asyncio's Connection that receives what the transport reads,
 * get_buffer() and buffer_updated(), which the event loop calls on every
 * read.
 *
 * The common read on an open connection holds whole messages and nothing
 * else: buffer_updated() offers it to the core's receive_messages() (its C
 * body, rule included: wskit_receive_messages), which takes it from the
 * read buffer to the queue, and resumes the waiting reader, without a
 * Python frame. Anything else goes to the connection's
 * _receive_rest(nbytes, taken), the general path, in Python.
 */

#include "_speedups.h"

static PyObject *str_window, *str_receive_rest;

/* protocol.incoming_payload: a new reference, or NULL with an exception set. */
static PyObject *
incoming_payload(PyObject *self, PyObject **protocol)
{
    *protocol = wskit_field_get(self, &wskit_fields.connection.protocol);
    if (*protocol == NULL) {
        return NULL;
    }
    PyObject *payload = wskit_field_get(*protocol, &wskit_fields.core.incoming_payload);
    if (payload == NULL) {
        Py_CLEAR(*protocol);
    }
    return payload;
}

static PyObject *
ReadPath_get_buffer(PyObject *self, PyObject *Py_UNUSED(sizehint))
{
    PyObject *protocol;
    PyObject *payload = incoming_payload(self, &protocol);
    if (payload == NULL) {
        return NULL;
    }
    Py_DECREF(protocol);
    if (payload == Py_None) {
        Py_DECREF(payload);
        return wskit_field_get(self, &wskit_fields.connection.read_buffer);
    }
    /* The rest of a long frame goes straight into its payload. */
    PyObject *window = PyObject_CallMethodNoArgs(payload, str_window);
    Py_DECREF(payload);
    return window;
}

/* Offer the bytes read to protocol.receive_messages(); when it takes them
 * all, resume the reader. Return how many it took, -1 on an error. */
static Py_ssize_t
receive_whole_messages(PyObject *self, PyObject *protocol, Py_ssize_t nbytes)
{
    PyObject *assembler = wskit_field_get(self, &wskit_fields.connection.recv_messages);
    if (assembler == NULL) {
        return -1;
    }
    PyObject *queue = wskit_field_get(assembler, &wskit_fields.assembler.queue);
    PyObject *buffer =
        queue == NULL ? NULL : wskit_field_get(self, &wskit_fields.connection.read_buffer);
    Py_ssize_t taken =
        buffer == NULL ? -1 : wskit_receive_messages(protocol, buffer, nbytes, queue);
    Py_XDECREF(buffer);
    Py_XDECREF(queue);
    if (taken == nbytes && taken > 0) {
        /* Frames are queued: wake the reader, as the assembler's wake(). */
        PyObject *waiter = wskit_field_get(assembler, &wskit_fields.assembler.waiter);
        if (waiter == NULL) {
            taken = -1;
        }
        else if (waiter != Py_None) {
            PyObject *woken = NULL;
            if (wskit_field_set(assembler, &wskit_fields.assembler.waiter, Py_None) == 0) {
                woken = wskit_waiter_wake(waiter);
            }
            taken = woken == NULL ? -1 : taken;
            Py_XDECREF(woken);
        }
        Py_XDECREF(waiter);
    }
    Py_DECREF(assembler);
    return taken;
}

static PyObject *
ReadPath_buffer_updated(PyObject *self, PyObject *arg)
{
    Py_ssize_t nbytes = PyLong_AsSsize_t(arg);
    if (nbytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *protocol;
    PyObject *payload = incoming_payload(self, &protocol);
    if (payload == NULL) {
        return NULL;
    }
    Py_ssize_t taken = 0;
    int ready = payload == Py_None;
    Py_DECREF(payload);
    if (wskit_field_set(self, &wskit_fields.connection.sent_since_read, Py_False) < 0) {
        Py_DECREF(protocol);
        return NULL;
    }
    if (ready) {
        /* When writing is paused, the general path may have a burst to
         * write first (see _send_answers). */
        int paused = wskit_field_is_true(self, &wskit_fields.connection.writing_paused);
        if (paused == 0) {
            taken = receive_whole_messages(self, protocol, nbytes);
        }
        if (paused < 0 || taken < 0) {
            Py_DECREF(protocol);
            return NULL;
        }
    }
    Py_DECREF(protocol);
    if (ready && taken == nbytes && taken > 0) {
        Py_RETURN_NONE;
    }
    PyObject *size = PyLong_FromSsize_t(taken);
    if (size == NULL) {
        return NULL;
    }
    PyObject *call_args[3] = {self, arg, size};
    PyObject *result = PyObject_VectorcallMethod(str_receive_rest, call_args, 3, NULL);
    Py_DECREF(size);
    return result;
}

static PyMethodDef ReadPath_methods[] = {
    {"get_buffer", (PyCFunction)ReadPath_get_buffer, METH_O,
     "get_buffer(sizehint)\n--\n\n"
     "The buffer to read into: the read buffer, or the long payload's window."},
    {"buffer_updated", (PyCFunction)ReadPath_buffer_updated, METH_O,
     "buffer_updated(nbytes)\n--\n\n"
     "Receive the nbytes read into the buffer: whole messages to the queue,\n"
     "the rest through _receive_rest(nbytes, taken)."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(ReadPath_doc,
"ReadPath()\n"
"--\n"
"\n"
"The base of an asyncio connection that receives what its transport reads.\n"
"\n"
"The connection provides protocol (the core), read_buffer, recv_messages\n"
"(its Assembler), writing_paused, sent_since_read and _receive_rest(nbytes,\n"
"taken), the general path for what the core's receive_messages() leaves of\n"
"a read.");

static PyTypeObject ReadPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.ReadPath",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = ReadPath_doc,
    .tp_new = PyType_GenericNew,
    .tp_methods = ReadPath_methods,
};

int
wskit_read_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_window, "window"},
        {&str_receive_rest, "_receive_rest"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    if (PyType_Ready(&ReadPathType) < 0) {
        return -1;
    }
    return PyModule_AddType(module, &ReadPathType);
}
