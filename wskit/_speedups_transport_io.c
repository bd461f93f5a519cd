/*
 * wskit._speedups: how SocketTransport (see _speedups_transport.c) reads
 * and writes, as asyncio's _SelectorSocketTransport does, with the system
 * calls made here rather than through the socket object:
 *
 * - A read goes to the protocol as asyncio's would: data_received(bytes),
 *   or get_buffer() and buffer_updated(nbytes), each looked up on every
 *   read, as asyncio does (tests replace them on the instance). A read that
 *   fills the buffer is followed by another at once, up to MAX_READS per
 *   wake-up, as libuv does: the rest of a long message often came with it.
 * - A write is sent at once when nothing waits to be sent; what the socket
 *   doesn't take waits in the buffer, kept as it is when it can't change
 *   (bytes, read-only views) rather than copied, until the socket is
 *   writable. writelines() sends its buffers in one sendmsg().
 */

#include "_speedups_transport.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* asyncio's max_size: what recv() asks for, for a plain Protocol. */
#define MAX_SIZE (256 * 1024)
/* Reads per wake-up while each fills the buffer. */
#define MAX_READS 4
/* Buffers per sendmsg(). */
#define MAX_IOV 64
/* asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES. */
#define CONNLOST_WARNING 5

#define WRITE_EOF_ERROR "Cannot call write() after write_eof()"
/* 3.11's writelines() is write()'s, of the buffers joined. */
#if PY_VERSION_HEX >= 0x030C0000
#define WRITELINES_EOF_ERROR "Cannot call writelines() after write_eof()"
#else
#define WRITELINES_EOF_ERROR WRITE_EOF_ERROR
#endif

static PyObject *minus_one;

static int
would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* After a failed call or system call: the connection fails, as asyncio's
 * _fatal_error(), unless the exception must go on (SystemExit,
 * KeyboardInterrupt). 0, or -1 with an exception set. */
static int
fail(Transport *self, const char *message)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = wskit_take_exception();
    int status = wskit_transport_fatal(self, exc, message);
    Py_DECREF(exc);
    return status;
}

/* The protocol's eof_received(): keep the transport open for writing if it
 * says so, else close it. */
static int
read_eof(Transport *self, PyObject *protocol)
{
    int debug = wskit_transport_debug(self);
    if (debug < 0 || (debug && wskit_transport_log(self, "%r received EOF", NULL, NULL) < 0)) {
        return -1;
    }
    PyObject *keep_open = PyObject_CallMethodNoArgs(protocol, wskit_tn.eof_received);
    if (keep_open == NULL) {
        return fail(self, "Fatal error: protocol.eof_received() call failed.");
    }
    int truth = PyObject_IsTrue(keep_open);
    Py_DECREF(keep_open);
    if (truth < 0) {
        return -1;
    }
    return truth ? wskit_transport_loop_fd(self, wskit_tn.remove_reader, NULL)
                 : wskit_transport_close(self);
}

/* recv() failed or returned 0 (nbytes): 0, or -1 with an exception set. */
static int
read_failed(Transport *self, PyObject *protocol, ssize_t nbytes)
{
    if (nbytes == 0) {
        return read_eof(self, protocol);
    }
    if (would_block()) {
        return 0;
    }
    PyErr_SetFromErrno(PyExc_OSError);
    return fail(self, "Fatal read error on socket transport");
}

/* One read for a plain Protocol: 1 if it filled the buffer, 0, or -1. */
static int
read_data(Transport *self, PyObject *protocol)
{
    PyObject *data = PyBytes_FromStringAndSize(NULL, MAX_SIZE);
    if (data == NULL) {
        return -1;
    }
    ssize_t nbytes = recv(self->fd, PyBytes_AS_STRING(data), MAX_SIZE, 0);
    if (nbytes <= 0) {
        Py_DECREF(data);
        return read_failed(self, protocol, nbytes);
    }
    if (nbytes < MAX_SIZE && _PyBytes_Resize(&data, nbytes) < 0) {
        return -1;
    }
    PyObject *result = PyObject_CallMethodOneArg(protocol, wskit_tn.data_received, data);
    Py_DECREF(data);
    if (result == NULL) {
        return fail(self, "Fatal error: protocol.data_received() call failed.");
    }
    Py_DECREF(result);
    return nbytes == MAX_SIZE;
}

