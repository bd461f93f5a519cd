/*
 * wskit._speedups: the frame codec (RFC 6455, section 5.2).
 *
 * - parse_header(), read_frame(): decode a frame header and, once it has
 *   arrived, the payload, unmasked, in one call per frame.
 * - build_frame(): a whole frame to send, masked with a random key or not,
 *   in one allocation.
 * - read_messages(): the common case of receiving, a run of frames that each
 *   carry a whole message, as Frame events.
 */

#include "_speedups.h"

/* ------------------------------------------------------------------------
 * Frame headers and payloads
 * ------------------------------------------------------------------------ */

/* Raise wskit.exceptions.ProtocolError. Looked up when needed: importing
 * wskit.exceptions while this module initializes could be circular. */
static void
raise_protocol_error(const char *message)
{
    PyObject *exceptions = PyImport_ImportModule("wskit.exceptions");
    if (exceptions == NULL) {
        return;
    }
    PyObject *error = PyObject_GetAttrString(exceptions, "ProtocolError");
    Py_DECREF(exceptions);
    if (error == NULL) {
        return;
    }
    PyErr_SetString(error, message);
    Py_DECREF(error);
}

/* What a header says. `size` is 0 while the header is incomplete. */
typedef struct {
    Py_ssize_t size;  /* bytes of header, mask key included */
    unsigned char first;
    int masked;
    uint64_t length;
    const unsigned char *key;
} header_t;

/* Decode the header at `p`, of which `available` bytes have arrived.
 * Return -1 with ProtocolError set if the length is invalid. */
static int
decode_header(const unsigned char *p, Py_ssize_t available, header_t *header)
{
    header->size = 0;
    if (available < 2) {
        return 0;
    }
    Py_ssize_t size = 2;
    uint64_t length = p[1] & 0x7F;
    if (length == 126) {
        if (available < 4) {
            return 0;
        }
        length = ((uint64_t)p[2] << 8) | p[3];
        size = 4;
    }
    else if (length == 127) {
        if (available < 10) {
            return 0;
        }
        length = 0;
        for (int i = 2; i < 10; i++) {
            length = (length << 8) | p[i];
        }
        /* "the most significant bit MUST be 0" */
        if (length >> 63) {
            raise_protocol_error("payload length has its most significant bit set");
            return -1;
        }
        size = 10;
    }
    header->masked = (p[1] & 0x80) != 0;
    header->key = NULL;
    if (header->masked) {
        if (available < size + 4) {
            return 0;
        }
        header->key = p + size;
        size += 4;
    }
    header->first = p[0];
    header->length = length;
    header->size = size;
    return 0;
}

/* Shared by parse_header() and read_frame(): check the arguments, get a view
 * of the buffer and decode the header at the offset. */
