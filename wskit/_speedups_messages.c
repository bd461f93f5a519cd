/*
 * wskit._speedups: the per-message path of an open connection, each way in
 * one call, for the asyncio layer.
 *
 * - receive_messages(): a run of frames that each carry a whole plain
 *   message goes from the bytes read to the queue that recv() reads,
 *   counted in the core's statistics, without the core's receive_data(),
 *   events_received() and the assembler's put() for each. It takes only
 *   what the core's own fast path (read_messages, in
 *   Protocol._parse_frames) would take, where the I/O layer would have
 *   nothing else to do: no event pending, nothing to write. The rest of the
 *   read, if any, goes to receive_data() as before.
 * - send_message(): a whole message, str or bytes-like, to the frame that
 *   the core's send_text() or send_binary() would queue on its fast path
 *   (build_frame), counted, without encode() and those calls.
 *
 * Both read the core's state, and decline (0 or None) whatever the core's
 * general rules would handle differently; the caller then takes the general
 * path, which raises the errors.
 */

#include "_speedups.h"

#include <structmember.h> /* T_OBJECT_EX, READONLY */

/* Attribute names, interned once. */
static PyObject *str_state, *str_reading, *str_incoming_payload, *str_buffer,
    *str_message_opcode, *str_text_checked, *str_extensions, *str_debug, *str_events,
    *str_writes, *str_side, *str_max_message_size, *str_max_fragment_size,
    *str_bytes_received, *str_frames_received, *str_frames, *str_high, *str_paused,
    *str_pause, *str_extend, *str_expect_continuation_frame, *str_eof_sent, *str_bytes_sent,
    *str_frames_sent;

/* wskit.states.OPEN, FRAMES and SERVER. Looked up on first use: the core
 * imports this module. */
static PyObject *open_state, *frames_reading, *server_side;

static int
load_states(void)
{
    PyObject *states = PyImport_ImportModule("wskit.states");
    if (states == NULL) {
        return -1;
    }
    open_state = PyObject_GetAttrString(states, "OPEN");
    frames_reading = PyObject_GetAttrString(states, "FRAMES");
    server_side = PyObject_GetAttrString(states, "SERVER");
    Py_DECREF(states);
    if (open_state == NULL || frames_reading == NULL || server_side == NULL) {
        Py_CLEAR(open_state);
        Py_CLEAR(frames_reading);
        Py_CLEAR(server_side);
        return -1;
    }
    return 0;
}

/* Whether obj.name is `expected` (identity): 1, 0, or -1 with an exception. */
static int
attr_is(PyObject *obj, PyObject *name, PyObject *expected)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int result = value == expected;
    Py_DECREF(value);
    return result;
}

/* Whether obj.name is false (an empty buffer, list, 0, False): 1, 0, or -1. */
static int
attr_is_false(PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth < 0 ? -1 : !truth;
}

/* Whether the core reads frames with nothing in progress or pending, as its
 * fast path requires: 1, 0, or -1 with an exception set. */
static int
ready_for_messages(PyObject *protocol)
{
    int ready;
    if ((ready = attr_is(protocol, str_state, open_state)) != 1 ||
        (ready = attr_is(protocol, str_reading, frames_reading)) != 1 ||
        (ready = attr_is(protocol, str_incoming_payload, Py_None)) != 1 ||
        (ready = attr_is(protocol, str_message_opcode, Py_None)) != 1 ||
        (ready = attr_is_false(protocol, str_buffer)) != 1 ||
        (ready = attr_is_false(protocol, str_text_checked)) != 1 ||
        (ready = attr_is_false(protocol, str_extensions)) != 1 ||
        (ready = attr_is_false(protocol, str_debug)) != 1 ||
        (ready = attr_is_false(protocol, str_events)) != 1 ||
        (ready = attr_is_false(protocol, str_writes)) != 1) {
        return ready;
    }
    return 1;
}

