/*
 * wskit._speedups: the per-message path of an open connection, each way in
 * one call, for the core's Protocol.receive_messages() and
 * Protocol.send_message(), which decide when the core's general rules have
 * nothing to do with a message and call these then.
 *
 * - receive_messages(): a run of frames that each carry a whole plain
 *   message (read_messages' run) goes from the bytes read to the queue that
 *   recv() reads, counted in the core's statistics, without the core's
 *   receive_data(), events_received() and the assembler's put() for each.
 *   With permessage-deflate, whole compressed messages in one frame join
 *   the run, inflated by the extension's own inflate().
 * - send_message(): a whole message, str or bytes-like, to the frame that
 *   the core's send_text() or send_binary() would queue (build_frame),
 *   counted, without encode() and those calls, compressed by the
 *   extension's deflate() if one is given. It declines (None) what those
 *   would handle otherwise or refuse, so that they raise the errors.
 */

#include "_speedups.h"

#include <structmember.h> /* T_OBJECT_EX, READONLY */

/* Attribute names, interned once. */
static PyObject *str_bytes_received, *str_frames_received, *str_frames, *str_high,
    *str_paused, *str_pause, *str_extend, *str_bytes_sent, *str_frames_sent, *str_inflate,
    *str_deflate, *str_fail_on_parse_error;

/* wskit.receiving.InvalidUTF8, looked up on first use: the core imports
 * this module. */
static PyObject *invalid_utf8;

/* Whether obj.name is false: 1, 0, or -1 with an exception set. */
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

/* Where type's attribute `name` lives in its instances, if it is a slot
 * holding an object (__slots__), else -1. */
Py_ssize_t
wskit_slot_offset(PyTypeObject *type, PyObject *name)
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
    Py_ssize_t offset = wskit_slot_offset(Py_TYPE(obj), name);
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

/* The payload of a whole compressed message, inflated by `extension`
 * within `max_size`, and checked as UTF-8 for text (opcode 1): as a Frame,
 * or NULL with the exception that the core's general rules would raise. */
static PyObject *
inflate_message(PyObject *extension, unsigned char opcode, PyObject *payload,
                PyObject *max_size)
{
    PyObject *call_args[4] = {extension, payload, Py_True, max_size};
    PyObject *data = PyObject_VectorcallMethod(str_inflate, call_args, 4, NULL);
    if (data == NULL) {
        return NULL;
    }
    if (opcode == 1) {
        Py_buffer view;
        if (get_bytes_view(data, &view) < 0) {
            Py_DECREF(data);
            return NULL;
        }
        int valid = wskit_utf8_valid((const unsigned char *)view.buf, view.len);
        PyBuffer_Release(&view);
        if (!valid) {
            Py_DECREF(data);
            if (invalid_utf8 == NULL) {
                PyObject *receiving = PyImport_ImportModule("wskit.receiving");
                if (receiving == NULL) {
                    return NULL;
                }
                invalid_utf8 = PyObject_GetAttrString(receiving, "InvalidUTF8");
                Py_DECREF(receiving);
                if (invalid_utf8 == NULL) {
                    return NULL;
                }
            }
            PyErr_SetString(invalid_utf8, "invalid UTF-8 in text message");
            return NULL;
        }
    }
    PyObject *frame = wskit_message_frame(opcode, data);
    Py_DECREF(data);
    return frame;
}

/* The exception being raised, taken: a new reference. */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

/* Read the run at the start of buf into the list `run`: read_messages'
 * frames and, unless `extension` is None, whole compressed messages of at
 * most `max_compressed` bytes, inflated. Return where the run ends, or -1
 * with an exception set. Where inflating a message fails, the run ends
 * before it, with the exception in *failure. Where reading fails
 * otherwise, as when memory runs out, it ends where the last compressed
 * message does: the general path meets that error again, and nothing it
 * could not read again was taken. */
