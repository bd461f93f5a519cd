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
 *   wskit_receive_messages() is Protocol.receive_messages() whole, rule
 *   included, for the asyncio read path (_speedups_read.c): it reads the
 *   core's slots in place and the read buffer without a copy.
 * - send_message(): a whole message, str or bytes-like, to the frame that
 *   the core's send_text() or send_binary() would queue (build_frame),
 *   counted, without encode() and those calls, compressed by the
 *   extension's deflate() if one is given. It declines (None) what those
 *   would handle otherwise or refuse, so that they raise the errors.
 */

#include "_speedups.h"

/* Attribute names, interned once. */
static PyObject *str_pause, *str_inflate, *str_deflate, *str_fail_on_parse_error,
    *str_receive_messages, *str_receive_payload_end;

/* From wskit.receiving, looked up on first use (the core imports this
 * module): InvalidUTF8; OPEN, FRAMES, SERVER and PerMessageDeflate, which
 * FrameReceiver.receive_messages() checks; that method itself, to know a
 * core that has its own; _LONG_PAYLOAD, past which a server sends a
 * payload after its header (_speedups_send.c reads it too); the core's
 * PayloadBuffer (the C one or its twin), BINARY and _LONG_PAYLOAD_ARRIVED,
 * for starting a long payload (_speedups_payload.c); its
 * receive_payload_end(), to know a core that has its own. */
static PyObject *invalid_utf8, *reading_frames, *deflate_type, *core_receive_messages,
    *core_receive_payload_end;
PyObject *wskit_state_open, *wskit_side_server, *wskit_payload_type, *wskit_binary_opcode;
Py_ssize_t wskit_long_payload = -1, wskit_long_payload_arrived = -1;

int
wskit_import_receiving(void)
{
    if (core_receive_messages != NULL) {
        return 0;
    }
    PyObject *receiving = PyImport_ImportModule("wskit.receiving");
    if (receiving == NULL) {
        return -1;
    }
    PyObject **found[] = {&invalid_utf8, &wskit_state_open, &reading_frames, &wskit_side_server,
                          &deflate_type, &wskit_payload_type, &wskit_binary_opcode};
    const char *names[] = {"InvalidUTF8", "OPEN", "FRAMES", "SERVER",
                           "PerMessageDeflate", "PayloadBuffer", "BINARY"};
    int status = 0;
    for (size_t i = 0; status == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        *found[i] = PyObject_GetAttrString(receiving, names[i]);
        status = *found[i] == NULL ? -1 : 0;
    }
    Py_ssize_t *limits[] = {&wskit_long_payload, &wskit_long_payload_arrived};
    const char *limit_names[] = {"_LONG_PAYLOAD", "_LONG_PAYLOAD_ARRIVED"};
    for (size_t i = 0; status == 0 && i < sizeof(limit_names) / sizeof(limit_names[0]); i++) {
        PyObject *limit = PyObject_GetAttrString(receiving, limit_names[i]);
        status = limit == NULL ? -1 : wskit_get_limit(limit, limits[i]);
        Py_XDECREF(limit);
    }
    PyObject *receiver = status < 0 ? NULL : PyObject_GetAttrString(receiving, "FrameReceiver");
    Py_DECREF(receiving);
    if (receiver == NULL) {
        return -1;
    }
    /* Borrowed from the class's dict, which the class keeps. */
    PyObject *method = _PyType_Lookup((PyTypeObject *)receiver, str_receive_messages);
    PyObject *end = _PyType_Lookup((PyTypeObject *)receiver, str_receive_payload_end);
    Py_DECREF(receiver);
    if (method == NULL || end == NULL) {
        PyErr_SetString(PyExc_TypeError, "FrameReceiver's receive methods are missing");
        return -1;
    }
    core_receive_payload_end = Py_NewRef(end);
    core_receive_messages = Py_NewRef(method);
    return 0;
}

/* Add the frames of `run` to the queue, as FrameQueue.put() adds each:
 * past `high` frames, pause reading, once. */
static int
queue_frames(PyObject *queue, PyObject *run)
{
    PyObject *frames = wskit_field_get(queue, &wskit_fields.queue.frames);
    if (frames == NULL) {
        return -1;
    }
    PyObject *extended = wskit_deque_extend(frames, run);
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
    PyObject *high = wskit_field_get(queue, &wskit_fields.queue.high);
    if (high == NULL) {
        return -1;
    }
    Py_ssize_t limit;
    int status = wskit_get_limit(high, &limit);
    Py_DECREF(high);
    if (status < 0 || queued <= limit) {
        return status;
    }
    int paused = wskit_field_is_true(queue, &wskit_fields.queue.paused);
    if (paused != 0) {  /* paused already, or an error */
        return paused < 0 ? -1 : 0;
    }
    if (wskit_field_set(queue, &wskit_fields.queue.paused, Py_True) < 0) {
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
            if (wskit_import_receiving() < 0) {
                return NULL;
            }
            PyErr_SetString(invalid_utf8, "invalid UTF-8 in text message");
            return NULL;
        }
    }
    PyObject *frame = wskit_message_frame(opcode, data);
    Py_DECREF(data);
    return frame;
}