/* One read for a BufferedProtocol: 1 if it filled the buffer, 0, or -1. */
static int
read_into(Transport *self, PyObject *protocol)
{
    PyObject *buffer = PyObject_CallMethodOneArg(protocol, wskit_tn.get_buffer, minus_one);
    if (buffer == NULL) {
        return fail(self, "Fatal error: protocol.get_buffer() call failed.");
    }
    Py_buffer view = {.obj = NULL};
    char *start;
    Py_ssize_t size;
    if (PyByteArray_CheckExact(buffer)) {  /* the read buffer: nothing else runs until recv() returns */
        start = PyByteArray_AS_STRING(buffer);
        size = PyByteArray_GET_SIZE(buffer);
    }
    else if (PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE) == 0) {
        start = view.buf;
        size = view.len;
    }
    else {  /* as socket.recv_into() refuses it */
        PyErr_Format(PyExc_TypeError,
                     "recv_into() argument 'buffer' must be read-write bytes-like object, not %.200s",
                     _PyType_Name(Py_TYPE(buffer)));
        Py_DECREF(buffer);
        return fail(self, "Fatal read error on socket transport");
    }
    if (size == 0) {
        PyBuffer_Release(&view);
        Py_DECREF(buffer);
        PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
        return fail(self, "Fatal error: protocol.get_buffer() call failed.");
    }
    ssize_t nbytes = recv(self->fd, start, (size_t)size, 0);
    /* Let go of the buffer before buffer_updated(), which may resize it. */
    PyBuffer_Release(&view);
    Py_DECREF(buffer);
    if (nbytes <= 0) {
        return read_failed(self, protocol, nbytes);
    }
    PyObject *count = PyLong_FromSsize_t(nbytes);
    if (count == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallMethodOneArg(protocol, wskit_tn.buffer_updated, count);
    Py_DECREF(count);
    if (result == NULL) {
        return fail(self, "Fatal error: protocol.buffer_updated() call failed.");
    }
    Py_DECREF(result);
    return nbytes == size;
}

/* Whether bytes wait to be read (an error is left to the read). */
static int
readable(Transport *self)
{
    int waiting = 0;
    return ioctl(self->fd, FIONREAD, &waiting) < 0 || waiting > 0;
}

PyObject *
wskit_transport_read_ready(Transport *self, PyObject *Py_UNUSED(unused))
{
    if (self->conn_lost) {
        Py_RETURN_NONE;
    }
    for (int reads = 0; reads < MAX_READS; reads++) {
        /* Read again only while the protocol would have the loop read,
         * and something waits: else get_buffer() would be called for
         * nothing (asyncio's calls are followed by buffer_updated()). */
        if (reads > 0 && (self->conn_lost || self->closing || self->paused || !readable(self))) {
            break;
        }
        PyObject *protocol = Py_NewRef(self->protocol);
        int full = self->buffered ? read_into(self, protocol) : read_data(self, protocol);
        Py_DECREF(protocol);
        if (full < 0) {
            return NULL;
        }
        if (!full) {
            break;
        }
    }
    Py_RETURN_NONE;
}

/* A view of data to write, bytes-like as asyncio takes it: 0, or -1. */
static int
write_view(PyObject *data, Py_buffer *view)
{
    if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
        PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%.200s'",
                     _PyType_Name(Py_TYPE(data)));
        return -1;
    }
    return get_bytes_view(data, view);
}

static inline void
item_bytes(PyObject *item, char **start, Py_ssize_t *size)
{
    if (PyBytes_Check(item)) {
        *start = PyBytes_AS_STRING(item);
        *size = PyBytes_GET_SIZE(item);
    }
    else {
        Py_buffer *view = PyMemoryView_GET_BUFFER(item);
        *start = view->buf;
        *size = view->len;
    }
}

/* Keep data[sent:] in the buffer, after what's there: data itself if it
 * can't change (bytes, or a read-only view, in a view of its own that
 * outlives the caller's release()), else a copy. 0, or -1. */
static int
buffer_append(Transport *self, PyObject *data, Py_buffer *view, Py_ssize_t sent)
{
    PyObject *item;
    if (PyBytes_Check(data)) {
        item = Py_NewRef(data);
    }
    else if (PyMemoryView_Check(data) && view->readonly) {
        item = PyMemoryView_FromObject(data);
    }
    else {
        item = PyBytes_FromStringAndSize((char *)view->buf + sent, view->len - sent);
        sent = 0;
    }
    if (item == NULL) {
        return -1;
    }
    if (self->buffer == NULL && (self->buffer = PyList_New(0)) == NULL) {
        Py_DECREF(item);
        return -1;
    }
    if (PyList_GET_SIZE(self->buffer) == 0) {
        self->head_offset = sent;
    }
    int status = PyList_Append(self->buffer, item);
    Py_DECREF(item);
    if (status == 0) {
        self->buffer_size += view->len - sent;
    }
    return status;
}

