/*
 * wskit._speedups: write_message(), what `await websocket.send(message)`
 * does for most messages in wskit.asyncio, in one call: the checks of the
 * core's Protocol.send_message(), the frame (send_message's), and the
 * common branches of the connection's _write_frame() (the frame written,
 * or joined to a burst). Whatever else comes up goes to the Python code
 * that handles it: the whole message to the general path before anything
 * is done (None), a compressed message to Protocol.send_message(), a
 * frame that ends a burst or is long to Connection._write_frame().
 *
 * The connection's and the core's attributes are mostly slots (__slots__):
 * read and written in place, at the offsets their type gives (found once
 * per type with wskit_slot_offset, and again if the type changes), they
 * cost a few instructions rather than a lookup by name; anything else goes
 * by name.
 */

#include "_speedups.h"

/* What write_message reads of the connection and of its core. */
enum {
    CONN_FRAGMENTED_SEND_WAITER,
    CONN_PROTOCOL,
    CONN_BURST,
    CONN_BURST_SIZE,
    CONN_BURST_LIMIT,
    CONN_SENT_SINCE_READ,
    CONN_TRANSPORT,
    CONN_LOOP,
    CONN_WRITING_PAUSED,
    CONN_FIELDS
};
enum {
    PROTO_STATE,
    PROTO_EXPECT_CONTINUATION_FRAME,
    PROTO_DEBUG,
    PROTO_EOF_SENT,
    PROTO_WRITES,
    PROTO_SIDE,
    PROTO_EXTENSIONS,
    PROTO_FIELDS
};
#define MAX_FIELDS CONN_FIELDS

/* Where a type's instances hold some attributes: the offsets of their
 * slots, -1 for those that aren't. Two types at a time (a client's and a
 * server's connection in one process). */
typedef struct {
    PyTypeObject *type;  /* a strong reference, so that its address stays its own */
    unsigned int version;
    Py_ssize_t offsets[MAX_FIELDS];
} LayoutEntry;

typedef struct {
    PyObject *names[MAX_FIELDS];
    int count;
    int next;  /* the entry to replace */
    LayoutEntry entries[2];
} Layout;

static Layout connection_layout, protocol_layout;

static PyObject *str_get_write_buffer_size, *str_write, *str_call_soon, *str_write_burst,
    *str_write_frame, *str_send_message;

/* wskit.states.OPEN and CLIENT, and wskit.receiving._LONG_PAYLOAD, looked up
 * on first use: the core imports this module. */
static PyObject *state_open, *side_client;
static Py_ssize_t long_payload = -1;

static int
import_constants(void)
{
    if (state_open != NULL) {
        return 0;
    }
    PyObject *states = PyImport_ImportModule("wskit.states");
    if (states == NULL) {
        return -1;
    }
    PyObject *receiving = PyImport_ImportModule("wskit.receiving");
    if (receiving == NULL) {
        Py_DECREF(states);
        return -1;
    }
    PyObject *open = PyObject_GetAttrString(states, "OPEN");
    PyObject *client = PyObject_GetAttrString(states, "CLIENT");
    PyObject *limit = PyObject_GetAttrString(receiving, "_LONG_PAYLOAD");
    Py_DECREF(states);
    Py_DECREF(receiving);
    if (open == NULL || client == NULL || limit == NULL ||
        wskit_get_limit(limit, &long_payload) < 0) {
        Py_XDECREF(open);
        Py_XDECREF(client);
        Py_XDECREF(limit);
        return -1;
    }
    Py_DECREF(limit);
    side_client = client;
    state_open = open;
    return 0;
}

/* Copy the offsets of type's slots for layout's attributes into offsets. */
static void
layout_of(Layout *layout, PyTypeObject *type, Py_ssize_t *offsets)
{
    int valid = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG);
    for (int i = 0; valid && i < 2; i++) {
        LayoutEntry *entry = &layout->entries[i];
        if (entry->type == type && entry->version == type->tp_version_tag) {
            memcpy(offsets, entry->offsets, layout->count * sizeof(Py_ssize_t));
            return;
        }
    }
    for (int i = 0; i < layout->count; i++) {
        offsets[i] = wskit_slot_offset(type, layout->names[i]);
    }
    /* The lookup gives the type a version tag, if it can have one. */
    if (PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        LayoutEntry *entry = &layout->entries[layout->next];
        layout->next ^= 1;
        Py_INCREF(type);
        Py_XSETREF(entry->type, type);
        entry->version = type->tp_version_tag;
        memcpy(entry->offsets, offsets, layout->count * sizeof(Py_ssize_t));
    }
}

