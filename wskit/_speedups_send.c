/*
 * wskit._speedups: write_message(), what `await websocket.send(message)`
 * does for most messages in wskit.asyncio, in one call: the checks of the
 * core's Protocol.send_message(), the frame (send_message's), and the
 * common branches of the connection's _write_frame() (the frame written,
 * a long one as a view, or joined to a burst). Whatever else comes up goes
 * to the Python code that handles it: the whole message to the general
 * path before anything is done (None), a compressed message to
 * Protocol.send_message(), a frame that ends a burst or a long one after
 * a burst to Connection._write_frame(), a
 * server's long payload and its header to Connection._write_long_payload().
 *
 * The connection's and the core's attributes are mostly slots, read and
 * written in place (Field, _speedups_slots.c).
 */

#include "_speedups.h"

static PyObject *str_get_write_buffer_size, *str_write, *str_call_soon, *str_write_burst,
    *str_write_frame, *str_send_message, *str_write_long_payload;

/* obj's attribute as a Py_ssize_t: -1 with an exception set, or -2 if it
 * isn't an int of that range (Python code handles that). */
static Py_ssize_t
field_size(PyObject *obj, Field *field)
{
    PyObject *value = wskit_field_get(obj, field);
    if (value == NULL) {
        return -1;
    }
    Py_ssize_t size = PyLong_CheckExact(value) ? PyLong_AsSsize_t(value) : -2;
    Py_DECREF(value);
    if (size < 0) {
        PyErr_Clear();  /* too big for a Py_ssize_t, or negative */
        size = -2;
    }
    return size;
}

/* Whether the core is ready for send_message's frame, as
 * Protocol.send_message() checks: 1 (plain), 2 (with extensions, for
 * Protocol.send_message()), 0 (the general path), -1 with an exception set.
 * Sets *mask for a plain frame. */
static int
core_ready(PyObject *protocol, int *mask)
{
    PyObject *state = wskit_field_get(protocol, &wskit_fields.core.state);
    if (state == NULL) {
        return -1;
    }
    int open = state == wskit_state_open;
    Py_DECREF(state);
    if (!open) {
        return 0;
    }
    Field *const flags[] = {&wskit_fields.core.expect_continuation_frame,
                            &wskit_fields.core.debug, &wskit_fields.core.eof_sent,
                            &wskit_fields.core.writes};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        int truth = wskit_field_is_true(protocol, flags[i]);
        if (truth != 0) {
            return truth < 0 ? -1 : 0;
        }
    }
    int extensions = wskit_field_is_true(protocol, &wskit_fields.core.extensions);
    if (extensions != 0) {
        return extensions < 0 ? -1 : 2;
    }
    PyObject *side = wskit_field_get(protocol, &wskit_fields.core.side);
    if (side == NULL) {
        return -1;
    }
    *mask = side != wskit_side_server;  /* a client masks */
    Py_DECREF(side);
    return 1;
}

/* The frame of the message, counted, as Protocol.send_message() returns it:
 * a new reference, None for the general path, or NULL with an exception. */