void
wskit_transport_clear_buffer(Transport *self)
{
    if (self->buffer != NULL && PyList_SetSlice(self->buffer, 0, PyList_GET_SIZE(self->buffer), NULL) < 0) {
        PyErr_Clear();  /* deleting a list's items can't fail */
    }
    self->buffer_size = 0;
    self->head_offset = 0;
}

/* The protocol paused above the high-water mark, or resumed at the low one,
 * its failure said to the loop's exception handler, as asyncio's. */
static int
call_flow_control(Transport *self, PyObject *name, const char *message)
{
    if (self->protocol == NULL) {
        return 0;
    }
    PyObject *result = PyObject_CallMethodNoArgs(self->protocol, name);
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = wskit_take_exception();
    int status = wskit_transport_report(self, message, exc);
    Py_DECREF(exc);
    return status;
}

int
wskit_transport_maybe_pause(Transport *self)
{
    if (self->buffer_size <= self->high_water || self->protocol_paused) {
        return 0;
    }
    self->protocol_paused = 1;
    return call_flow_control(self, wskit_tn.pause_writing, "protocol.pause_writing() failed");
}

static int
maybe_resume(Transport *self)
{
    if (!self->protocol_paused || self->buffer_size > self->low_water) {
        return 0;
    }
    self->protocol_paused = 0;
    return call_flow_control(self, wskit_tn.resume_writing, "protocol.resume_writing() failed");
}

/* Before a write: whether to write (1), or not (0: nothing to write, or the
 * connection is lost, which writes ignore, warning after a few), or -1. */
static int
check_write(Transport *self, Py_ssize_t size, const char *eof_error)
{
    if (self->eof) {
        PyErr_SetString(PyExc_RuntimeError, eof_error);
        return -1;
    }
    if (size == 0) {
        return 0;
    }
    if (self->conn_lost) {
        if (self->conn_lost >= CONNLOST_WARNING) {
            PyObject *result = PyObject_CallMethod(wskit_asyncio_logger, "warning", "s",
                                                   "socket.send() raised exception.");
            if (result == NULL) {
                return -1;
            }
            Py_DECREF(result);
        }
        self->conn_lost++;
        return 0;
    }
    return 1;
}

/* sendmsg() of iov[:count], send() of one buffer (the kernel copies no
 * header or vector then): how much was sent, 0 if the socket is full, -1
 * with an exception set. */
