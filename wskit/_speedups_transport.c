/*
 * wskit._speedups: SocketTransport, a socket transport for asyncio's own
 * selector event loop, in C. Its pure-Python twin is asyncio's
 * _SelectorSocketTransport (asyncio/selector_events.py), which it
 * replaces where wskit makes plain socket transports itself (see
 * wskit.asyncio.transport); the tests hold the two equal. The loop calls
 * it as it calls asyncio's: the reader and the writer it registers with
 * the loop are its own methods, _read_ready() and _write_ready().
 *
 * This file: starting, the protocol, reading paused and resumed, flow
 * control, the object. _speedups_transport_close.c: closing and failing, and
 * what the files share for calling the loop. _speedups_transport_io.c:
 * reading and writing.
 *
 * The type derives from asyncio's _FlowControlMixin, as asyncio's transport
 * does (isinstance checks, loop.sendfile()'s fallback): a heap type whose
 * object begins with the base's slots, unused.
 */

#include "_speedups_transport.h"

#include <structmember.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

TransportNames wskit_tn;
PyObject *wskit_asyncio_logger;
static PyObject *str_attach, *str_transports, *str_fileno, *str_getsockname,
    *str_getpeername, *str_peername, *str_sockname, *str_socket, *str_connection_made,
    *str_start_reading, *str_cancelled, *str_set_result, *str_is_closed, *str_selector;
/* asyncio.trsock.TransportSocket, asyncio.BufferedProtocol, and the
 * descriptors of _socket.socket's family, type and proto (plain ints). */
static PyObject *transport_socket_type, *buffered_protocol_type, *selector_events;
static PyObject *socket_family, *socket_kind, *socket_proto;

static PyObject *
Transport_set_protocol(Transport *self, PyObject *protocol)
{
    int buffered = PyObject_IsInstance(protocol, buffered_protocol_type);
    if (buffered < 0) {
        return NULL;
    }
    self->buffered = buffered;
    Py_XSETREF(self->protocol, Py_NewRef(protocol));
    self->protocol_connected = 1;
    Py_RETURN_NONE;
}

/* sock.<name>(), or None if it raises an OSError. */
static PyObject *
socket_address(PyObject *sock, PyObject *name)
{
    PyObject *address = PyObject_CallMethodNoArgs(sock, name);
    if (address == NULL && PyErr_ExceptionMatches(PyExc_OSError)) {
        PyErr_Clear();
        address = Py_NewRef(Py_None);
    }
    return address;
}

static int
socket_int(PyObject *descriptor, PyObject *sock, long *value)
{
    PyObject *number = Py_TYPE(descriptor)->tp_descr_get(descriptor, sock, NULL);
    *value = number == NULL ? -1 : PyLong_AsLong(number);
    Py_XDECREF(number);
    return *value == -1 && PyErr_Occurred() ? -1 : 0;
}