static Py_ssize_t
read_run_inflating(const unsigned char *buf, Py_ssize_t len, PyObject *const *args,
                   Py_ssize_t max_compressed, PyObject *run, PyObject **failure)
{
    int masked;
    Py_ssize_t max_message, max_fragment;
    if (wskit_run_options(args + 3, &masked, &max_message, &max_fragment) < 0) {
        return -1;
    }
    PyObject *extension = args[6];
    Py_ssize_t end = 0;
    for (;;) {
        Py_ssize_t start = end, taken = PyList_GET_SIZE(run);
        end = wskit_read_run(buf, len, start, masked, max_message, max_fragment, run);
        if (end < 0) {
            PyErr_Clear();
            return PyList_SetSlice(run, taken, PY_SSIZE_T_MAX, NULL) < 0 ? -1 : start;
        }
        if (extension == Py_None) {
            return end;
        }
        unsigned char first;
        PyObject *payload;
        Py_ssize_t next = wskit_read_compressed(buf, len, end, masked, max_compressed, &first,
                                                &payload);
        if (next <= 0) {
            PyErr_Clear();  /* memory for the payload: nothing inflated yet */
            return end;
        }
        /* The extension's state changes from here: a failure is the
         * connection's, no longer something to leave to the general path. */
        PyObject *frame = inflate_message(extension, first & 0x0F, payload, args[4]);
        Py_DECREF(payload);
        if (frame == NULL || PyList_Append(run, frame) < 0) {
            Py_XDECREF(frame);
            *failure = take_exception();
            return end;
        }
        Py_DECREF(frame);
        end = next;
    }
}

PyDoc_STRVAR(receive_messages_doc,
"receive_messages(protocol, data, queue, masked, max_message_size, max_fragment_size,\n"
"                 extension, max_compressed_size, /)\n"
"--\n"
"\n"
"Receive the run of frames at the start of data that each carry a whole\n"
"message, as read_messages() reads it, into queue.\n"
"\n"
"For Protocol.receive_messages(), once it has checked that its general rules\n"
"have nothing to do with such frames. They are added to queue (a\n"
"wskit.shared.messages.FrameQueue) as its put() would add each, pausing\n"
"reading past its high-water mark, and counted in protocol.bytes_received\n"
"and protocol.frames_received, as receive_data() and events_received()\n"
"would count them.\n"
"\n"
"With extension (a PerMessageDeflate; None for none), the run also takes\n"
"frames that each carry a whole compressed message (RSV1 set, at most\n"
"max_compressed_size bytes, None for no limit), inflated by the\n"
"extension's inflate() within max_message_size and checked as UTF-8 for\n"
"text. When that fails, the run ends before that frame and the connection\n"
"fails through protocol._fail_on_parse_error(), as the general rules\n"
"would fail it.\n"
"\n"
"Returns:\n"
"    How many bytes of data were received; 0 if an error stopped the run\n"
"    before any compressed message (nothing is taken then: the general\n"
"    rules meet it again).\n");

