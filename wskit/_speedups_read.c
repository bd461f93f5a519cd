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
 * Python frame. A read into a long payload's window is offered to the
 * core's receive_payload_end() (its C body, rule included:
 * wskit_receive_payload_end), which takes the end of a binary message to
 * the queue. Anything else goes to the connection's
 * _receive_rest(nbytes, taken), the general path, in Python.
 */

#include "_speedups.h"

static PyObject *str_window, *str_receive_rest, *str_wait_for_payload, *str_payload_started;

/* wskit.asyncio.connection's READ_BUFFER_SIZE and WHOLE_PAYLOAD_MISSING, on
 * first use (that module imports this one): 0, or -1 with an exception set. */
static Py_ssize_t read_buffer_size = -1, whole_payload_missing = -1;

static int
import_connection_sizes(void)
{
    if (whole_payload_missing >= 0) {
        return 0;
    }
    PyObject *module = PyImport_ImportModule("wskit.asyncio.connection");
    if (module == NULL) {
        return -1;
    }
    Py_ssize_t *sizes[] = {&read_buffer_size, &whole_payload_missing};
    const char *names[] = {"READ_BUFFER_SIZE", "WHOLE_PAYLOAD_MISSING"};
    int status = 0;
    for (size_t i = 0; status == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *size = PyObject_GetAttrString(module, names[i]);
        status = size == NULL ? -1 : wskit_get_limit(size, sizes[i]);
        Py_XDECREF(size);
    }
    Py_DECREF(module);
    if (status < 0) {
        whole_payload_missing = -1;
    }
    return status;
}

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

/* Resume the reader waiting for the frames just queued, as the assembler's
 * wake(): 0, or -1 with an exception set. */
static int
wake_reader(PyObject *assembler)
{
    PyObject *waiter = wskit_field_get(assembler, &wskit_fields.assembler.waiter);
    if (waiter == NULL) {
        return -1;
    }
    int status = 0;
    if (waiter != Py_None) {
        PyObject *woken = NULL;
        if (wskit_field_set(assembler, &wskit_fields.assembler.waiter, Py_None) == 0) {
            woken = wskit_waiter_wake(waiter);
        }
        status = woken == NULL ? -1 : 0;
        Py_XDECREF(woken);
    }
    Py_DECREF(waiter);
    return status;
}

/* Whether obj's attribute is the int 1: 1, 0, or -1 with an exception set. */
static int
field_is_one(PyObject *obj, Field *field)
{
    PyObject *value = wskit_field_get(obj, field);
    if (value == NULL) {
        return -1;
    }
    int one = PyLong_CheckExact(value) && PyLong_AsLong(value) == 1;
    Py_DECREF(value);
    return one;
}

/* Connection._payload_started(nbytes) where it has nothing to do but wake
 * the reader: nothing to read now (a read that didn't fill the buffer, or
 * no socket of asyncio's own to read the rest from), no read low-water mark
 * to set. 1 done, 0 for the Python method, -1 with an exception set. */
static int
payload_started(PyObject *self, PyObject *assembler, PyObject *payload, Py_ssize_t nbytes)
{
    if (import_connection_sizes() < 0) {
        return -1;
    }
    int simple = field_is_one(self, &wskit_fields.connection.read_low_water);
    if (simple > 0) {
        Py_ssize_t size = wskit_payload_missing(payload);
        if (size == -1 && PyErr_Occurred()) {
            return -1;
        }
        simple = size < whole_payload_missing;
    }
    if (simple > 0 && nbytes == read_buffer_size) {
        simple = wskit_field_is_true(self, &wskit_fields.connection.payload_socket_sought);
        if (simple > 0) {
            PyObject *fd = wskit_field_get(self, &wskit_fields.connection.socket_fd);
            simple = fd == NULL ? -1 : fd == Py_None;
            Py_XDECREF(fd);
        }
    }
    if (simple <= 0) {
        return simple;
    }
    /* The assembler's wake(): frames queued before the payload, if any. */
    PyObject *queue = wskit_field_get(assembler, &wskit_fields.assembler.queue);
    PyObject *frames =
        queue == NULL ? NULL : wskit_field_get(queue, &wskit_fields.queue.frames);
    Py_XDECREF(queue);
    int queued = frames == NULL ? -1 : PyObject_IsTrue(frames);
    Py_XDECREF(frames);
    if (queued == 0) {
        queued = wskit_field_is_true(assembler, &wskit_fields.assembler.closed);
    }
    if (queued == 0) {
        queued = wskit_field_is_true(assembler, &wskit_fields.assembler.failure_queued);
    }
    if (queued > 0) {
        queued = wake_reader(assembler);
    }
    return queued < 0 ? -1 : 1;
}

