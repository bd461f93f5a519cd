/*
 * wskit._speedups: PayloadBuffer, the payload of a long frame, unmasked into
 * place as it arrives, so that each byte is copied once instead of twice
 * (into the parser's buffer, then out of it). The bytes object is filled in place
 * before anyone else sees it: nobody gets it before take(). The views that
 * write() returns are exported by the PayloadBuffer itself, not by the
 * bytes: hashing a view would hash the bytes and keep that hash, while they
 * are still being filled. window() lends the missing part, writable, so that
 * a socket reads straight into it and advance() unmasks it in place: the
 * bytes are then copied by the kernel only. Whoever borrows it writes there
 * before calling advance(), and never after.
 *
 * The asyncio read path's ends of a long binary payload are here too: its
 * start, after the run of whole messages of a read (wskit_start_payload),
 * and its end straight to recv()'s queue (receive_payload_end).
 */

#include "_speedups.h"

typedef struct {
    PyObject_HEAD
    PyObject *payload;  /* bytes being filled, kept for the views once taken */
    Py_ssize_t filled;
    unsigned char key[4];
    int masked;
    int taken;
    int lending;  /* window() is making a writable view */
} PayloadBufferObject;

static PyObject *
PayloadBuffer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"length", "mask_key", NULL};
    Py_ssize_t length;
    PyObject *mask_key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nO:PayloadBuffer", keywords, &length,
                                     &mask_key)) {
        return NULL;
    }
    if (length < 0) {
        PyErr_SetString(PyExc_ValueError, "length must be positive or zero");
        return NULL;
    }
    unsigned char key[4] = {0, 0, 0, 0};
    if (mask_key != Py_None && wskit_read_mask_key(mask_key, key) < 0) {
        return NULL;
    }
    PayloadBufferObject *self = (PayloadBufferObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->payload = PyBytes_FromStringAndSize(NULL, length);
    if (self->payload == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    memcpy(self->key, key, 4);
    self->masked = mask_key != Py_None;
    return (PyObject *)self;
}

static void
PayloadBuffer_dealloc(PayloadBufferObject *self)
{
    Py_XDECREF(self->payload);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The payload, for the views that write(), advance() and window() return:
 * read-only, except for window()'s. */
static int
PayloadBuffer_getbuffer(PayloadBufferObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->payload),
                             PyBytes_GET_SIZE(self->payload), !self->lending, flags);
}

static int
payload_check_not_taken(PayloadBufferObject *self)
{
    if (self->taken) {
        PyErr_SetString(PyExc_ValueError, "the payload was taken already");
        return -1;
    }
    return 0;
}

/* A view of payload[start:end], exported by the PayloadBuffer. */
static PyObject *
payload_view(PayloadBufferObject *self, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *whole = PyMemoryView_FromObject((PyObject *)self);
    if (whole == NULL) {
        return NULL;
    }
    PyObject *view = PySequence_GetSlice(whole, start, end);
    Py_DECREF(whole);
    return view;
}

/* Add `size` bytes from `in` to the payload, unmasked, and return a
 * read-only view of them. `in` may be where they go: see advance(). */
static PyObject *
payload_add(PayloadBufferObject *self, const unsigned char *in, Py_ssize_t size)
{
    Py_ssize_t start = self->filled;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(self->payload) + start;
    /* The key continues where the bytes written so far stopped. */
    unsigned char key[4];
    for (int i = 0; i < 4; i++) {
        key[i] = self->key[(start + i) % 4];
    }
    if (self->masked || in != out) {
        int release = size > RELEASE_GIL_THRESHOLD;
        PyThreadState *state = release ? PyEval_SaveThread() : NULL;
        wskit_copy_payload(in, out, size, self->masked ? key : NULL);
        if (release) {
            PyEval_RestoreThread(state);
        }
    }
    self->filled = start + size;
    return payload_view(self, start, start + size);
}