static PyObject *
receive_messages(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "receive_messages() takes 8 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    PyObject *protocol = args[0], *queue = args[2];
    Py_ssize_t max_compressed;
    if (wskit_get_limit(args[7], &max_compressed) < 0) {
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
    PyObject *failure = NULL;
    Py_ssize_t end = read_run_inflating((const unsigned char *)view.buf, view.len, args,
                                        max_compressed, run, &failure);
    PyBuffer_Release(&view);
    if (end > 0 &&
        (add_to(protocol, str_bytes_received, end) < 0 ||
         add_to(protocol, str_frames_received, PyList_GET_SIZE(run)) < 0 ||
         queue_frames(queue, run) < 0)) {
        end = -1;
    }
    Py_DECREF(run);
    if (failure != NULL) {
        if (end >= 0) {
            PyObject *call_args[2] = {protocol, failure};
            PyObject *result =
                PyObject_VectorcallMethod(str_fail_on_parse_error, call_args, 2, NULL);
            end = result == NULL ? -1 : end;
            Py_XDECREF(result);
        }
        Py_DECREF(failure);
    }
    return end < 0 ? NULL : PyLong_FromSsize_t(end);
}

/* The frame of a whole message, its payload compressed by `extension`
 * (RSV1 set in `first`), or NULL with an exception set. */
static PyObject *
build_compressed_frame(PyObject *extension, unsigned char first, PyObject *data, int mask)
{
    PyObject *call_args[3] = {extension, data, Py_True};
    PyObject *compressed = PyObject_VectorcallMethod(str_deflate, call_args, 3, NULL);
    if (compressed == NULL) {
        return NULL;
    }
    Py_buffer view;
    PyObject *frame = NULL;
    if (get_bytes_view(compressed, &view) == 0) {
        frame = wskit_build_frame(first | 0x40, &view, mask);
        PyBuffer_Release(&view);
    }
    Py_DECREF(compressed);
    return frame;
}

PyDoc_STRVAR(send_message_doc,
"send_message(protocol, message, text, mask, max_length, extension, /)\n"
"--\n"
"\n"
"Build the frame of a whole message, as send_text() or send_binary() would.\n"
"\n"
"For Protocol.send_message(), once it has checked that its general rules\n"
"have nothing to do with a whole message. message (str, bytes, bytearray\n"
"or memoryview) is text or binary as wskit.shared.messages.encode() says:\n"
"text if it is str, unless text is False, or if text is True. The frame is\n"
"masked if mask is true, counted in protocol.bytes_sent and\n"
"protocol.frames_sent, and returned rather than queued: the caller writes it.\n"
"With extension (a PerMessageDeflate; None for none), the payload is\n"
"compressed by the extension's deflate() and the frame has RSV1 set.\n"
"\n"
"Returns:\n"
"    The frame, or None when the message is of another type, fails to\n"
"    encode or to export a contiguous buffer, or has max_length bytes or\n"
"    more (None for no limit): the caller then takes the general path.\n");

/* The frame of a whole message, counted (see send_message): a new
 * reference, None for the general path, or NULL with an exception set. */
PyObject *
wskit_message_frame_to_send(PyObject *protocol, PyObject *message, PyObject *text, int mask,
                            Py_ssize_t max_length, PyObject *extension)
{
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
    PyObject *frame;
    unsigned char first = is_text ? 0x81 : 0x82;
    if (max_length >= 0 && data.len >= max_length) {
        frame = Py_NewRef(Py_None);
    }
    else if (extension != Py_None) {
        frame = build_compressed_frame(extension, first,
                                       encoded != NULL ? encoded : message, mask);
    }
    else {
        frame = wskit_build_frame(first, &data, mask);
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

static PyObject *
send_message(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "send_message() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    int mask = PyObject_IsTrue(args[3]);
    Py_ssize_t max_length;
    if (mask < 0 || wskit_get_limit(args[4], &max_length) < 0) {
        return NULL;
    }
    return wskit_message_frame_to_send(args[0], args[1], args[2], mask, max_length, args[5]);
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
    if (intern(&str_bytes_received, "bytes_received") < 0 ||
        intern(&str_frames_received, "frames_received") < 0 ||
        intern(&str_frames, "frames") < 0 || intern(&str_high, "high") < 0 ||
        intern(&str_paused, "paused") < 0 || intern(&str_pause, "pause") < 0 ||
        intern(&str_extend, "extend") < 0 || intern(&str_bytes_sent, "bytes_sent") < 0 ||
        intern(&str_frames_sent, "frames_sent") < 0 || intern(&str_inflate, "inflate") < 0 ||
        intern(&str_deflate, "deflate") < 0 ||
        intern(&str_fail_on_parse_error, "_fail_on_parse_error") < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, messages_methods);
}