static int
start_parsing(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_buffer *view,
              Py_ssize_t *offset, header_t *header)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 1 or 2 arguments (%zd given)", name, nargs);
        return -1;
    }
    *offset = 0;
    if (nargs == 2) {
        *offset = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
        if (*offset == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    if (get_bytes_view(args[0], view) < 0) {
        return -1;
    }
    if (*offset < 0 || *offset > view->len) {
        PyErr_Format(PyExc_ValueError, "offset %zd out of range", *offset);
        PyBuffer_Release(view);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)view->buf + *offset;
    if (decode_header(p, view->len - *offset, header) < 0) {
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(parse_header_doc,
"parse_header(buffer, offset=0, /)\n"
"--\n"
"\n"
"Decode the header of the frame that starts at buffer[offset].\n"
"\n"
"Returns:\n"
"    None if buffer does not hold the whole header yet; otherwise\n"
"    (first_byte, payload_length, payload_offset, mask_key), mask_key\n"
"    being None for an unmasked frame.\n"
"\n"
"Raises:\n"
"    ProtocolError: The 64-bit payload length has its top bit set.\n"
"    ValueError: offset is outside buffer.\n");

static PyObject *
parse_header(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t offset;
    header_t header;

    if (start_parsing("parse_header", args, nargs, &view, &offset, &header) < 0) {
        return NULL;
    }
    PyObject *result;
    if (header.size == 0) {
        result = Py_NewRef(Py_None);
    }
    else if (header.masked) {
        result = Py_BuildValue("(iKny#)", header.first, (unsigned long long)header.length,
                               offset + header.size, header.key, (Py_ssize_t)4);
    }
    else {
        result = Py_BuildValue("(iKnO)", header.first, (unsigned long long)header.length,
                               offset + header.size, Py_None);
    }
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(read_frame_doc,
"read_frame(buffer, offset=0, /)\n"
"--\n"
"\n"
"Decode the frame that starts at buffer[offset], as far as it has arrived.\n"
"\n"
"Returns:\n"
"    None if buffer does not hold the whole header yet; otherwise\n"
"    (first_byte, masked, payload_length, frame_end, payload), payload\n"
"    being the unmasked payload as bytes, or None until all of it is in\n"
"    buffer.\n"
"\n"
"Raises:\n"
"    ProtocolError: The 64-bit payload length has its top bit set.\n"
"    ValueError: offset is outside buffer.\n");

static PyObject *
read_frame(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t offset;
    header_t header;

    if (start_parsing("read_frame", args, nargs, &view, &offset, &header) < 0) {
        return NULL;
    }
    if (header.size == 0) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    Py_ssize_t start = offset + header.size;
    /* Less than 2**63 each: the sum fits. */
    uint64_t end = (uint64_t)start + header.length;
    PyObject *payload;
    if (end > (uint64_t)view.len) {
        payload = Py_NewRef(Py_None);
    }
    else {
        Py_ssize_t length = (Py_ssize_t)header.length;
        payload = PyBytes_FromStringAndSize(NULL, length);
        if (payload == NULL) {
            PyBuffer_Release(&view);
            return NULL;
        }
        const unsigned char *in = (const unsigned char *)view.buf + start;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(payload);
        /* Without the GIL for long payloads, as in apply_mask(): holding the
         * buffer export stops a bytearray from being resized under us. */
        int release = length > RELEASE_GIL_THRESHOLD;
        PyThreadState *state = release ? PyEval_SaveThread() : NULL;
        wskit_copy_payload(in, out, length, header.masked ? header.key : NULL);
        if (release) {
            PyEval_RestoreThread(state);
        }
    }
    PyBuffer_Release(&view);
    PyObject *result = Py_BuildValue("(iOKKN)", header.first,
                                     header.masked ? Py_True : Py_False,
                                     (unsigned long long)header.length,
                                     (unsigned long long)end, payload);
    return result;
}

/* ------------------------------------------------------------------------
 * Whole frames: building one to send, reading runs of whole messages
 * ------------------------------------------------------------------------ */

/* Masking keys come from os.urandom() a batch at a time: a system call per
 * frame costs more than building a small frame. A forked child must not send
 * its parent's next keys, so fork empties the batch (see init_mask_keys). */
#define MASK_KEYS_BATCH 1024  /* bytes: 256 keys */
static unsigned char mask_keys[MASK_KEYS_BATCH];
static Py_ssize_t mask_keys_used = MASK_KEYS_BATCH;
static PyObject *urandom;  /* os.urandom */

static int
next_mask_key(unsigned char key[4])
{
    if (mask_keys_used == MASK_KEYS_BATCH) {
        PyObject *batch = PyObject_CallFunction(urandom, "n", (Py_ssize_t)MASK_KEYS_BATCH);
        if (batch == NULL) {
            return -1;
        }
        memcpy(mask_keys, PyBytes_AS_STRING(batch), MASK_KEYS_BATCH);
        Py_DECREF(batch);
        mask_keys_used = 0;
    }
    memcpy(key, mask_keys + mask_keys_used, 4);
    mask_keys_used += 4;
    return 0;
}

static PyObject *
forget_mask_keys(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mask_keys_used = MASK_KEYS_BATCH;
    Py_RETURN_NONE;
}

static PyMethodDef forget_mask_keys_def = {
    "forget_mask_keys", forget_mask_keys, METH_NOARGS, NULL,
};

/* A client masks every frame into a new bytes object. When that is 1 MiB
 * and the application keeps the last message it received, freeing it leaves
 * enough free memory at the top of glibc's heap to be trimmed, and the next
 * long message maps it again: hundreds of page faults per round trip (see
 * ARCHITECTURE.md, Performance devices). So the last long frame built stays
 * here, and the next frame of the same size is built into it if nothing else
 * holds it any more: with a reference count of 1, nobody can see it change.
 * Frames of up to SPARE_FRAME_MAX bytes only, so that this keeps little
 * memory. */
#define SPARE_FRAME_MIN (64 * 1024)
#define SPARE_FRAME_MAX (4 * 1024 * 1024)
static PyObject *spare_frame;

static PyObject *
new_frame(Py_ssize_t size)
{
    if (size < SPARE_FRAME_MIN || size > SPARE_FRAME_MAX) {
        return PyBytes_FromStringAndSize(NULL, size);
    }
    if (spare_frame != NULL && Py_REFCNT(spare_frame) == 1
            && PyBytes_GET_SIZE(spare_frame) == size) {
        /* Its hash, if anyone took it, was of what it held then. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
        ((PyBytesObject *)spare_frame)->ob_shash = -1;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
        Py_INCREF(spare_frame);
        return spare_frame;
    }
    PyObject *frame = PyBytes_FromStringAndSize(NULL, size);
    if (frame != NULL) {
        Py_INCREF(frame);
        Py_XSETREF(spare_frame, frame);
    }
    return frame;
}

PyDoc_STRVAR(build_frame_doc,
"build_frame(first_byte, payload, mask, /)\n"
"--\n"
"\n"
"Serialize a frame: header, then payload, masked with a random key if mask\n"
"is true (RFC 6455, section 5.2), in a single bytes object.\n"
"\n"
"Args:\n"
"    first_byte: FIN, RSV1-3 and the opcode.\n"
"    payload: Any C-contiguous bytes-like object.\n"
"    mask: Whether to mask the payload (clients must, servers must not).\n"
"\n"
"Raises:\n"
"    ValueError: first_byte is not between 0 and 255.\n");

static PyObject *
build_frame(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "build_frame() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    long first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (first < 0 || first > 255) {
        PyErr_Format(PyExc_ValueError, "first_byte %ld out of range", first);
        return NULL;
    }
    int mask = PyObject_IsTrue(args[2]);
    if (mask < 0) {
        return NULL;
    }
    Py_buffer data;
    if (get_bytes_view(args[1], &data) < 0) {
        return NULL;
    }
    PyObject *result = wskit_build_frame((unsigned char)first, &data, mask);
    PyBuffer_Release(&data);
    return result;
}

/* Write the header of a frame of `length` bytes at `out`, up to its mask
 * key; return its size. */
static Py_ssize_t
write_header(unsigned char *out, unsigned char first, Py_ssize_t length, unsigned char mask_bit)
{
    out[0] = first;
    if (length < 126) {
        out[1] = mask_bit | (unsigned char)length;
        return 2;
    }
    if (length < 65536) {
        out[1] = mask_bit | 126;
        out[2] = (unsigned char)(length >> 8);
        out[3] = (unsigned char)length;
        return 4;
    }
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (unsigned char)((uint64_t)length >> (56 - 8 * i));
    }
    return 10;
}

PyObject *
wskit_frame_header(unsigned char first, Py_ssize_t length)
{
    unsigned char header[10];
    Py_ssize_t size = write_header(header, first, length, 0);
    return PyBytes_FromStringAndSize((const char *)header, size);
}

/* Build a frame of `data`'s bytes (see build_frame). */
PyObject *
wskit_build_frame(unsigned char first, Py_buffer *data, int mask)
{
    unsigned char key[4];
    if (mask && next_mask_key(key) < 0) {
        return NULL;
    }
    Py_ssize_t length = data->len;
    Py_ssize_t header_size = length < 126 ? 2 : length < 65536 ? 4 : 10;
    Py_ssize_t payload_start = header_size + (mask ? 4 : 0);
    if (length > PY_SSIZE_T_MAX - payload_start) {
        return PyErr_NoMemory();
    }
    PyObject *result = new_frame(payload_start + length);
    if (result == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    write_header(out, first, length, mask ? 0x80 : 0);
    const unsigned char *in = (const unsigned char *)data->buf;
    /* As in apply_mask(): the result is ours alone and the buffer export
     * stops a bytearray from being resized, so long copies can drop the GIL. */
    int release = length > RELEASE_GIL_THRESHOLD;
    PyThreadState *state = release ? PyEval_SaveThread() : NULL;
    if (mask) {
        memcpy(out + header_size, key, 4);
        wskit_mask_bytes(in, out + payload_start, length, key);
    }
    else {
        memcpy(out + payload_start, in, (size_t)length);
    }
    if (release) {
        PyEval_RestoreThread(state);
    }
    return result;
}

/* wskit.frames.Frame and Opcode.TEXT / Opcode.BINARY, for read_messages().
 * Looked up on first use: wskit.frames imports this module. */
static PyObject *frame_type, *text_opcode, *binary_opcode;

/* Where Frame's six fields live (its __slots__), in the order of its
 * __init__'s arguments; frame_slots[0] is -1 when they aren't all slots, and
 * Frame is then called. */
static const char *const frame_fields[6] = {"opcode", "data", "fin", "rsv1", "rsv2", "rsv3"};
static Py_ssize_t frame_slots[6] = {-1};

static void
find_frame_slots(void)
{
    PyTypeObject *type = (PyTypeObject *)frame_type;
    for (int i = 0; i < 6; i++) {
        PyObject *name = PyUnicode_InternFromString(frame_fields[i]);
        if (name == NULL) {
            PyErr_Clear();
            frame_slots[0] = -1;
            return;
        }
        frame_slots[i] = wskit_slot_offset(type, name);
        Py_DECREF(name);
        if (frame_slots[i] < 0) {
            frame_slots[0] = -1;
            return;
        }
    }
}

/* Frame(opcode, payload): when its fields are slots, they are set in place
 * as the dataclass's __init__ sets them (with their defaults), without a
 * Python call: a fifth of the cost. The tests compare with Frame(). */
static PyObject *
frame_event(PyObject *opcode, PyObject *payload)
{
    if (frame_slots[0] < 0) {
        PyObject *call_args[2] = {opcode, payload};
        return PyObject_Vectorcall(frame_type, call_args, 2, NULL);
    }
    PyTypeObject *type = (PyTypeObject *)frame_type;
    PyObject *frame = type->tp_alloc(type, 0);
    if (frame == NULL) {
        return NULL;
    }
    PyObject *values[6] = {opcode, payload, Py_True, Py_False, Py_False, Py_False};
    for (int i = 0; i < 6; i++) {
        *(PyObject **)((char *)frame + frame_slots[i]) = Py_NewRef(values[i]);
    }
    return frame;
}

static int
load_frame_types(void)
{
    PyObject *frames = PyImport_ImportModule("wskit.frames");
    if (frames == NULL) {
        return -1;
    }
    frame_type = PyObject_GetAttrString(frames, "Frame");
    text_opcode = PyObject_GetAttrString(frames, "TEXT");
    binary_opcode = PyObject_GetAttrString(frames, "BINARY");
    Py_DECREF(frames);
    if (frame_type == NULL || text_opcode == NULL || binary_opcode == NULL ||
        !PyType_Check(frame_type)) {
        Py_CLEAR(frame_type);
        Py_CLEAR(text_opcode);
        Py_CLEAR(binary_opcode);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "wskit.frames.Frame is not a class");
        }
        return -1;
    }
    find_frame_slots();
    return 0;
}

/* A size limit given as an int or None (no limit, returned as -1). */
int
wskit_get_limit(PyObject *obj, Py_ssize_t *limit)
{
    if (obj == Py_None) {
        *limit = PY_SSIZE_T_MAX;
        return 0;
    }
    if (PyLong_CheckExact(obj)) {
        /* The common case, read at every read and queued run: an int that
         * fits, without PyNumber_AsSsize_t()'s index protocol. */
        int overflow;
        long value = PyLong_AsLongAndOverflow(obj, &overflow);
        if (!overflow && (value != -1 || !PyErr_Occurred())) {
            *limit = (Py_ssize_t)value;
            return 0;
        }
        PyErr_Clear();  /* overflow: PyNumber_AsSsize_t() says so its way */
    }
    *limit = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    if (*limit == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(read_messages_doc,
"read_messages(buffer, offset, events, masked, max_message_size, max_fragment_size, /)\n"
"--\n"
"\n"
"Read the run of frames at buffer[offset] that each carry a whole message.\n"
"\n"
"Such a frame has FIN set, no reserved bit, opcode text or binary, the\n"
"expected mask bit, a payload within both limits (None for no limit) and,\n"
"for text, valid UTF-8. Each one is appended to events as a Frame with its\n"
"payload unmasked. The first frame that isn't complete or isn't such a\n"
"frame ends the run, unread: the caller applies the general rules to it.\n"
"\n"
"Returns:\n"
"    The offset where the run ends.\n"
"\n"
"Raises:\n"
"    ValueError: offset is outside buffer.\n");

/* The options of a run, given as (masked, max_message_size,
 * max_fragment_size) from `args`: 0, or -1 with an exception set. */
int
wskit_run_options(PyObject *const *args, int *masked, Py_ssize_t *max_message,
                  Py_ssize_t *max_fragment)
{
    *masked = PyObject_IsTrue(args[0]);
    if (*masked < 0 || wskit_get_limit(args[1], max_message) < 0 ||
        wskit_get_limit(args[2], max_fragment) < 0) {
        return -1;
    }
    return 0;
}

/* Whether the header at `p`, of which `available` bytes have arrived, is
 * there whole with a valid length (its top bit clear), decoded into
 * *header: the shortcuts leave any other frame to the general rules. */
static int
decode_whole_header(const unsigned char *p, Py_ssize_t available, header_t *header)
{
    if (decode_header(p, available, header) < 0) {
        PyErr_Clear();
        return 0;
    }
    return header->size != 0;
}

int
wskit_binary_frame_start(const unsigned char *buf, Py_ssize_t len, int masked,
                         Py_ssize_t *header_size, uint64_t *length)
{
    header_t header;
    if (!decode_whole_header(buf, len, &header) || header.first != 0x82 ||
        header.masked != masked) {
        return 0;
    }
    *header_size = header.size;
    *length = header.length;
    return 1;
}

/* Whether the frame at buf[offset:len] has arrived whole and carries a
 * whole message: FIN, the reserved bits `rsv` and no other, opcode text or
 * binary, the expected mask bit, a payload of at most `max_length` bytes
 * (negative: none fits). Its header goes to *header. */
static int
whole_message_frame(const unsigned char *buf, Py_ssize_t len, Py_ssize_t offset, int masked,
                    unsigned char rsv, Py_ssize_t max_length, header_t *header)
{
    if (!decode_whole_header(buf + offset, len - offset, header)) {
        return 0;
    }
    unsigned char opcode = header->first & 0x0F;
    return (header->first & 0xF0) == (0x80 | rsv) &&
           (opcode == 1 || opcode == 2) && header->masked == masked &&
           max_length >= 0 && header->length <= (uint64_t)max_length &&
           header->length <= (uint64_t)(len - offset - header->size);
}

/* The payload of such a frame, unmasked into a new bytes object; if
 * `check_utf8`, *valid says whether it is UTF-8 (else it is 1). */
static PyObject *
take_payload(const unsigned char *frame, const header_t *header, int check_utf8, int *valid)
{
    Py_ssize_t length = (Py_ssize_t)header->length;
    PyObject *payload = PyBytes_FromStringAndSize(NULL, length);
    if (payload == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(payload);
    int release = length > RELEASE_GIL_THRESHOLD;
    PyThreadState *state = release ? PyEval_SaveThread() : NULL;
    wskit_copy_payload(frame + header->size, out, length, header->masked ? header->key : NULL);
    *valid = !check_utf8 || wskit_utf8_valid(out, length);
    if (release) {
        PyEval_RestoreThread(state);
    }
    return payload;
}

/* A Frame of a whole text (opcode 1) or binary message: a new reference,
 * or NULL with an exception set. */
PyObject *
wskit_message_frame(unsigned char opcode, PyObject *payload)
{
    if (frame_type == NULL && load_frame_types() < 0) {
        return NULL;
    }
    return frame_event(opcode == 1 ? text_opcode : binary_opcode, payload);
}

/* Read the run of frames at buf[offset:len] that each carry a whole message
 * (see read_messages), appending a Frame for each to the list `events`.
 * Return the offset where the run ends, or -1 with an exception set. */
Py_ssize_t
wskit_read_run(const unsigned char *buf, Py_ssize_t len, Py_ssize_t offset, int masked,
               Py_ssize_t max_message, Py_ssize_t max_fragment, PyObject *events)
{
    Py_ssize_t max_length = max_message < max_fragment ? max_message : max_fragment;
    header_t header;
    while (whole_message_frame(buf, len, offset, masked, 0, max_length, &header)) {
        unsigned char opcode = header.first & 0x0F;
        int valid;
        PyObject *payload = take_payload(buf + offset, &header, opcode == 1, &valid);
        if (payload == NULL) {
            return -1;
        }
        if (!valid) {
            Py_DECREF(payload);
            break;
        }
        PyObject *frame = wskit_message_frame(opcode, payload);
        Py_DECREF(payload);
        if (frame == NULL) {
            return -1;
        }
        int appended = PyList_Append(events, frame);
        Py_DECREF(frame);
        if (appended < 0) {
            return -1;
        }
        offset += header.size + (Py_ssize_t)header.length;
    }
    return offset;
}

/* The frame at buf[offset:len] if it carries a whole compressed message:
 * as a frame of read_messages' run, with RSV1 set and a payload of at most
 * `max_length` bytes. Its first byte goes to *first and its payload,
 * unmasked, to *payload. Return where the frame ends; 0 if it isn't such a
 * frame; -1 with an exception set. */
Py_ssize_t
wskit_read_compressed(const unsigned char *buf, Py_ssize_t len, Py_ssize_t offset, int masked,
                      Py_ssize_t max_length, unsigned char *first, PyObject **payload)
{
    header_t header;
    if (!whole_message_frame(buf, len, offset, masked, 0x40, max_length, &header)) {
        return 0;
    }
    int valid;
    *payload = take_payload(buf + offset, &header, 0, &valid);
    if (*payload == NULL) {
        return -1;
    }
    *first = header.first;
    return offset + header.size + (Py_ssize_t)header.length;
}

static PyObject *
read_messages(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "read_messages() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *events = args[2];
    if (!PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "events must be a list");
        return NULL;
    }
    Py_ssize_t offset = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int masked;
    Py_ssize_t max_message, max_fragment;
    if (wskit_run_options(args + 3, &masked, &max_message, &max_fragment) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (get_bytes_view(args[0], &view) < 0) {
        return NULL;
    }
    if (offset < 0 || offset > view.len) {
        PyErr_Format(PyExc_ValueError, "offset %zd out of range", offset);
        PyBuffer_Release(&view);
        return NULL;
    }
    offset = wskit_read_run((const unsigned char *)view.buf, view.len, offset, masked,
                            max_message, max_fragment, events);
    PyBuffer_Release(&view);
    return offset < 0 ? NULL : PyLong_FromSsize_t(offset);
}

/* Keep os.urandom for the masking keys, and empty their batch in a forked
 * child (os.register_at_fork doesn't exist where there is no fork). */
static int
init_mask_keys(void)
{
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        return -1;
    }
    urandom = PyObject_GetAttrString(os, "urandom");
    PyObject *register_at_fork = PyObject_GetAttrString(os, "register_at_fork");
    Py_DECREF(os);
    if (urandom == NULL) {
        Py_XDECREF(register_at_fork);
        return -1;
    }
    if (register_at_fork == NULL) {
        PyErr_Clear();
        return 0;
    }
    int status = -1;
    PyObject *forget = PyCFunction_New(&forget_mask_keys_def, NULL);
    PyObject *args = PyTuple_New(0);
    PyObject *kwargs = forget == NULL ? NULL : Py_BuildValue("{sO}", "after_in_child", forget);
    if (args != NULL && kwargs != NULL) {
        PyObject *registered = PyObject_Call(register_at_fork, args, kwargs);
        status = registered == NULL ? -1 : 0;
        Py_XDECREF(registered);
    }
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(forget);
    Py_DECREF(register_at_fork);
    return status;
}

static PyMethodDef frames_methods[] = {
    {"parse_header", (PyCFunction)(void (*)(void))parse_header, METH_FASTCALL,
     parse_header_doc},
    {"read_frame", (PyCFunction)(void (*)(void))read_frame, METH_FASTCALL, read_frame_doc},
    {"build_frame", (PyCFunction)(void (*)(void))build_frame, METH_FASTCALL, build_frame_doc},
    {"read_messages", (PyCFunction)(void (*)(void))read_messages, METH_FASTCALL,
     read_messages_doc},
    {NULL, NULL, 0, NULL},
};

int
wskit_frames_init(PyObject *module)
{
    if (init_mask_keys() < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, frames_methods);
}
