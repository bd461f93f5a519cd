/*
 * wskit._speedups: how SocketTransport (see _speedups_transport.c) closes,
 * as asyncio's _SelectorSocketTransport does: close() once the buffer is
 * sent, abort() and failures at once (a failure said to the loop's
 * exception handler, or in debug mode for an OSError), connection_lost() on
 * a later pass, then the socket closed and everything let go; and the calls
 * to the loop, its logger and the server that the three files share.
 */

#include "_speedups_transport.h"

#include <sys/socket.h>

PyObject *
wskit_transport_call_loop(Transport *self, PyObject *name, PyObject *arg1, PyObject *arg2)
{
    PyObject *args[3] = {self->loop, arg1, arg2};
    size_t nargs = arg1 == NULL ? 1 : arg2 == NULL ? 2 : 3;
    return PyObject_VectorcallMethod(name, args, nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* loop.<method>(fd), or loop.<method>(fd, self.<callback_name>): 0, or -1. */
int
wskit_transport_loop_fd(Transport *self, PyObject *method, PyObject *callback_name)
{
    if (self->loop == NULL) {
        return 0;
    }
    PyObject *fd = PyLong_FromLong(self->fd);
    PyObject *callback = fd == NULL || callback_name == NULL
        ? NULL
        : PyObject_GetAttr((PyObject *)self, callback_name);
    PyObject *result = fd == NULL || (callback_name != NULL && callback == NULL)
        ? NULL
        : wskit_transport_call_loop(self, method, fd, callback);
    Py_XDECREF(fd);
    Py_XDECREF(callback);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* loop.call_soon(callback, arg), in the transport's context if it has one
 * (not a copy of the current one for each call): 0, or -1. */
int
wskit_transport_call_soon_with(Transport *self, PyObject *callback, PyObject *arg)
{
    PyObject *args[4] = {self->loop, callback, arg, self->context};
    PyObject *result = self->context == NULL
        ? wskit_transport_call_loop(self, wskit_tn.call_soon, callback, arg)
        : PyObject_VectorcallMethod(wskit_tn.call_soon, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                    wskit_tn.context_kwnames);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* loop.call_soon(self.<name>, arg), as above: 0, or -1. */
int
wskit_transport_call_soon(Transport *self, PyObject *name, PyObject *arg)
{
    PyObject *callback = PyObject_GetAttr((PyObject *)self, name);
    if (callback == NULL) {
        return -1;
    }
    int status = wskit_transport_call_soon_with(self, callback, arg);
    Py_DECREF(callback);
    return status;
}

int
wskit_transport_debug(Transport *self)
{
    if (self->loop == NULL) {
        return 0;
    }
    PyObject *debug = wskit_transport_call_loop(self, wskit_tn.get_debug, NULL, NULL);
    int truth = debug == NULL ? -1 : PyObject_IsTrue(debug);
    Py_XDECREF(debug);
    return truth;
}

/* asyncio's logger.debug(format, self[, message][, exc_info=exc]). */
int
wskit_transport_log(Transport *self, const char *format, const char *message, PyObject *exc)
{
    PyObject *text = PyUnicode_FromString(format);
    PyObject *said = message == NULL ? NULL : PyUnicode_FromString(message);
    PyObject *kwnames = exc == NULL ? NULL : PyTuple_Pack(1, wskit_tn.exc_info);
    PyObject *args[5] = {wskit_asyncio_logger, text, (PyObject *)self};
    Py_ssize_t nargs = 3;
    if (said != NULL) {
        args[nargs++] = said;
    }
    args[nargs] = exc;  /* exc_info's value, after the positional arguments */
    PyObject *result = text == NULL || (message != NULL && said == NULL) || (exc != NULL && kwnames == NULL)
        ? NULL
        : PyObject_VectorcallMethod(wskit_tn.debug, args, nargs, kwnames);
    Py_XDECREF(text);
    Py_XDECREF(said);
    Py_XDECREF(kwnames);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* loop.call_exception_handler({message, exception, transport, protocol}). */
int
wskit_transport_report(Transport *self, const char *message, PyObject *exc)
{
    if (self->loop == NULL) {
        return 0;
    }
    PyObject *context = Py_BuildValue("{s:s,s:O,s:O,s:O}", "message", message, "exception", exc,
                                      "transport", (PyObject *)self, "protocol",
                                      self->protocol == NULL ? Py_None : self->protocol);
    PyObject *result =
        context == NULL ? NULL : wskit_transport_call_loop(self, wskit_tn.call_exception_handler, context, NULL);
    Py_XDECREF(context);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* As asyncio's _fatal_error(): an OSError said in debug mode, anything else
 * to the loop's exception handler; then the connection is lost, unless
 * saying it failed (asyncio's raises then, before closing). */
int
wskit_transport_fatal(Transport *self, PyObject *exc, const char *message)
{
    int status = 0;
    if (PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError)) {
        int debug = wskit_transport_debug(self);
        if (debug < 0 || (debug && wskit_transport_log(self, "%r: %s", message, exc) < 0)) {
            status = -1;
        }
    }
    else {
        status = wskit_transport_report(self, message, exc);
    }
    if (status < 0 || wskit_transport_force_close(self, exc) < 0) {
        status = -1;
    }
    return status;
}

int
wskit_transport_force_close(Transport *self, PyObject *exc)
{
    if (self->conn_lost) {
        return 0;
    }
    if (self->buffer_size) {
        wskit_transport_clear_buffer(self);
        if (wskit_transport_loop_fd(self, wskit_tn.remove_writer, NULL) < 0) {
            return -1;
        }
    }
    if (!self->closing) {
        self->closing = 1;
        if (wskit_transport_loop_fd(self, wskit_tn.remove_reader, NULL) < 0) {
            return -1;
        }
    }
    self->conn_lost++;
    return wskit_transport_call_soon(self, wskit_tn.call_connection_lost, exc == NULL ? Py_None : exc);
}

int
wskit_transport_close(Transport *self)
{
    if (self->closing) {
        return 0;
    }
    self->closing = 1;
    if (wskit_transport_loop_fd(self, wskit_tn.remove_reader, NULL) < 0) {
        return -1;
    }
    if (self->buffer_size == 0) {
        self->conn_lost++;
        if (wskit_transport_loop_fd(self, wskit_tn.remove_writer, NULL) < 0) {
            return -1;
        }
        return wskit_transport_call_soon(self, wskit_tn.call_connection_lost, Py_None);
    }
    return 0;
}

PyObject *
wskit_transport_server_call(Transport *self, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_CallMethodOneArg(self->server, name, (PyObject *)self);
#else
    return PyObject_CallMethodNoArgs(self->server, name);
#endif
}

/* protocol.connection_lost(exc), then, whatever it did, the socket closed
 * and everything the transport holds let go. */
PyObject *
wskit_transport_call_connection_lost(Transport *self, PyObject *exc)
{
    if (!self->conn_lost) {  /* after close(), once the buffer is sent */
        self->conn_lost = 1;
    }
    PyObject *result = Py_NewRef(Py_None);
    if (self->protocol_connected && self->protocol != NULL) {
        Py_SETREF(result, PyObject_CallMethodOneArg(self->protocol, wskit_tn.connection_lost, exc));
    }
    PyObject *error = result == NULL ? wskit_take_exception() : NULL;
    PyObject *sock = self->sock;
    self->sock = NULL;
    PyObject *closed = sock == NULL ? Py_NewRef(Py_None) : PyObject_CallMethodNoArgs(sock, wskit_tn.close);
    Py_XDECREF(sock);
    Py_CLEAR(self->protocol);
    Py_CLEAR(self->loop);
    PyObject *detached = Py_NewRef(Py_None);
    if (closed != NULL && self->server != NULL) {
        Py_SETREF(detached, wskit_transport_server_call(self, wskit_tn.detach));
        Py_CLEAR(self->server);
    }
    if (closed == NULL || detached == NULL) {
        Py_XDECREF(error);  /* raised in finally: replaces it */
        Py_CLEAR(result);
    }
    else if (error != NULL) {
        wskit_restore_exception(error);
    }
    Py_XDECREF(closed);
    Py_XDECREF(detached);
    return result;
}

int
wskit_transport_shutdown(Transport *self)
{
    if (shutdown(self->fd, SHUT_WR) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