/* The options of a run (see receive_messages). */
typedef struct {
    int masked;
    Py_ssize_t max_message, max_fragment, max_compressed;
    PyObject *max_message_size;  /* as given, for inflate() */
    PyObject *extension;         /* None for none */
} RunOptions;

/* Read the run at the start of buf into the list `run`: read_messages'
 * frames and, unless the extension is None, whole compressed messages of
 * at most max_compressed bytes, inflated. Return where the run ends, or -1
 * with an exception set. Where inflating a message fails, the run ends
 * before it, with the exception in *failure. Where reading fails
 * otherwise, as when memory runs out, it ends where the last compressed
 * message does: the general path meets that error again, and nothing it
 * could not read again was taken. */
static Py_ssize_t
read_run_inflating(const unsigned char *buf, Py_ssize_t len, const RunOptions *options,
                   PyObject *run, PyObject **failure)
{
    Py_ssize_t end = 0;
    for (;;) {
        Py_ssize_t start = end, taken = PyList_GET_SIZE(run);
        end = wskit_read_run(buf, len, start, options->masked, options->max_message,
                             options->max_fragment, run);
        if (end < 0) {
            PyErr_Clear();
            return PyList_SetSlice(run, taken, PY_SSIZE_T_MAX, NULL) < 0 ? -1 : start;
        }
        if (options->extension == Py_None) {
            return end;
        }
        unsigned char first;
        PyObject *payload;
        Py_ssize_t next = wskit_read_compressed(buf, len, end, options->masked,
                                                options->max_compressed, &first, &payload);
        if (next <= 0) {
            PyErr_Clear();  /* memory for the payload: nothing inflated yet */
            return end;
        }
        /* The extension's state changes from here: a failure is the
         * connection's, no longer something to leave to the general path. */
        PyObject *frame = inflate_message(options->extension, first & 0x0F, payload,
                                          options->max_message_size);
        Py_DECREF(payload);
        if (frame == NULL || PyList_Append(run, frame) < 0) {
            Py_XDECREF(frame);
            *failure = wskit_take_exception();
            return end;
        }
        Py_DECREF(frame);
        end = next;
    }
}

/* The body of receive_messages: how many bytes of buf were received, or -1
 * with an exception set. The frames queued hold copies of their payloads:
 * buf may be read into again once this returns. */