/* obj's attribute: a new reference, or NULL with an exception set. */
static PyObject *
get_field(PyObject *obj, Py_ssize_t offset, PyObject *name)
{
    if (offset >= 0) {
        PyObject *value = *(PyObject **)((char *)obj + offset);
        if (value != NULL) {
            return Py_NewRef(value);
        }
    }
    return PyObject_GetAttr(obj, name);
}

static int
set_field(PyObject *obj, Py_ssize_t offset, PyObject *name, PyObject *value)
{
    if (offset < 0) {
        return PyObject_SetAttr(obj, name, value);
    }
    Py_XSETREF(*(PyObject **)((char *)obj + offset), Py_NewRef(value));
    return 0;
}

/* Whether obj's attribute is true: 1, 0, or -1 with an exception set. */
static int
field_is_true(PyObject *obj, Py_ssize_t offset, PyObject *name)
{
    PyObject *value = get_field(obj, offset, name);
    if (value == NULL) {
        return -1;
    }
    int truth = value == Py_True ? 1 : value == Py_False ? 0 : PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* obj's attribute as a Py_ssize_t: -1 with an exception set, or -2 if it
 * isn't an int of that range (Python code handles that). */
static Py_ssize_t
field_size(PyObject *obj, Py_ssize_t offset, PyObject *name)
{
    PyObject *value = get_field(obj, offset, name);
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
core_ready(PyObject *protocol, const Py_ssize_t *p, int *mask)
{
    PyObject *const *names = protocol_layout.names;
    PyObject *state = get_field(protocol, p[PROTO_STATE], names[PROTO_STATE]);
    if (state == NULL) {
        return -1;
    }
    int open = state == state_open;
    Py_DECREF(state);
    if (!open) {
        return 0;
    }
    const int flags[] = {PROTO_EXPECT_CONTINUATION_FRAME, PROTO_DEBUG, PROTO_EOF_SENT,
                         PROTO_WRITES};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        int truth = field_is_true(protocol, p[flags[i]], names[flags[i]]);
        if (truth != 0) {
            return truth < 0 ? -1 : 0;
        }
    }
    int extensions = field_is_true(protocol, p[PROTO_EXTENSIONS], names[PROTO_EXTENSIONS]);
    if (extensions != 0) {
        return extensions < 0 ? -1 : 2;
    }
    PyObject *side = get_field(protocol, p[PROTO_SIDE], names[PROTO_SIDE]);
    if (side == NULL) {
        return -1;
    }
    *mask = side == side_client;
    Py_DECREF(side);
    return 1;
}

/* The frame of the message, counted, as Protocol.send_message() returns it:
 * a new reference, None for the general path, or NULL with an exception. */
static PyObject *
frame_to_send(PyObject *protocol, PyObject *const *args)
{
    Py_ssize_t p[MAX_FIELDS];
    layout_of(&protocol_layout, Py_TYPE(protocol), p);
    int mask = 0;
    int ready = core_ready(protocol, p, &mask);
    if (ready <= 0) {
        return ready < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (ready == 2) {  /* permessage-deflate, or anything Protocol.send_message() declines */
        PyObject *call_args[4] = {protocol, args[1], args[2], args[3]};
        return PyObject_VectorcallMethod(str_send_message, call_args, 4, NULL);
    }
    return wskit_message_frame_to_send(protocol, args[1], args[2], mask,
                                       mask ? -1 : long_payload, Py_None);
}

/* Write the frame as Connection._write_frame() does: 0, or -1 with an
 * exception set. Its common branches are here; the others (a frame that
 * ends a burst, a long frame) are its own. */
static int
write_frame(PyObject *connection, const Py_ssize_t *c, PyObject *frame)
{
    PyObject *const *names = connection_layout.names;
    PyObject *result = NULL;
    if (!PyBytes_CheckExact(frame)) {
        goto general;
    }
    Py_ssize_t length = PyBytes_GET_SIZE(frame);
    Py_ssize_t limit = field_size(connection, c[CONN_BURST_LIMIT], names[CONN_BURST_LIMIT]);
    if (limit == -1) {
        return -1;
    }
    if (limit < 0 || length >= limit) {
        goto general;
    }
    PyObject *burst = get_field(connection, c[CONN_BURST], names[CONN_BURST]);
    if (burst == NULL) {
        return -1;
    }
    if (burst != Py_None) {
        /* Joins the burst, unless it fills it. */
        Py_ssize_t size = PyList_CheckExact(burst)
            ? field_size(connection, c[CONN_BURST_SIZE], names[CONN_BURST_SIZE])
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
        status = set_field(connection, c[CONN_BURST_SIZE], names[CONN_BURST_SIZE], total);
        Py_DECREF(total);
        return status;
    }
    Py_DECREF(burst);
    int sent = field_is_true(connection, c[CONN_SENT_SINCE_READ], names[CONN_SENT_SINCE_READ]);
    if (sent < 0) {
        return -1;
    }
    PyObject *transport = get_field(connection, c[CONN_TRANSPORT], names[CONN_TRANSPORT]);
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
    return set_field(connection, c[CONN_SENT_SINCE_READ], names[CONN_SENT_SINCE_READ],
                     Py_True);
general:
    result = PyObject_CallMethodOneArg(connection, str_write_frame, frame);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* Start a burst with the frame, written on the loop's next iteration by
 * Connection._write_burst(): 0, or -1 with an exception set. */
static int
start_burst(PyObject *connection, const Py_ssize_t *c, PyObject *frame)
{
    PyObject *const *names = connection_layout.names;
    PyObject *burst = PyList_New(1);
    if (burst == NULL) {
        return -1;
    }
    PyList_SET_ITEM(burst, 0, Py_NewRef(frame));
    int status = set_field(connection, c[CONN_BURST], names[CONN_BURST], burst);
    Py_DECREF(burst);
    if (status < 0) {
        return -1;
    }
    PyObject *size = PyLong_FromSsize_t(PyBytes_GET_SIZE(frame));
    if (size == NULL) {
        return -1;
    }
    status = set_field(connection, c[CONN_BURST_SIZE], names[CONN_BURST_SIZE], size);
    Py_DECREF(size);
    if (status < 0) {
        return -1;
    }
    PyObject *loop = get_field(connection, c[CONN_LOOP], names[CONN_LOOP]);
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
"transport.\n"
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
    if (import_constants() < 0) {
        return NULL;
    }
    PyObject *connection = args[0];
    PyObject *const *names = connection_layout.names;
    Py_ssize_t c[MAX_FIELDS];
    layout_of(&connection_layout, Py_TYPE(connection), c);
    PyObject *waiter = get_field(connection, c[CONN_FRAGMENTED_SEND_WAITER],
                                 names[CONN_FRAGMENTED_SEND_WAITER]);
    if (waiter == NULL) {
        return NULL;
    }
    int fragmented = waiter != Py_None;
    Py_DECREF(waiter);
    if (fragmented) {
        Py_RETURN_NONE;
    }
    PyObject *protocol = get_field(connection, c[CONN_PROTOCOL], names[CONN_PROTOCOL]);
    if (protocol == NULL) {
        return NULL;
    }
    PyObject *frame = frame_to_send(protocol, args);
    Py_DECREF(protocol);
    if (frame == NULL || frame == Py_None) {
        return frame;
    }
    int status = write_frame(connection, c, frame);
    if (status == -2) {
        status = start_burst(connection, c, frame);
    }
    Py_DECREF(frame);
    if (status < 0) {
        return NULL;
    }
    int paused =
        field_is_true(connection, c[CONN_WRITING_PAUSED], names[CONN_WRITING_PAUSED]);
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

static int
intern_all(PyObject **names, const char *const *texts, int count)
{
    for (int i = 0; i < count; i++) {
        names[i] = PyUnicode_InternFromString(texts[i]);
        if (names[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

int
wskit_send_init(PyObject *module)
{
    static const char *const connection_names[CONN_FIELDS] = {
        "fragmented_send_waiter", "protocol",  "burst", "burst_size",     "burst_limit",
        "sent_since_read",        "transport", "loop",  "writing_paused",
    };
    static const char *const protocol_names[PROTO_FIELDS] = {
        "state", "expect_continuation_frame", "debug", "eof_sent", "_writes", "side",
        "extensions",
    };
    PyObject **methods[] = {&str_get_write_buffer_size, &str_write,       &str_call_soon,
                            &str_write_burst,           &str_write_frame, &str_send_message};
    static const char *const method_names[] = {"get_write_buffer_size", "write", "call_soon",
                                               "_write_burst", "_write_frame", "send_message"};
    connection_layout.count = CONN_FIELDS;
    protocol_layout.count = PROTO_FIELDS;
    if (intern_all(connection_layout.names, connection_names, CONN_FIELDS) < 0 ||
        intern_all(protocol_layout.names, protocol_names, PROTO_FIELDS) < 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (intern_all(methods[i], &method_names[i], 1) < 0) {
            return -1;
        }
    }
    return PyModule_AddFunctions(module, send_methods);
}