static Py_ssize_t
buffer_missing(PayloadBufferObject *self)
{
    return self->taken ? 0 : PyBytes_GET_SIZE(self->payload) - self->filled;
}

static PyObject *
PayloadBuffer_get_missing(PayloadBufferObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(buffer_missing(self));
}

static PyObject *
PayloadBuffer_write(PayloadBufferObject *self, PyObject *data)
{
    Py_buffer view;
    if (get_bytes_view(data, &view) < 0) {
        return NULL;
    }
    if (payload_check_not_taken(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(self->payload) - self->filled;
    if (view.len < size) {
        size = view.len;
    }
    PyObject *added = payload_add(self, (const unsigned char *)view.buf, size);
    PyBuffer_Release(&view);
    return added;
}

static PyObject *
PayloadBuffer_window(PayloadBufferObject *self, PyObject *Py_UNUSED(ignored))
{
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    self->lending = 1;
    PyObject *window = payload_view(self, self->filled, PyBytes_GET_SIZE(self->payload));
    self->lending = 0;
    return window;
}

static PyObject *
PayloadBuffer_advance(PayloadBufferObject *self, PyObject *arg)
{
    Py_ssize_t size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    if (size < 0 || size > PyBytes_GET_SIZE(self->payload) - self->filled) {
        PyErr_Format(PyExc_ValueError, "cannot advance by %zd bytes when %zd are missing",
                     size, PyBytes_GET_SIZE(self->payload) - self->filled);
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)PyBytes_AS_STRING(self->payload) + self->filled;
    return payload_add(self, in, size);
}

static PyObject *
PayloadBuffer_take(PayloadBufferObject *self, PyObject *Py_UNUSED(ignored))
{
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    if (self->filled < PyBytes_GET_SIZE(self->payload)) {
        PyErr_SetString(PyExc_ValueError, "the payload is incomplete");
        return NULL;
    }
    self->taken = 1;
    return Py_NewRef(self->payload);
}

static PyMethodDef PayloadBuffer_methods[] = {
    {"write", (PyCFunction)PayloadBuffer_write, METH_O,
     "Add the next bytes received; return a read-only view of those added, unmasked."},
    {"window", (PyCFunction)PayloadBuffer_window, METH_NOARGS,
     "Return a writable view of the missing part, to receive bytes straight into it."},
    {"advance", (PyCFunction)PayloadBuffer_advance, METH_O,
     "Add the nbytes written at the start of window(); return a read-only view of them, "
     "unmasked."},
    {"take", (PyCFunction)PayloadBuffer_take, METH_NOARGS,
     "Return the whole payload; the buffer is empty afterwards."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef PayloadBuffer_getset[] = {
    {"missing", (getter)PayloadBuffer_get_missing, NULL,
     "How many bytes of the payload have yet to arrive.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyBufferProcs PayloadBuffer_as_buffer = {
    .bf_getbuffer = (getbufferproc)PayloadBuffer_getbuffer,
};

static PyTypeObject PayloadBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.PayloadBuffer",
    .tp_basicsize = sizeof(PayloadBufferObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The payload of a long frame, unmasked into place as it arrives.",
    .tp_new = PayloadBuffer_new,
    .tp_dealloc = (destructor)PayloadBuffer_dealloc,
    .tp_methods = PayloadBuffer_methods,
    .tp_getset = PayloadBuffer_getset,
    .tp_as_buffer = &PayloadBuffer_as_buffer,
};

static PyObject *str_write, *str_payload_header, *str_advance, *str_take, *str_missing,
    *str_receive_payload_end;

/* The payload, and (first byte, opcode, length) as the core keeps them. */
static int
set_incoming_payload(PyObject *protocol, PyObject *payload, Py_ssize_t length)
{
    PyObject *header = Py_BuildValue("(iOn)", 0x82, wskit_binary_opcode, length);
    if (header == NULL) {
        return -1;
    }
    int status = PyObject_SetAttr(protocol, str_payload_header, header);
    Py_DECREF(header);
    if (status < 0) {
        return -1;
    }
    return wskit_field_set(protocol, &wskit_fields.core.incoming_payload, payload);
}

Py_ssize_t
wskit_start_payload(PyObject *protocol, const unsigned char *buf, Py_ssize_t len, int masked,
                    Py_ssize_t max_message, Py_ssize_t max_fragment)
{
    Py_ssize_t start;
    uint64_t length;
    if (!wskit_binary_frame_start(buf, len, masked, &start, &length)) {
        return 0;  /* incomplete, another frame, or a length the general rules refuse */
    }
    if (wskit_import_receiving() < 0) {
        return -1;
    }
    /* Too long to arrive as the rule wants, or for a limit: declined. */
    Py_ssize_t size = length > (uint64_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)length;
    Py_ssize_t arrived = len - start;
    if (size < wskit_long_payload || size > max_message || size > max_fragment ||
        arrived >= size || arrived > PY_SSIZE_T_MAX / wskit_long_payload_arrived ||
        arrived * wskit_long_payload_arrived < size) {
        return 0;
    }
    PyObject *key = masked ? PyBytes_FromStringAndSize((const char *)buf + start - 4, 4)
                           : Py_NewRef(Py_None);
    PyObject *payload = NULL;
    if (key != NULL) {
        payload = PyObject_CallFunction(wskit_payload_type, "nO", size, key);
        Py_DECREF(key);
    }
    PyObject *added = NULL;
    if (payload != NULL && Py_IS_TYPE(payload, &PayloadBufferType)) {
        added = payload_add((PayloadBufferObject *)payload, buf + start, arrived);
    }
    else if (payload != NULL) {  /* the twin: through its write() */
        PyObject *chunk = PyMemoryView_FromMemory((char *)buf + start, arrived, PyBUF_READ);
        added = chunk == NULL ? NULL : PyObject_CallMethodOneArg(payload, str_write, chunk);
        Py_XDECREF(chunk);
    }
    Py_XDECREF(added);
    int status = added == NULL ? -1 : set_incoming_payload(protocol, payload, size);
    Py_XDECREF(payload);
    return status < 0 ? -1 : len;
}

PyDoc_STRVAR(receive_payload_end_doc,
"receive_payload_end(protocol, payload, nbytes, queue, /)\n"
"--\n"
"\n"
"Receive the nbytes that end a long binary payload into queue, as a whole\n"
"message.\n"
"\n"
"For Protocol.receive_payload_end(), once it has checked that its general\n"
"rules have nothing to do with the message: payload (its incoming_payload,\n"
"which it has let go) advances by nbytes, its last, and the message goes\n"
"to queue as FrameQueue.put() would add it, counted in\n"
"protocol.bytes_received and protocol.frames_received as receive_into()\n"
"and events_received() would count it.");

/* receive_payload_end()'s action: 0, or -1 with an exception set. */
static int
end_payload(PyObject *protocol, PyObject *payload, PyObject *count, Py_ssize_t nbytes,
            PyObject *queue)
{
    /* By name: the core's payload may be the pure-Python twin's. */
    PyObject *added = PyObject_CallMethodOneArg(payload, str_advance, count);
    if (added == NULL) {
        return -1;
    }
    Py_DECREF(added);
    PyObject *data = PyObject_CallMethodNoArgs(payload, str_take);
    PyObject *frame = data == NULL ? NULL : wskit_message_frame(2, data);
    Py_XDECREF(data);
    int status = frame == NULL ? -1 : wskit_receive_frame(protocol, nbytes, frame, queue);
    Py_XDECREF(frame);
    return status;
}

static PyObject *
receive_payload_end(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "receive_payload_end() takes 4 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    Py_ssize_t nbytes = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (nbytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (end_payload(args[0], args[1], args[2], nbytes, args[3]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

Py_ssize_t
wskit_payload_missing(PyObject *payload)
{
    if (Py_IS_TYPE(payload, &PayloadBufferType)) {
        return buffer_missing((PayloadBufferObject *)payload);
    }
    /* By name: the core's payload may be the pure-Python twin's. */
    PyObject *missing = PyObject_GetAttr(payload, str_missing);
    if (missing == NULL) {
        return -1;
    }
    Py_ssize_t size = PyNumber_AsSsize_t(missing, NULL);
    Py_DECREF(missing);
    return size;
}

/* Whether the core lets the read end its payload this way, as
 * FrameReceiver.receive_payload_end() checks: 1, 0, or -1 with an exception
 * set. */
static int
payload_end_ready(PyObject *protocol, PyObject *payload, Py_ssize_t nbytes)
{
    PyObject *header = wskit_field_get(protocol, &wskit_fields.core.payload_header);
    if (header == NULL) {
        return -1;
    }
    int ready = PyTuple_CheckExact(header) && PyTuple_GET_SIZE(header) > 0 &&
        PyLong_CheckExact(PyTuple_GET_ITEM(header, 0)) &&
        PyLong_AsLong(PyTuple_GET_ITEM(header, 0)) == 0x82;
    Py_DECREF(header);
    if (!ready) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *state = wskit_field_get(protocol, &wskit_fields.core.state);
    if (state == NULL) {
        return -1;
    }
    ready = state == wskit_state_open;
    Py_DECREF(state);
    Field *const flags[] = {&wskit_fields.core.extensions, &wskit_fields.core.debug,
                            &wskit_fields.core.events, &wskit_fields.core.writes};
    for (size_t i = 0; ready > 0 && i < sizeof(flags) / sizeof(flags[0]); i++) {
        int truth = wskit_field_is_true(protocol, flags[i]);
        ready = truth != 0 ? (truth < 0 ? -1 : 0) : 1;
    }
    if (ready <= 0) {
        return ready;
    }
    Py_ssize_t missing = wskit_payload_missing(payload);
    if (missing == -1 && PyErr_Occurred()) {
        return -1;
    }
    return nbytes == missing;
}

int
wskit_receive_payload_end(PyObject *protocol, PyObject *count, PyObject *queue)
{
    int is_core = wskit_core_receives_payload_end(Py_TYPE(protocol));
    if (is_core <= 0) {
        if (is_core < 0) {
            return -1;
        }
        /* A core of its own: its own receive_payload_end(). */
        PyObject *call_args[3] = {protocol, count, queue};
        PyObject *result = PyObject_VectorcallMethod(str_receive_payload_end, call_args, 3, NULL);
        int taken = result == NULL ? -1 : PyObject_IsTrue(result);
        Py_XDECREF(result);
        return taken;
    }
    Py_ssize_t nbytes = PyNumber_AsSsize_t(count, PyExc_OverflowError);
    if (nbytes == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *payload = wskit_field_get(protocol, &wskit_fields.core.incoming_payload);
    if (payload == NULL) {
        return -1;
    }
    int ready = payload == Py_None ? 0 : payload_end_ready(protocol, payload, nbytes);
    if (ready > 0) {
        ready = wskit_field_set(protocol, &wskit_fields.core.incoming_payload, Py_None) < 0 ||
                end_payload(protocol, payload, count, nbytes, queue) < 0
            ? -1
            : 1;
    }
    Py_DECREF(payload);
    return ready;
}

static PyMethodDef payload_methods[] = {
    {"receive_payload_end", (PyCFunction)(void (*)(void))receive_payload_end, METH_FASTCALL,
     receive_payload_end_doc},
    {NULL, NULL, 0, NULL},
};

int
wskit_payload_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_write, "write"},
        {&str_payload_header, "_payload_header"},
        {&str_advance, "advance"},
        {&str_take, "take"},
        {&str_missing, "missing"},
        {&str_receive_payload_end, "receive_payload_end"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    if (PyType_Ready(&PayloadBufferType) < 0 ||
        PyModule_AddType(module, &PayloadBufferType) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, payload_methods);
}