/* Offer the bytes read to protocol.receive_messages(); when it takes them
 * all, resume the reader, or hand over to _payload_started(nbytes) if they end
 * with the start of a long payload. Return how many it took, -1 on an
 * error. */
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
        /* Ending with the start of a long payload, for _payload_started(). */
        PyObject *payload = wskit_field_get(protocol, &wskit_fields.core.incoming_payload);
        if (payload == NULL) {
            taken = -1;
        }
        else if (payload != Py_None) {
            int done = payload_started(self, assembler, payload, nbytes);
            if (done == 0) {
                PyObject *size = PyLong_FromSsize_t(nbytes);
                PyObject *result = size == NULL
                    ? NULL
                    : PyObject_CallMethodOneArg(self, str_payload_started, size);
                Py_XDECREF(size);
                done = result == NULL ? -1 : 1;
                Py_XDECREF(result);
            }
            taken = done < 0 ? -1 : taken;
        }
        else if (wake_reader(assembler) < 0) {
            taken = -1;
        }
        Py_XDECREF(payload);
    }
    Py_DECREF(assembler);
    return taken;
}

/* Offer the bytes read into the long payload's window to
 * protocol.receive_payload_end(); when they end a message it takes, set the
 * read low-water mark back through _wait_for_payload() if it was raised,
 * then resume the reader (which may send at once: the mark must not hold
 * back the next read). 1 if taken, 0 if not (the general path receives
 * them), -1 with an exception set. */
static int
receive_payload_end(PyObject *self, PyObject *protocol, PyObject *nbytes)
{
    PyObject *assembler = wskit_field_get(self, &wskit_fields.connection.recv_messages);
    if (assembler == NULL) {
        return -1;
    }
    PyObject *queue = wskit_field_get(assembler, &wskit_fields.assembler.queue);
    int taken = queue == NULL ? -1 : wskit_receive_payload_end(protocol, nbytes, queue);
    Py_XDECREF(queue);
    if (taken > 0) {
        int lowest = field_is_one(self, &wskit_fields.connection.read_low_water);
        if (lowest < 0) {
            taken = -1;
        }
        else if (!lowest) {
            PyObject *result = PyObject_CallMethodNoArgs(self, str_wait_for_payload);
            taken = result == NULL ? -1 : 1;
            Py_XDECREF(result);
        }
    }
    if (taken > 0 && wake_reader(assembler) < 0) {
        taken = -1;
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
    /* When writing is paused, the general path may have a burst to write
     * first (see _send_answers). */
    int paused = wskit_field_is_true(self, &wskit_fields.connection.writing_paused);
    int done = 0;
    if (paused == 0) {
        if (ready) {
            taken = receive_whole_messages(self, protocol, nbytes);
            done = taken == nbytes && taken > 0;
        }
        else {  /* read into the payload's window */
            done = receive_payload_end(self, protocol, arg);
        }
    }
    Py_DECREF(protocol);
    if (paused < 0 || taken < 0 || done < 0) {
        return NULL;
    }
    if (done) {
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
"(its Assembler), writing_paused, sent_since_read, read_low_water,\n"
"_wait_for_payload(), _payload_started(nbytes) (after a read that ends\n"
"with the start of a long payload) and _receive_rest(nbytes, taken), the\n"
"general path for what the core's receive_messages() and\n"
"receive_payload_end() leave of a read.");

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
        {&str_wait_for_payload, "_wait_for_payload"},
        {&str_payload_started, "_payload_started"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    if (PyType_Ready(&ReadPathType) < 0) {
        return -1;
    }
    return PyModule_AddType(module, &ReadPathType);
}