static PyObject *
frame_to_send(PyObject *protocol, PyObject *const *args)
{
    int mask = 0;
    int ready = core_ready(protocol, &mask);
    if (ready <= 0) {
        return ready < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (ready == 2) {  /* permessage-deflate, or anything Protocol.send_message() declines */
        PyObject *call_args[4] = {protocol, args[1], args[2], args[3]};
        return PyObject_VectorcallMethod(str_send_message, call_args, 4, NULL);
    }
    return wskit_message_frame_to_send(protocol, args[1], args[2], mask,
                                       mask ? PY_SSIZE_T_MAX : wskit_long_payload, Py_None);
}

/* Write a long frame to the transport as a view, as _write_frame() does
 * when no burst waits (asyncio's transport copies what the socket doesn't
 * take at once, and from a view it copies no more): 0, or -1 with an
 * exception set. */
static int
write_long_frame(PyObject *connection, PyObject *frame)
{
    PyObject *transport = wskit_field_get(connection, &wskit_fields.connection.transport);
    if (transport == NULL) {
        return -1;
    }
    PyObject *view = PyMemoryView_FromObject(frame);
    PyObject *result = NULL;
    if (view != NULL) {
        result = PyObject_CallMethodOneArg(transport, str_write, view);
        Py_DECREF(view);
    }
    Py_DECREF(transport);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return wskit_field_set(connection, &wskit_fields.connection.sent_since_read, Py_True);
}

/* Write the frame as Connection._write_frame() does: 0, or -1 with an
 * exception set. Its common branches are here; the other (a frame that
 * ends a burst, or a long one after a burst) is its own. */
static int
write_frame(PyObject *connection, PyObject *frame)
{
    PyObject *result = NULL;
    if (!PyBytes_CheckExact(frame)) {
        goto general;
    }
    Py_ssize_t length = PyBytes_GET_SIZE(frame);
    Py_ssize_t limit = field_size(connection, &wskit_fields.connection.burst_limit);
    if (limit == -1) {
        return -1;
    }
    if (limit < 0) {
        goto general;
    }
    PyObject *burst = wskit_field_get(connection, &wskit_fields.connection.burst);
    if (burst == NULL) {
        return -1;
    }
    if (length >= limit) {
        /* A long frame with no burst before it (a client's long message):
         * written as a view, as _write_frame() writes it. */
        Py_DECREF(burst);
        if (burst != Py_None) {
            goto general;
        }
        return write_long_frame(connection, frame);
    }
    if (burst != Py_None) {
        /* Joins the burst, unless it fills it. */
        Py_ssize_t size = PyList_CheckExact(burst)
            ? field_size(connection, &wskit_fields.connection.burst_size)
            : limit;
        if (size < 0 || size >= limit - length) {
            Py_DECREF(burst);
            if (size == -1) {
                return -1;
            }
            goto general;
        }
        int status = PyList_Append(burst, frame);
        Py_DECREF(burst);
        if (status < 0) {
            return -1;
        }
        PyObject *total = PyLong_FromSsize_t(size + length);
        if (total == NULL) {
            return -1;
        }
        status = wskit_field_set(connection, &wskit_fields.connection.burst_size, total);
        Py_DECREF(total);
        return status;
    }
    Py_DECREF(burst);
    int sent = wskit_field_is_true(connection, &wskit_fields.connection.sent_since_read);
    if (sent < 0) {
        return -1;
    }
    PyObject *transport = wskit_field_get(connection, &wskit_fields.connection.transport);
    if (transport == NULL) {
        return -1;
    }
    if (sent) {
        /* Starts a burst, if the transport's buffer is empty. */
        PyObject *buffered = PyObject_CallMethodNoArgs(transport, str_get_write_buffer_size);
        int waiting = buffered == NULL ? -1 : PyObject_IsTrue(buffered);
        Py_XDECREF(buffered);
        if (waiting < 0) {
            Py_DECREF(transport);
            return -1;
        }
        if (!waiting) {
            Py_DECREF(transport);
            return -2;  /* the caller starts the burst */
        }
    }
    result = PyObject_CallMethodOneArg(transport, str_write, frame);
    Py_DECREF(transport);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return wskit_field_set(connection, &wskit_fields.connection.sent_since_read, Py_True);
general:
    result = PyObject_CallMethodOneArg(connection, str_write_frame, frame);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* Start a burst with the frame, written on the loop's next iteration by
 * Connection._write_burst(): 0, or -1 with an exception set. */
static int
start_burst(PyObject *connection, PyObject *frame)
{
    PyObject *burst = PyList_New(1);
    if (burst == NULL) {
        return -1;
    }
    PyList_SET_ITEM(burst, 0, Py_NewRef(frame));
    int status = wskit_field_set(connection, &wskit_fields.connection.burst, burst);
    Py_DECREF(burst);
    if (status < 0) {
        return -1;
    }
    PyObject *size = PyLong_FromSsize_t(PyBytes_GET_SIZE(frame));
    if (size == NULL) {
        return -1;
    }
    status = wskit_field_set(connection, &wskit_fields.connection.burst_size, size);
    Py_DECREF(size);
    if (status < 0) {
        return -1;
    }
    PyObject *loop = wskit_field_get(connection, &wskit_fields.connection.loop);
    if (loop == NULL) {
        return -1;
    }
    PyObject *callback = PyObject_GetAttr(connection, str_write_burst);
    PyObject *result = NULL;
    if (callback != NULL) {
        result = PyObject_CallMethodOneArg(loop, str_call_soon, callback);
        Py_DECREF(callback);
    }
    Py_DECREF(loop);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

PyDoc_STRVAR(write_message_doc,
"write_message(connection, message, text, compress, /)\n"
"--\n"
"\n"
"Send a whole message on an asyncio connection, if nothing is in the way.\n"
"\n"
"For Connection.send(): when no fragmented message is being sent and the\n"
"core's Protocol.send_message() builds the frame of message (str or\n"
"bytes-like; text and compress as send() takes them), the frame is written\n"
"as Connection._write_frame() writes it: joined to a burst, or to the\n"
"transport; a server's long payload after its header, by\n"
"Connection._write_long_payload().\n"
"\n"
"Returns:\n"
"    True once the frame is written; False once it is written and writing\n"
"    is paused (send() waits for the buffer to drain); None when nothing\n"
"    was done and the general path must send the message (or raise what is\n"
"    wrong with it).\n");

static PyObject *
write_message(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "write_message() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (wskit_import_receiving() < 0) {
        return NULL;
    }
    PyObject *connection = args[0];
    PyObject *waiter =
        wskit_field_get(connection, &wskit_fields.connection.fragmented_send_waiter);
    if (waiter == NULL) {
        return NULL;
    }
    int fragmented = waiter != Py_None;
    Py_DECREF(waiter);
    if (fragmented) {
        Py_RETURN_NONE;
    }
    PyObject *protocol = wskit_field_get(connection, &wskit_fields.connection.protocol);
    if (protocol == NULL) {
        return NULL;
    }
    PyObject *frame = frame_to_send(protocol, args);
    Py_DECREF(protocol);
    if (frame == NULL || frame == Py_None) {
        return frame;
    }
    int status;
    if (PyTuple_CheckExact(frame)) {  /* a server's long payload, after its header */
        PyObject *call_args[3] = {connection, PyTuple_GET_ITEM(frame, 0),
                                  PyTuple_GET_ITEM(frame, 1)};
        PyObject *result =
            PyObject_VectorcallMethod(str_write_long_payload, call_args, 3, NULL);
        status = result == NULL ? -1 : 0;
        Py_XDECREF(result);
    }
    else {
        status = write_frame(connection, frame);
        if (status == -2) {
            status = start_burst(connection, frame);
        }
    }
    Py_DECREF(frame);
    if (status < 0) {
        return NULL;
    }
    int paused = wskit_field_is_true(connection, &wskit_fields.connection.writing_paused);
    if (paused < 0) {
        return NULL;
    }
    return Py_NewRef(paused ? Py_False : Py_True);
}

static PyMethodDef send_methods[] = {
    {"write_message", (PyCFunction)(void (*)(void))write_message, METH_FASTCALL,
     write_message_doc},
    {NULL, NULL, 0, NULL},
};

int
wskit_send_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_get_write_buffer_size, "get_write_buffer_size"},
        {&str_write, "write"},
        {&str_call_soon, "call_soon"},
        {&str_write_burst, "_write_burst"},
        {&str_write_frame, "_write_frame"},
        {&str_send_message, "send_message"},
        {&str_write_long_payload, "_write_long_payload"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, send_methods);
}