static Py_ssize_t
receive_run(PyObject *protocol, const unsigned char *buf, Py_ssize_t len, PyObject *queue,
            const RunOptions *options)
{
    PyObject *run = PyList_New(0);
    if (run == NULL) {
        return -1;
    }
    PyObject *failure = NULL;
    Py_ssize_t end = read_run_inflating(buf, len, options, run, &failure);
    if (end >= 0 && end < len && failure == NULL && options->extension == Py_None) {
        Py_ssize_t started = wskit_start_payload(protocol, buf + end, len - end,
                                                 options->masked, options->max_message,
                                                 options->max_fragment);
        end = started < 0 ? -1 : end + started;
    }
    if (end > 0 &&
        (wskit_count_received(protocol, end, PyList_GET_SIZE(run)) < 0 ||
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
    return end;
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
"would fail it. Without it, an unfragmented binary frame after the run\n"
"whose payload goes in place (see Protocol.incoming_payload) and is within\n"
"both limits starts that payload, as the general rules would start it.\n"
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
    RunOptions options = {.max_message_size = args[4], .extension = args[6]};
    if (wskit_get_limit(args[7], &options.max_compressed) < 0 ||
        wskit_run_options(args + 3, &options.masked, &options.max_message,
                          &options.max_fragment) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (get_bytes_view(args[1], &view) < 0) {
        return NULL;
    }
    Py_ssize_t end =
        receive_run(args[0], (const unsigned char *)view.buf, view.len, args[2], &options);
    PyBuffer_Release(&view);
    return end < 0 ? NULL : PyLong_FromSsize_t(end);
}

int
wskit_receive_frame(PyObject *protocol, Py_ssize_t nbytes, PyObject *frame, PyObject *queue)
{
    PyObject *run = PyList_New(1);
    if (run == NULL) {
        return -1;
    }
    PyList_SET_ITEM(run, 0, Py_NewRef(frame));
    int status =
        wskit_count_received(protocol, nbytes, 1) < 0 || queue_frames(queue, run) < 0 ? -1 : 0;
    Py_DECREF(run);
    return status;
}

/* Whether the core has nothing in progress or pending that the frames of
 * a run would have to wait for, as FrameReceiver.receive_messages() checks,
 * in its order: 1, 0, or -1 with an exception set. */
static int
core_idle(PyObject *protocol)
{
    PyObject *state = wskit_field_get(protocol, &wskit_fields.core.state);
    if (state == NULL) {
        return -1;
    }
    int idle = state == wskit_state_open;
    Py_DECREF(state);
    Field *const nones[] = {&wskit_fields.core.reading, &wskit_fields.core.incoming_payload,
                            &wskit_fields.core.message_opcode};
    PyObject *const expected[] = {reading_frames, Py_None, Py_None};
    for (size_t i = 0; idle == 1 && i < sizeof(nones) / sizeof(nones[0]); i++) {
        PyObject *value = wskit_field_get(protocol, nones[i]);
        if (value == NULL) {
            return -1;
        }
        idle = value == expected[i];
        Py_DECREF(value);
    }
    Field *const empties[] = {&wskit_fields.core.buffer, &wskit_fields.core.text_checked,
                              &wskit_fields.core.debug, &wskit_fields.core.events,
                              &wskit_fields.core.writes};
    for (size_t i = 0; idle == 1 && i < sizeof(empties) / sizeof(empties[0]); i++) {
        int truth = wskit_field_is_true(protocol, empties[i]);
        idle = truth < 0 ? -1 : !truth;
    }
    return idle;
}

/* The options of the core's run, as FrameReceiver.receive_messages() gives
 * them: 1, 0 when an extension other than permessage-deflate alone is
 * negotiated, or -1 with an exception set. New references in *options. */
static int
core_options(PyObject *protocol, RunOptions *options)
{
    PyObject *extensions = wskit_field_get(protocol, &wskit_fields.core.extensions);
    if (extensions == NULL) {
        return -1;
    }
    int any = wskit_truth(extensions);
    options->extension = Py_NewRef(Py_None);
    if (any != 0) {
        /* permessage-deflate alone, not a subclass (see _deflate_alone) */
        Py_ssize_t count = any < 0 ? -1 : PyObject_Size(extensions);
        PyObject *first = count == 1 ? PySequence_GetItem(extensions, 0) : NULL;
        if (first != NULL && Py_TYPE(first) == (PyTypeObject *)deflate_type) {
            Py_SETREF(options->extension, first);
        }
        else {
            Py_XDECREF(first);
            Py_DECREF(extensions);
            return PyErr_Occurred() ? -1 : 0;
        }
    }
    Py_DECREF(extensions);
    options->max_message_size = wskit_field_get(protocol, &wskit_fields.core.max_message_size);
    if (options->max_message_size == NULL ||
        wskit_get_limit(options->max_message_size, &options->max_message) < 0) {
        return -1;
    }
    PyObject *max_fragment_size = wskit_field_get(protocol, &wskit_fields.core.max_fragment_size);
    if (max_fragment_size == NULL) {
        return -1;
    }
    int status = wskit_get_limit(max_fragment_size, &options->max_fragment);
    int fragment_limit = max_fragment_size != Py_None;
    Py_DECREF(max_fragment_size);
    PyObject *side = status < 0 ? NULL : wskit_field_get(protocol, &wskit_fields.core.side);
    if (side == NULL) {
        return -1;
    }
    options->masked = side == wskit_side_server;
    Py_DECREF(side);
    /* The bound that _check_header() puts on a compressed frame (see
     * _deflate_bound). */
    Py_ssize_t limit = fragment_limit ? options->max_fragment : options->max_message;
    options->max_compressed = PY_SSIZE_T_MAX;
    if (options->extension != Py_None &&
        (fragment_limit || options->max_message_size != Py_None)) {
        if (limit > (PY_SSIZE_T_MAX - 64) / 17 * 16) {
            /* as wskit_get_limit() refuses the bound in Python */
            PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to C ssize_t");
            return -1;
        }
        options->max_compressed = limit < 0 ? limit : limit + (limit >> 4) + 64;
    }
    return 1;
}

/* Whether a core of this type has the core's method `core` (named `name`),
 * not one of its own. Remembered for two types (a client's and a server's)
 * by their version tags, which change when a class attribute does: a check
 * per read, where a lookup would go through the type cache, whose entries
 * other lookups may take (a miss walks the MRO). */
typedef struct {
    struct {
        PyTypeObject *type;  /* borrowed: a version tag is never reused */
        unsigned int version;
        int is_core;
    } seen[2];
    int next;
} CoreMethod;

static int
core_has(PyTypeObject *type, CoreMethod *method, PyObject *name, PyObject *core)
{
    int valid = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG);
    for (int i = 0; valid && i < 2; i++) {
        if (method->seen[i].type == type && method->seen[i].version == type->tp_version_tag) {
            return method->seen[i].is_core;
        }
    }
    int is_core = _PyType_Lookup(type, name) == core;
    /* The lookup gives the type a version tag, if it can have one. */
    if (PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        int next = method->next;
        method->seen[next].type = type;
        method->seen[next].version = type->tp_version_tag;
        method->seen[next].is_core = is_core;
        method->next = next ^ 1;
    }
    return is_core;
}

static int
core_receives_messages(PyTypeObject *type)
{
    static CoreMethod method;
    return core_has(type, &method, str_receive_messages, core_receive_messages);
}

int
wskit_core_receives_payload_end(PyTypeObject *type)
{
    static CoreMethod method;
    if (wskit_import_receiving() < 0) {
        return -1;
    }
    return core_has(type, &method, str_receive_payload_end, core_receive_payload_end);
}

Py_ssize_t
wskit_receive_messages(PyObject *protocol, PyObject *data, Py_ssize_t size, PyObject *queue)
{
    if (wskit_import_receiving() < 0) {
        return -1;
    }
    if (!core_receives_messages(Py_TYPE(protocol))) {
        /* A core of its own: its own receive_messages(). */
        PyObject *sliced = PySequence_GetSlice(data, 0, size);
        if (sliced == NULL) {
            return -1;
        }
        PyObject *call_args[3] = {protocol, sliced, queue};
        PyObject *result = PyObject_VectorcallMethod(str_receive_messages, call_args, 3, NULL);
        Py_DECREF(sliced);
        Py_ssize_t taken = result == NULL ? -1 : PyLong_AsSsize_t(result);
        Py_XDECREF(result);
        return taken;
    }
    int idle = core_idle(protocol);
    if (idle <= 0) {
        return idle;
    }
    RunOptions options = {.max_message_size = NULL, .extension = NULL};
    int ready = core_options(protocol, &options);
    Py_ssize_t taken = ready;
    if (ready > 0) {
        Py_buffer view;
        taken = get_bytes_view(data, &view);
        if (taken == 0) {
            /* data[:size] */
            Py_ssize_t len = size < 0 ? Py_MAX(view.len + size, 0) : Py_MIN(size, view.len);
            taken = receive_run(protocol, (const unsigned char *)view.buf, len, queue,
                                &options);
            PyBuffer_Release(&view);
        }
    }
    Py_XDECREF(options.max_message_size);
    Py_XDECREF(options.extension);
    return taken;
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
"A message of max_length bytes or more (None for no limit), unmasked, goes\n"
"after its header as it is, if it is bytes (or a str, encoded): the two\n"
"are returned, counted, as send_frame() queues a server's long payload.\n"
"\n"
"Returns:\n"
"    The frame, (header, payload), or None when the message is of another\n"
"    type, fails to encode or to export a contiguous buffer, or has\n"
"    max_length bytes or more and isn't bytes: the caller then takes the\n"
"    general path.\n");

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
    PyObject *payload = encoded != NULL ? encoded : message;
    Py_ssize_t sent = data.len;  /* with the header, below */
    if (data.len >= max_length) {
        /* bytes go after their header, as they are (see send_frame());
         * another type could change before it is written. */
        frame = Py_NewRef(Py_None);
        if (PyBytes_CheckExact(payload)) {
            PyObject *header = wskit_frame_header(first, data.len);
            Py_SETREF(frame, header == NULL ? NULL : PyTuple_Pack(2, header, payload));
            sent += header == NULL ? 0 : PyBytes_GET_SIZE(header);
            Py_XDECREF(header);
        }
    }
    else {
        frame = extension != Py_None ? build_compressed_frame(extension, first, payload, mask)
                                     : wskit_build_frame(first, &data, mask);
        sent = frame == NULL ? 0 : PyBytes_GET_SIZE(frame);
    }
    PyBuffer_Release(&data);
    Py_XDECREF(encoded);
    if (frame == NULL || frame == Py_None) {
        return frame;
    }
    if (wskit_count_sent(protocol, sent, 1) < 0) {
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

int
wskit_messages_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_pause, "pause"},
        {&str_inflate, "inflate"},
        {&str_deflate, "deflate"},
        {&str_fail_on_parse_error, "_fail_on_parse_error"},
        {&str_receive_messages, "receive_messages"},
        {&str_receive_payload_end, "receive_payload_end"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, messages_methods);
}