/* As asyncio's _set_nodelay(): no Nagle delay on TCP sockets. */
static int
set_nodelay(PyObject *sock, int fd)
{
    long family, kind, proto;
    if (socket_int(socket_family, sock, &family) < 0 || socket_int(socket_kind, sock, &kind) < 0
        || socket_int(socket_proto, sock, &proto) < 0) {
        return -1;
    }
    if ((family == AF_INET || family == AF_INET6) && kind == SOCK_STREAM && proto == IPPROTO_TCP) {
        int on = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

/* extra["socket"] = TransportSocket(sock), as asyncio's __init__ sets it: 0, or -1. */
static int
socket_info(Transport *self)
{
    PyObject *wrapper = PyObject_CallOneArg(transport_socket_type, self->socket_object);
    int status = wrapper == NULL ? -1 : PyObject_SetItem(self->extra, str_socket, wrapper);
    Py_XDECREF(wrapper);
    return status;
}

/* The extra info whole: with "socket", if it isn't there yet. 0, or -1. */
static int
whole_extra(Transport *self)
{
    if (self->extra == NULL || !PyDict_CheckExact(self->extra)) {
        return 0;  /* a mapping got it at once */
    }
    int known = PyDict_Contains(self->extra, str_socket);
    return known < 0 ? -1 : known ? 0 : socket_info(self);
}

/* What asyncio's __init__ does, but scheduling: extra info, the protocol,
 * the server, the loop's registry, TCP_NODELAY. */
static int
Transport_setup(Transport *self, PyObject *loop, PyObject *sock, PyObject *protocol,
                PyObject *extra, PyObject *server)
{
    self->high_water = 64 * 1024;
    self->low_water = 16 * 1024;
    self->loop = Py_NewRef(loop);
    self->extra = extra == Py_None ? PyDict_New() : Py_NewRef(extra);
    if (self->extra == NULL) {
        return -1;
    }
    /* The write buffer's list is made at the first write that waits, and
     * the socket's TransportSocket when asked for: most connections never
     * need either, and both would be tracked by the collector as long as
     * the connection is open. */
    self->socket_object = Py_NewRef(sock);
    int status = PyDict_CheckExact(self->extra) ? PyDict_Contains(self->extra, str_socket) : 1;
    if (status > 0) {  /* a mapping, or a socket given: replaced at once */
        status = socket_info(self);
    }
    PyObject *name = status < 0 ? NULL : socket_address(sock, str_getsockname);
    status = name == NULL ? -1 : PyObject_SetItem(self->extra, str_sockname, name);
    Py_XDECREF(name);
    int known = status < 0 ? -1 : PySequence_Contains(self->extra, str_peername);
    if (known == 0) {
        name = socket_address(sock, str_getpeername);
        known = name == NULL ? -1 : PyObject_SetItem(self->extra, str_peername, name);
        Py_XDECREF(name);
    }
    if (known < 0) {
        return -1;
    }
    self->sock = Py_NewRef(sock);
    PyObject *fd = PyObject_CallMethodNoArgs(sock, str_fileno);
    self->fd = fd == NULL ? -1 : (int)PyLong_AsLong(fd);
    Py_XDECREF(fd);
    if (self->fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *set = Transport_set_protocol(self, protocol);
    if (set == NULL) {
        return -1;
    }
    Py_DECREF(set);
    if (server != Py_None) {
        self->server = Py_NewRef(server);
        PyObject *attached = wskit_transport_server_call(self, str_attach);
        if (attached == NULL) {
            return -1;
        }
        Py_DECREF(attached);
    }
    PyObject *registry = PyObject_GetAttr(loop, str_transports);
    PyObject *key = registry == NULL ? NULL : PyLong_FromLong(self->fd);
    status = key == NULL ? -1 : PyObject_SetItem(registry, key, (PyObject *)self);
    Py_XDECREF(key);
    Py_XDECREF(registry);
    return status < 0 ? -1 : set_nodelay(sock, self->fd);
}

static PyObject *
Transport_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"loop", "sock", "protocol", "waiter", "extra", "server", "context",
                             NULL};
    PyObject *loop, *sock, *protocol, *waiter = Py_None, *extra = Py_None, *server = Py_None,
                                      *context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|OOO$O:SocketTransport", kwlist, &loop,
                                     &sock, &protocol, &waiter, &extra, &server, &context)) {
        return NULL;
    }
    if (context != Py_None && !PyContext_CheckExact(context)) {
        return PyErr_Format(PyExc_TypeError, "context must be a contextvars.Context or None");
    }
    Transport *self = (Transport *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->fd = -1;
    self->context = context == Py_None ? NULL : Py_NewRef(context);
    if (Transport_setup(self, loop, sock, protocol, extra, server) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    /* On the loop's next pass: connection_made(), then reading and the
     * waiter's result, in one callback (asyncio takes two). */
    PyObject *made = PyObject_GetAttr(protocol, str_connection_made);
    int status = made == NULL ? -1 : wskit_transport_call_soon_with(self, made, (PyObject *)self);
    Py_XDECREF(made);
    if (status < 0 || wskit_transport_call_soon(self, str_start_reading, waiter) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Everything was done by Transport_new: not the base's __init__(). */
static int
Transport_init(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    return 0;
}

static PyObject *
Transport_start_reading(Transport *self, PyObject *waiter)
{
    if (waiter != Py_None) {
        PyObject *cancelled = PyObject_CallMethodNoArgs(waiter, str_cancelled);
        int truth = cancelled == NULL ? -1 : PyObject_IsTrue(cancelled);
        Py_XDECREF(cancelled);
        if (truth < 0) {
            return NULL;
        }
        if (!truth) {
            PyObject *set = PyObject_CallMethodOneArg(waiter, str_set_result, Py_None);
            if (set == NULL) {
                return NULL;
            }
            Py_DECREF(set);
        }
    }
    if (!self->closing && !self->paused
        && wskit_transport_add_reader(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Transport_get_extra_info(Transport *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "default", NULL};
    PyObject *name, *default_value = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:get_extra_info", kwlist, &name,
                                     &default_value)) {
        return NULL;
    }
    if (!PyDict_CheckExact(self->extra)) {
        return PyObject_CallMethod(self->extra, "get", "OO", name, default_value);
    }
    int socket = name == str_socket;
    if (!socket && PyUnicode_CheckExact(name)) {
        socket = PyUnicode_Compare(name, str_socket) == 0;
    }
    if (socket && whole_extra(self) < 0) {
        return NULL;
    }
    PyObject *value = PyDict_GetItemWithError(self->extra, name);
    if (value == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return Py_NewRef(value == NULL ? default_value : value);
}

static PyObject *
Transport_get_protocol(Transport *self, PyObject *Py_UNUSED(unused))
{
    return Py_NewRef(self->protocol == NULL ? Py_None : self->protocol);
}

static PyObject *
Transport_is_closing(Transport *self, PyObject *Py_UNUSED(unused))
{
    return PyBool_FromLong(self->closing);
}

static PyObject *
Transport_is_reading(Transport *self, PyObject *Py_UNUSED(unused))
{
    return PyBool_FromLong(!self->closing && !self->paused);
}

static PyObject *
Transport_pause_reading(Transport *self, PyObject *Py_UNUSED(unused))
{
    if (self->closing || self->paused) {
        Py_RETURN_NONE;
    }
    self->paused = 1;
    if (wskit_transport_loop_fd(self, wskit_tn.remove_reader, NULL) < 0) {
        return NULL;
    }
    int debug = wskit_transport_debug(self);
    if (debug < 0 || (debug && wskit_transport_log(self, "%r pauses reading", NULL, NULL) < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Transport_resume_reading(Transport *self, PyObject *Py_UNUSED(unused))
{
    if (self->closing || !self->paused) {
        Py_RETURN_NONE;
    }
    self->paused = 0;
    if (wskit_transport_add_reader(self) < 0) {
        return NULL;
    }
    int debug = wskit_transport_debug(self);
    if (debug < 0 || (debug && wskit_transport_log(self, "%r resumes reading", NULL, NULL) < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Transport_close(Transport *self, PyObject *Py_UNUSED(unused))
{
    return wskit_transport_close(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Transport_abort(Transport *self, PyObject *Py_UNUSED(unused))
{
    return wskit_transport_force_close(self, NULL) < 0 ? NULL : Py_NewRef(Py_None);
}

static int
limit_value(PyObject *obj, Py_ssize_t *value)
{
    *value = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    return *value == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *
Transport_set_write_buffer_limits(Transport *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"high", "low", NULL};
    PyObject *high_obj = Py_None, *low_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:set_write_buffer_limits", kwlist,
                                     &high_obj, &low_obj)) {
        return NULL;
    }
    Py_ssize_t high = 0, low = 0;
    if ((high_obj != Py_None && limit_value(high_obj, &high) < 0)
        || (low_obj != Py_None && limit_value(low_obj, &low) < 0)) {
        return NULL;
    }
    if (high_obj == Py_None) {
        high = low_obj == Py_None ? 64 * 1024 : 4 * low;
    }
    if (low_obj == Py_None) {
        low = high >= 0 ? high / 4 : -((-high + 3) / 4);  /* Python's floor division */
    }
    if (!(high >= low && low >= 0)) {
        return PyErr_Format(PyExc_ValueError, "high (%zd) must be >= low (%zd) must be >= 0",
                            high, low);
    }
    self->high_water = high;
    self->low_water = low;
    return wskit_transport_maybe_pause(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Transport_get_write_buffer_limits(Transport *self, PyObject *Py_UNUSED(unused))
{
    return Py_BuildValue("(nn)", self->low_water, self->high_water);
}

static PyObject *
Transport_get_write_buffer_size(Transport *self, PyObject *Py_UNUSED(unused))
{
    return PyLong_FromSsize_t(self->buffer_size);
}

static PyObject *
Transport_can_write_eof(Transport *Py_UNUSED(self), PyObject *Py_UNUSED(unused))
{
    Py_RETURN_TRUE;
}

static PyObject *
Transport_write_eof(Transport *self, PyObject *Py_UNUSED(unused))
{
    if (self->closing || self->eof) {
        Py_RETURN_NONE;
    }
    self->eof = 1;
    if (self->buffer_size == 0 && wskit_transport_shutdown(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Transport_call_connection_lost_method(Transport *self, PyObject *exc)
{
    return wskit_transport_call_connection_lost(self, exc);
}

/* "polling" or "idle": whether the loop's selector waits for event on fd. */
static PyObject *
selector_state(Transport *self, PyObject *selector, int event)
{
    PyObject *polling = PyObject_CallMethod(selector_events, "_test_selector_event", "Oii",
                                            selector, self->fd, event);
    int truth = polling == NULL ? -1 : PyObject_IsTrue(polling);
    Py_XDECREF(polling);
    return truth < 0 ? NULL : PyUnicode_FromString(truth ? "polling" : "idle");
}

static PyObject *
Transport_repr(Transport *self)
{
    const char *state = self->sock == NULL ? " closed" : self->closing ? " closing" : "";
    PyObject *head = PyUnicode_FromFormat("<%s%s fd=%d", _PyType_Name(Py_TYPE(self)), state,
                                          self->fd);
    if (head == NULL) {
        return NULL;
    }
    int truth = 1;  /* the connection lost: no loop to ask */
    if (self->loop != NULL) {
        PyObject *closed = PyObject_CallMethodNoArgs(self->loop, str_is_closed);
        truth = closed == NULL ? -1 : PyObject_IsTrue(closed);
        Py_XDECREF(closed);
    }
    PyObject *repr = NULL;
    if (truth == 1) {
        repr = PyUnicode_FromFormat("%U>", head);
    }
    else if (truth == 0) {
        PyObject *selector = PyObject_GetAttr(self->loop, str_selector);
        PyObject *reading = selector == NULL ? NULL : selector_state(self, selector, 1);
        PyObject *writing = reading == NULL ? NULL : selector_state(self, selector, 2);
        if (writing != NULL) {
            repr = PyUnicode_FromFormat("%U read=%U write=<%U, bufsize=%zd>>", head, reading,
                                        writing, self->buffer_size);
        }
        Py_XDECREF(selector);
        Py_XDECREF(reading);
        Py_XDECREF(writing);
    }
    Py_DECREF(head);
    return repr;
}

/* As asyncio's __del__: a transport never closed says so, and closes its socket. */
static void
Transport_finalize(Transport *self)
{
    if (self->sock == NULL) {
        return;
    }
    PyObject *error = wskit_take_exception();
    if (PyErr_ResourceWarning((PyObject *)self, 1, "unclosed transport %R", self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    PyObject *closed = PyObject_CallMethodNoArgs(self->sock, wskit_tn.close);
    if (closed == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    Py_XDECREF(closed);
#if PY_VERSION_HEX >= 0x030D0000
    if (self->server != NULL) {
        PyObject *detached = wskit_transport_server_call(self, wskit_tn.detach);
        if (detached == NULL) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_XDECREF(detached);
    }
#endif
    wskit_restore_exception(error);
}

static int
Transport_traverse(Transport *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    for (int i = 0; i < BASE_SLOTS; i++) {
        Py_VISIT(self->base_slots[i]);
    }
    Py_VISIT(self->extra);
    Py_VISIT(self->loop);
    Py_VISIT(self->sock);
    Py_VISIT(self->protocol);
    Py_VISIT(self->server);
    Py_VISIT(self->buffer);
    Py_VISIT(self->dict);
    Py_VISIT(self->context);
    Py_VISIT(self->socket_object);
    return 0;
}

static int
Transport_clear(Transport *self)
{
    for (int i = 0; i < BASE_SLOTS; i++) {
        Py_CLEAR(self->base_slots[i]);
    }
    Py_CLEAR(self->extra);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->sock);
    Py_CLEAR(self->protocol);
    Py_CLEAR(self->server);
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->dict);
    Py_CLEAR(self->context);
    Py_CLEAR(self->socket_object);
    return 0;
}

static void
Transport_dealloc(Transport *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return;  /* resurrected */
    }
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Transport_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *
Transport_get_loop(Transport *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->loop == NULL ? Py_None : self->loop);
}

static PyObject *
Transport_get_extra(Transport *self, void *Py_UNUSED(closure))
{
    if (whole_extra(self) < 0) {
        return NULL;
    }
    return Py_NewRef(self->extra == NULL ? Py_None : self->extra);
}

static PyObject *
Transport_get_protocol_paused(Transport *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->protocol_paused);
}

static PyObject *
Transport_get_sock(Transport *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->sock == NULL ? Py_None : self->sock);
}

static PyObject *
Transport_get_server(Transport *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->server == NULL ? Py_None : self->server);
}

static PyObject *
Transport_get_sock_fd(Transport *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->fd);
}

static PyGetSetDef Transport_getset[] = {
    {"_server", (getter)Transport_get_server, NULL, "The server, None once detached.", NULL},
    {"_sock_fd", (getter)Transport_get_sock_fd, NULL, "The socket's file descriptor.", NULL},
    {"_loop", (getter)Transport_get_loop, NULL, "The event loop, None once the connection is lost.", NULL},
    {"_extra", (getter)Transport_get_extra, NULL, "What get_extra_info() reads.", NULL},
    {"_protocol_paused", (getter)Transport_get_protocol_paused, NULL,
     "Whether the protocol's writing is paused.", NULL},
    {"_sock", (getter)Transport_get_sock, NULL, "The socket, None once closed.", NULL},
    {"_callback", (getter)wskit_transport_reader_callback, NULL,
     "As the loop's reader handle: what it runs.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Transport_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Transport, weakreflist), READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(Transport, dict), READONLY, NULL},
    {"_cancelled", T_BOOL, offsetof(Transport, reader_cancelled), READONLY,
     "As the loop's reader handle: whether cancelled."},
    {NULL, 0, 0, 0, NULL},
};

#define NOARGS(name, function, doc) {name, (PyCFunction)function, METH_NOARGS, doc}
static PyMethodDef Transport_methods[] = {
    {"get_extra_info", (PyCFunction)(void (*)(void))Transport_get_extra_info,
     METH_VARARGS | METH_KEYWORDS, "Optional information about the transport."},
    {"set_protocol", (PyCFunction)Transport_set_protocol, METH_O, "Set a new protocol."},
    NOARGS("get_protocol", Transport_get_protocol, "The current protocol."),
    NOARGS("is_closing", Transport_is_closing, "Whether closing or closed."),
    NOARGS("is_reading", Transport_is_reading, "Whether the transport is receiving."),
    NOARGS("pause_reading", Transport_pause_reading, "Stop reading until resume_reading()."),
    NOARGS("resume_reading", Transport_resume_reading, "Read again."),
    NOARGS("close", Transport_close, "Close once the buffer is sent."),
    NOARGS("abort", Transport_abort, "Close at once, dropping the buffer."),
    {"set_write_buffer_limits", (PyCFunction)(void (*)(void))Transport_set_write_buffer_limits,
     METH_VARARGS | METH_KEYWORDS, "Set the high and low water marks of writing."},
    NOARGS("get_write_buffer_limits", Transport_get_write_buffer_limits, "(low, high)."),
    NOARGS("get_write_buffer_size", Transport_get_write_buffer_size, "Bytes not yet sent."),
    NOARGS("can_write_eof", Transport_can_write_eof, "True."),
    NOARGS("write_eof", Transport_write_eof, "Shut down writing once the buffer is sent."),
    {"write", (PyCFunction)wskit_transport_write, METH_O, "Write bytes."},
    {"writelines", (PyCFunction)wskit_transport_writelines, METH_O,
     "Write buffers, in one system call, neither joined nor copied."},
    {"_start_reading", (PyCFunction)Transport_start_reading, METH_O,
     "After connection_made(): the waiter's result, and reading."},
    NOARGS("_read_ready", wskit_transport_read_ready, "The loop's reader."),
    NOARGS("_write_ready", wskit_transport_write_ready, "The loop's writer."),
    NOARGS("_run", wskit_transport_run, "As the loop's reader handle: _read_ready()."),
    NOARGS("cancel", wskit_transport_cancel, "As the loop's reader handle: stop reading."),
    {"_call_connection_lost", (PyCFunction)Transport_call_connection_lost_method, METH_O,
     "protocol.connection_lost(exc), then the socket closed."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Transport_doc,
"SocketTransport(loop, sock, protocol, waiter=None, extra=None, server=None, *, context=None)\n"
"--\n"
"\n"
"A socket transport for asyncio's selector event loop, as asyncio's own.\n"
"With a context, its reads and callbacks run there, and it is its own\n"
"reader handle (see _speedups_transport_reader.c).");

static PyType_Slot Transport_slots[] = {
    {Py_tp_doc, (void *)Transport_doc},
    {Py_tp_new, Transport_new},
    {Py_tp_init, Transport_init},
    {Py_tp_dealloc, Transport_dealloc},
    {Py_tp_finalize, Transport_finalize},
    {Py_tp_traverse, Transport_traverse},
    {Py_tp_clear, Transport_clear},
    {Py_tp_repr, Transport_repr},
    {Py_tp_methods, Transport_methods},
    {Py_tp_getset, Transport_getset},
    {Py_tp_members, Transport_members},
    {0, NULL},
};

static PyType_Spec Transport_spec = {
    .name = "wskit._speedups.SocketTransport",
    .basicsize = sizeof(Transport),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Transport_slots,
};

static PyObject *
import_attr(const char *module_name, const char *name)
{
    PyObject *module = PyImport_ImportModule(module_name);
    PyObject *attr = module == NULL ? NULL : PyObject_GetAttrString(module, name);
    Py_XDECREF(module);
    return attr;
}

/* SocketTransport, made on first use: it imports asyncio, which importing
 * wskit doesn't. None where asyncio's classes aren't laid out as Transport
 * expects. A new reference, or NULL with an exception set. */
static PyObject *
make_type(PyObject *module)
{
    PyObject *base = import_attr("asyncio.transports", "_FlowControlMixin");
    if (base == NULL) {
        return NULL;
    }
    /* The base's layout must be what Transport begins with; else, no
     * SocketTransport (wskit.asyncio.transport falls back to asyncio's). */
    PyTypeObject *base_type = (PyTypeObject *)base;
    if (!PyType_Check(base) || base_type->tp_basicsize != offsetof(Transport, extra)
        || base_type->tp_itemsize != 0 || base_type->tp_dictoffset != 0
        || base_type->tp_weaklistoffset != 0) {
        Py_DECREF(base);
        return Py_NewRef(Py_None);
    }
    wskit_asyncio_logger = import_attr("asyncio.log", "logger");
    transport_socket_type = import_attr("asyncio.trsock", "TransportSocket");
    buffered_protocol_type = import_attr("asyncio", "BufferedProtocol");
    selector_events = PyImport_ImportModule("asyncio.selector_events");
    socket_family = import_attr("_socket", "socket");
    if (wskit_asyncio_logger == NULL || transport_socket_type == NULL
        || buffered_protocol_type == NULL || selector_events == NULL || socket_family == NULL) {
        Py_DECREF(base);
        return NULL;
    }
    PyObject *socket_type = socket_family;
    socket_family = PyObject_GetAttrString(socket_type, "family");
    socket_kind = PyObject_GetAttrString(socket_type, "type");
    socket_proto = PyObject_GetAttrString(socket_type, "proto");
    Py_DECREF(socket_type);
    if (socket_family == NULL || socket_kind == NULL || socket_proto == NULL) {
        Py_DECREF(base);
        return NULL;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, &Transport_spec, base);
    Py_DECREF(base);
    if (type == NULL) {
        return NULL;
    }
    /* loop.sendfile() writes the file through write(), as it does where
     * os.sendfile() isn't available. */
    PyObject *modes = import_attr("asyncio.constants", "_SendfileMode");
    PyObject *fallback = modes == NULL ? NULL : PyObject_GetAttrString(modes, "FALLBACK");
    Py_XDECREF(modes);
    PyObject *max_size = PyLong_FromLong(256 * 1024);
    int status = max_size == NULL || fallback == NULL
        || PyObject_SetAttrString(type, "_sendfile_compatible", fallback) < 0
        || PyObject_SetAttrString(type, "_start_tls_compatible", Py_True) < 0
        || PyObject_SetAttrString(type, "max_size", max_size) < 0
        || PyModule_AddObjectRef(module, "SocketTransport", type) < 0;  /* found there next time */
    Py_XDECREF(max_size);
    Py_XDECREF(fallback);
    if (status) {
        Py_CLEAR(type);
    }
    return type;
}

/* The module's __getattr__ (PEP 562): SocketTransport, made then. */
static PyObject *
module_getattr(PyObject *module, PyObject *name)
{
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "SocketTransport") == 0) {
        PyObject *type = make_type(module);
        if (type != Py_None) {
            return type;
        }
        Py_DECREF(type);
    }
    return PyErr_Format(PyExc_AttributeError, "module 'wskit._speedups' has no attribute %R",
                        name);
}

static PyMethodDef module_methods[] = {
    {"__getattr__", (PyCFunction)module_getattr, METH_O, "SocketTransport, made on first use."},
    {NULL, NULL, 0, NULL},
};

int
wskit_transport_init(PyObject *module)
{
    const InternedName names[] = {
        {&wskit_tn.add_reader, "_add_reader"}, {&wskit_tn.remove_reader, "_remove_reader"},
        {&wskit_tn.add_writer, "_add_writer"}, {&wskit_tn.remove_writer, "_remove_writer"},
        {&wskit_tn.call_soon, "call_soon"}, {&wskit_tn.get_debug, "get_debug"},
        {&wskit_tn.call_exception_handler, "call_exception_handler"},
        {&wskit_tn.read_ready, "_read_ready"}, {&wskit_tn.write_ready, "_write_ready"},
        {&wskit_tn.connection_lost, "connection_lost"},
        {&wskit_tn.call_connection_lost, "_call_connection_lost"},
        {&wskit_tn.data_received, "data_received"}, {&wskit_tn.eof_received, "eof_received"},
        {&wskit_tn.get_buffer, "get_buffer"}, {&wskit_tn.buffer_updated, "buffer_updated"},
        {&wskit_tn.pause_writing, "pause_writing"}, {&wskit_tn.resume_writing, "resume_writing"},
        {&wskit_tn.debug, "debug"}, {&wskit_tn.warning, "warning"},
        {&wskit_tn.exc_info, "exc_info"}, {&wskit_tn.message, "message"},
        {&wskit_tn.exception, "exception"}, {&wskit_tn.transport, "transport"},
        {&wskit_tn.protocol, "protocol"}, {&wskit_tn.close, "close"},
        {&str_attach, "_attach"}, {&wskit_tn.detach, "_detach"}, {&str_transports, "_transports"},
        {&str_fileno, "fileno"}, {&str_getsockname, "getsockname"},
        {&str_getpeername, "getpeername"}, {&str_peername, "peername"},
        {&str_sockname, "sockname"}, {&str_socket, "socket"},
        {&str_connection_made, "connection_made"}, {&str_start_reading, "_start_reading"},
        {&str_cancelled, "cancelled"}, {&str_set_result, "set_result"},
        {&str_is_closed, "is_closed"}, {&str_selector, "_selector"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0
        || wskit_transport_io_init() < 0 || wskit_transport_reader_init() < 0) {
        return -1;
    }
    wskit_tn.context_kwnames = Py_BuildValue("(s)", "context");
    if (wskit_tn.context_kwnames == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, module_methods);
}