static Py_ssize_t
send_vector(Transport *self, struct iovec *iov, int count)
{
    ssize_t sent;
    if (count == 1) {
        sent = send(self->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL);
    }
    else {
        struct msghdr message = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        sent = sendmsg(self->fd, &message, MSG_NOSIGNAL);
    }
    if (sent < 0) {
        if (would_block()) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return sent;
}

PyObject *
wskit_transport_write(Transport *self, PyObject *data)
{
    Py_buffer view;
    if (write_view(data, &view) < 0) {
        return NULL;
    }
    int go = check_write(self, view.len, WRITE_EOF_ERROR);
    Py_ssize_t sent = 0;
    if (go > 0 && self->buffer_size == 0) {
        struct iovec iov = {.iov_base = view.buf, .iov_len = (size_t)view.len};
        sent = send_vector(self, &iov, 1);
        if (sent < 0) {
            PyBuffer_Release(&view);
            return fail(self, "Fatal write error on socket transport") < 0 ? NULL : Py_NewRef(Py_None);
        }
        if (sent == view.len) {
            go = 0;
        }
        else if (wskit_transport_loop_fd(self, wskit_tn.add_writer, wskit_tn.write_ready) < 0) {
            go = -1;
        }
    }
    if (go > 0) {
        go = buffer_append(self, data, &view, sent) < 0 ? -1 : 1;
    }
    PyBuffer_Release(&view);
    if (go < 0 || (go > 0 && wskit_transport_maybe_pause(self) < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Send views[:count] at once when nothing waits (the first MAX_IOV), and
 * buffer the rest. */
static int
write_views(Transport *self, PyObject *items, Py_buffer *views, Py_ssize_t count,
            Py_ssize_t total)
{
    Py_ssize_t sent = 0;
    int was_empty = self->buffer_size == 0;
    if (was_empty) {
        struct iovec iov[MAX_IOV];
        int gathered = count < MAX_IOV ? (int)count : MAX_IOV;
        for (int i = 0; i < gathered; i++) {
            iov[i].iov_base = views[i].buf;
            iov[i].iov_len = (size_t)views[i].len;
        }
        sent = send_vector(self, iov, gathered);
        if (sent < 0) {
            return fail(self, "Fatal write error on socket transport");
        }
        if (sent == total) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t size = views[i].len;
        if (sent >= size) {  /* sent whole (or empty) */
            sent -= size;
            continue;
        }
        if (buffer_append(self, PySequence_Fast_GET_ITEM(items, i), &views[i], sent) < 0) {
            return -1;
        }
        sent = 0;
    }
    if (was_empty && wskit_transport_loop_fd(self, wskit_tn.add_writer, wskit_tn.write_ready) < 0) {
        return -1;
    }
    return wskit_transport_maybe_pause(self);
}

PyObject *
wskit_transport_writelines(Transport *self, PyObject *list_of_data)
{
    if (self->eof) {
        PyErr_SetString(PyExc_RuntimeError, WRITELINES_EOF_ERROR);
        return NULL;
    }
    PyObject *items = PySequence_Fast(list_of_data, "writelines() argument must be iterable");
    if (items == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    /* Every buffer checked before anything is sent or kept. */
    Py_buffer stack_views[MAX_IOV];
    Py_buffer *views = count <= MAX_IOV ? stack_views : PyMem_New(Py_buffer, (size_t)count);
    if (views == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    Py_ssize_t total = 0, taken = 0;
    int status = 0;
    for (; taken < count; taken++) {
        if (write_view(PySequence_Fast_GET_ITEM(items, taken), &views[taken]) < 0) {
            status = -1;
            break;
        }
        total += views[taken].len;
    }
    if (status == 0) {
        status = check_write(self, total, WRITELINES_EOF_ERROR);
        if (status > 0) {
            status = write_views(self, items, views, count, total);
        }
    }
    for (Py_ssize_t i = 0; i < taken; i++) {
        PyBuffer_Release(&views[i]);
    }
    if (views != stack_views) {
        PyMem_Free(views);
    }
    Py_DECREF(items);
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

/* Forget the n bytes sent from the head of the buffer. */
static void
buffer_consume(Transport *self, Py_ssize_t sent)
{
    Py_ssize_t offset = self->head_offset, done = 0;
    self->buffer_size -= sent;
    while (sent > 0) {
        char *start;
        Py_ssize_t size;
        item_bytes(PyList_GET_ITEM(self->buffer, done), &start, &size);
        if (sent >= size - offset) {
            sent -= size - offset;
            done++;
            offset = 0;
        }
        else {
            offset += sent;
            sent = 0;
        }
    }
    if (done && PyList_SetSlice(self->buffer, 0, done, NULL) < 0) {
        PyErr_Clear();  /* deleting a list's items can't fail */
    }
    self->head_offset = offset;
}

PyObject *
wskit_transport_write_ready(Transport *self, PyObject *Py_UNUSED(unused))
{
    if (self->conn_lost || self->buffer_size == 0) {
        Py_RETURN_NONE;
    }
    struct iovec iov[MAX_IOV];
    Py_ssize_t items = PyList_GET_SIZE(self->buffer);
    int count = items < MAX_IOV ? (int)items : MAX_IOV;
    for (int i = 0; i < count; i++) {
        char *start;
        Py_ssize_t size;
        item_bytes(PyList_GET_ITEM(self->buffer, i), &start, &size);
        Py_ssize_t skip = i == 0 ? self->head_offset : 0;
        iov[i].iov_base = start + skip;
        iov[i].iov_len = (size_t)(size - skip);
    }
    Py_ssize_t sent = send_vector(self, iov, count);
    if (sent < 0) {
        PyObject *exc = wskit_take_exception();
        int status = wskit_transport_loop_fd(self, wskit_tn.remove_writer, NULL);
        wskit_transport_clear_buffer(self);
        if (status == 0) {
            status = wskit_transport_fatal(self, exc, "Fatal write error on socket transport");
        }
        Py_DECREF(exc);
        return status < 0 ? NULL : Py_NewRef(Py_None);
    }
    buffer_consume(self, sent);
    if (maybe_resume(self) < 0) {  /* may write more */
        return NULL;
    }
    if (self->buffer_size == 0) {
        if (wskit_transport_loop_fd(self, wskit_tn.remove_writer, NULL) < 0) {
            return NULL;
        }
        if (self->closing) {
            return wskit_transport_call_connection_lost(self, Py_None);
        }
        if (self->eof && wskit_transport_shutdown(self) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

int
wskit_transport_io_init(void)
{
    minus_one = PyLong_FromLong(-1);
    return minus_one == NULL ? -1 : 0;
}