/* Where type's attribute `name` lives in its instances, if it is a slot
 * holding an object (__slots__), else -1. */
static Py_ssize_t
slot_offset(PyTypeObject *type, PyObject *name)
{
    PyObject *descr = _PyType_Lookup(type, name);  /* borrowed */
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY)) {
            return member->offset;
        }
    }
    return -1;
}

/* obj.name += delta, for the statistics' counters. They are slots of the
 * core holding ints: a slot is read and written in place, which costs a
 * fifth of getting and setting an attribute; anything else goes through
 * the attribute protocol. */
static int
add_to(PyObject *obj, PyObject *name, Py_ssize_t delta)
{
    Py_ssize_t offset = slot_offset(Py_TYPE(obj), name);
    if (offset >= 0) {
        PyObject **slot = (PyObject **)((char *)obj + offset);
        PyObject *value = *slot;
        if (value != NULL && PyLong_CheckExact(value)) {
            Py_ssize_t count = PyLong_AsSsize_t(value);
            if (count >= 0 && count <= PY_SSIZE_T_MAX - delta) {
                PyObject *sum = PyLong_FromSsize_t(count + delta);
                if (sum == NULL) {
                    return -1;
                }
                Py_SETREF(*slot, sum);
                return 0;
            }
            PyErr_Clear();  /* too big for a Py_ssize_t: PyNumber_Add below */
        }
    }
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    PyObject *increment = PyLong_FromSsize_t(delta);
    if (increment == NULL) {
        Py_DECREF(value);
        return -1;
    }
    PyObject *sum = PyNumber_Add(value, increment);
    Py_DECREF(value);
    Py_DECREF(increment);
    if (sum == NULL) {
        return -1;
    }
    int status = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return status;
}

/* A limit of the core, as wskit_get_limit() reads it. */
static int
get_limit_attr(PyObject *protocol, PyObject *name, Py_ssize_t *limit)
{
    PyObject *value = PyObject_GetAttr(protocol, name);
    if (value == NULL) {
        return -1;
    }
    int status = wskit_get_limit(value, limit);
    Py_DECREF(value);
    return status;
}

/* Add the frames of `run` to the queue, as FrameQueue.put() adds each:
 * past `high` frames, pause reading, once. */
static int
queue_frames(PyObject *queue, PyObject *run)
{
    PyObject *frames = PyObject_GetAttr(queue, str_frames);
    if (frames == NULL) {
        return -1;
    }
    PyObject *extended = PyObject_CallMethodOneArg(frames, str_extend, run);
    if (extended == NULL) {
        Py_DECREF(frames);
        return -1;
    }
    Py_DECREF(extended);
    Py_ssize_t queued = PyObject_Size(frames);
    Py_DECREF(frames);
    if (queued < 0) {
        return -1;
    }
    PyObject *high = PyObject_GetAttr(queue, str_high);
    if (high == NULL) {
        return -1;
    }
    Py_ssize_t limit;
    int status = wskit_get_limit(high, &limit);
    Py_DECREF(high);
    if (status < 0 || limit < 0 || queued <= limit) {
        return status;
    }
    int paused = attr_is_false(queue, str_paused);
    if (paused != 1) {  /* paused already, or an error */
        return paused;
    }
    if (PyObject_SetAttr(queue, str_paused, Py_True) < 0) {
        return -1;
    }
    PyObject *result = PyObject_CallMethodNoArgs(queue, str_pause);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

PyDoc_STRVAR(receive_messages_doc,
"receive_messages(protocol, data, queue, /)\n"
"--\n"
"\n"
"Receive the run of whole plain messages at the start of data, if the\n"
"protocol can take them without its general rules.\n"
"\n"
"When protocol (a wskit.protocol.Protocol) is OPEN, reads frames with no\n"
"message, long payload or buffered bytes in progress, has no extension,\n"
"debug logging off, and no event or write pending, the frames at the start\n"
"of data that read_messages() takes are added to queue (a\n"
"wskit.shared.messages.FrameQueue, as its put() would, pausing reading past\n"
"its high-water mark), and counted in protocol.bytes_received and\n"
"protocol.frames_received, as receive_data() and events_received() would.\n"
"The caller passes the rest of data, if any, to protocol.receive_data().\n"
"\n"
"Returns:\n"
"    How many bytes of data were received: 0 when the protocol isn't ready\n"
"    or data doesn't start with such a frame.\n");

static PyObject *
receive_messages(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "receive_messages() takes 3 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    PyObject *protocol = args[0], *queue = args[2];
    if (open_state == NULL && load_states() < 0) {
        return NULL;
    }
    int ready = ready_for_messages(protocol);
    if (ready <= 0) {
        return ready < 0 ? NULL : PyLong_FromLong(0);
    }
    int masked = attr_is(protocol, str_side, server_side);
    Py_ssize_t max_message, max_fragment;
    if (masked < 0 || get_limit_attr(protocol, str_max_message_size, &max_message) < 0 ||
        get_limit_attr(protocol, str_max_fragment_size, &max_fragment) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (get_bytes_view(args[1], &view) < 0) {
        return NULL;
    }
    PyObject *run = PyList_New(0);
    if (run == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t end = wskit_read_run((const unsigned char *)view.buf, view.len, 0, masked,
                                    max_message, max_fragment, run);
    PyBuffer_Release(&view);
    if (end < 0) {
        /* Nothing taken: the general path meets the error again and fails
         * the connection as it does for any error in the parser. */
        PyErr_Clear();
        end = 0;
    }
    else if (end > 0) {
        if (add_to(protocol, str_bytes_received, end) < 0 ||
            add_to(protocol, str_frames_received, PyList_GET_SIZE(run)) < 0 ||
            queue_frames(queue, run) < 0) {
            Py_DECREF(run);
            return NULL;
        }
    }
    Py_DECREF(run);
    return PyLong_FromSsize_t(end);
}

/* A server sends a payload this long or longer after its header, uncopied
 * (wskit.receiving._LONG_PAYLOAD, in Protocol.send_frame()). */
#define LONG_PAYLOAD (64 * 1024)

/* Whether the core would build a whole message's frame on its fast path:
 * 1, 0, or -1 with an exception set. */
static int
ready_to_send(PyObject *protocol)
{
    int ready;
    if ((ready = attr_is(protocol, str_state, open_state)) != 1 ||
        (ready = attr_is_false(protocol, str_expect_continuation_frame)) != 1 ||
        (ready = attr_is_false(protocol, str_extensions)) != 1 ||
        (ready = attr_is_false(protocol, str_debug)) != 1 ||
        (ready = attr_is_false(protocol, str_eof_sent)) != 1 ||
        (ready = attr_is_false(protocol, str_writes)) != 1) {
        return ready;
    }
    return 1;
}

PyDoc_STRVAR(send_message_doc,
"send_message(protocol, message, text, /)\n"
"--\n"
"\n"
"Build the frame of a whole message, if the protocol can send it without\n"
"its general rules.\n"
"\n"
"When protocol (a wskit.protocol.Protocol) is OPEN, isn't sending a\n"
"fragmented message, has no extension, debug logging off, no EOF sent and\n"
"no write pending, message (str, bytes, bytearray or memoryview) becomes the\n"
"frame that send_text() or send_binary() would queue: text unless message\n"
"is bytes-like and text isn't True, or message is str and text is False,\n"
"as wskit.shared.messages.encode() says; masked on the client's side. It is\n"
"counted in protocol.bytes_sent and protocol.frames_sent, and returned\n"
"rather than queued: the caller writes it.\n"
"\n"
"Returns:\n"
"    The frame, or None when the protocol isn't ready, the message is of\n"
"    another type, fails to encode or to export a contiguous buffer, or\n"
"    is a server's payload of 64 KiB or more (sent after its header): the\n"
"    caller then takes the general path.\n");

static PyObject *
send_message(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "send_message() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *protocol = args[0], *message = args[1], *text = args[2];
    if (open_state == NULL && load_states() < 0) {
        return NULL;
    }
    int ready = ready_to_send(protocol);
    if (ready <= 0) {
        return ready < 0 ? NULL : Py_NewRef(Py_None);
    }
    int server = attr_is(protocol, str_side, server_side);
    if (server < 0) {
        return NULL;
    }
    PyObject *encoded = NULL;
    int is_text;
    if (PyUnicode_Check(message)) {
        is_text = text != Py_False;
        encoded = PyUnicode_AsUTF8String(message);
        if (encoded == NULL) {
            PyErr_Clear();  /* the general path raises it */
            Py_RETURN_NONE;
        }
    }
    else if (PyBytes_Check(message) || PyByteArray_Check(message) ||
             PyMemoryView_Check(message)) {
        is_text = text == Py_True;
    }
    else {
        Py_RETURN_NONE;
    }
    Py_buffer data;
    if (get_bytes_view(encoded != NULL ? encoded : message, &data) < 0) {
        PyErr_Clear();  /* a strided view: the general path raises it */
        Py_XDECREF(encoded);
        Py_RETURN_NONE;
    }
    PyObject *frame = NULL;
    if (server && data.len >= LONG_PAYLOAD) {
        frame = Py_NewRef(Py_None);
    }
    else {
        frame = wskit_build_frame(is_text ? 0x81 : 0x82, &data, !server);
    }
    PyBuffer_Release(&data);
    Py_XDECREF(encoded);
    if (frame == NULL || frame == Py_None) {
        return frame;
    }
    if (add_to(protocol, str_bytes_sent, PyBytes_GET_SIZE(frame)) < 0 ||
        add_to(protocol, str_frames_sent, 1) < 0) {
        Py_DECREF(frame);
        return NULL;
    }
    return frame;
}

static PyMethodDef messages_methods[] = {
    {"receive_messages", (PyCFunction)(void (*)(void))receive_messages, METH_FASTCALL,
     receive_messages_doc},
    {"send_message", (PyCFunction)(void (*)(void))send_message, METH_FASTCALL,
     send_message_doc},
    {NULL, NULL, 0, NULL},
};

static int
intern(PyObject **name, const char *text)
{
    *name = PyUnicode_InternFromString(text);
    return *name == NULL ? -1 : 0;
}

int
wskit_messages_init(PyObject *module)
{
    if (intern(&str_state, "state") < 0 || intern(&str_reading, "_reading") < 0 ||
        intern(&str_incoming_payload, "incoming_payload") < 0 ||
        intern(&str_buffer, "_buffer") < 0 ||
        intern(&str_message_opcode, "_message_opcode") < 0 ||
        intern(&str_text_checked, "_text_checked") < 0 ||
        intern(&str_extensions, "extensions") < 0 || intern(&str_debug, "debug") < 0 ||
        intern(&str_events, "_events") < 0 || intern(&str_writes, "_writes") < 0 ||
        intern(&str_side, "side") < 0 ||
        intern(&str_max_message_size, "max_message_size") < 0 ||
        intern(&str_max_fragment_size, "max_fragment_size") < 0 ||
        intern(&str_bytes_received, "bytes_received") < 0 ||
        intern(&str_frames_received, "frames_received") < 0 ||
        intern(&str_frames, "frames") < 0 || intern(&str_high, "high") < 0 ||
        intern(&str_paused, "paused") < 0 || intern(&str_pause, "pause") < 0 ||
        intern(&str_extend, "extend") < 0 ||
        intern(&str_expect_continuation_frame, "expect_continuation_frame") < 0 ||
        intern(&str_eof_sent, "eof_sent") < 0 || intern(&str_bytes_sent, "bytes_sent") < 0 ||
        intern(&str_frames_sent, "frames_sent") < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, messages_methods);
}
