/*
 * What the three files of SocketTransport share (see _speedups_transport.c):
 * the object, and the functions one calls in another.
 */

#ifndef WSKIT_SPEEDUPS_TRANSPORT_H
#define WSKIT_SPEEDUPS_TRANSPORT_H

#include "_speedups.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Slots of asyncio's _FlowControlMixin (its base): their layout, unused;
 * the type's own attributes of the same names take their place. */
#define BASE_SLOTS 5

typedef struct {
    PyObject_HEAD
    PyObject *base_slots[BASE_SLOTS];
    PyObject *extra;       /* dict, get_extra_info() */
    PyObject *loop;        /* NULL once the connection is lost */
    PyObject *sock;        /* the socket.socket; NULL once closed */
    PyObject *protocol;
    PyObject *server;      /* asyncio.Server or NULL */
    PyObject *buffer;      /* list of bytes or read-only memoryviews not yet sent, or NULL */
    PyObject *weakreflist;
    PyObject *dict;        /* attributes set on the instance, as on asyncio's */
    PyObject *context;     /* where reads run, the transport its own reader; or NULL */
    PyObject *socket_object;  /* the socket.socket, for extra["socket"], kept once closed */
    int fd;
    int buffered;          /* a BufferedProtocol: get_buffer(), buffer_updated() */
    int protocol_connected;
    int closing, paused, eof, protocol_paused;
    char reader_cancelled; /* as a handle, _cancelled (see _speedups_transport_reader.c) */
    Py_ssize_t conn_lost;  /* connection_lost() scheduled; then writes ignored */
    Py_ssize_t high_water, low_water;
    Py_ssize_t buffer_size;  /* unsent bytes in buffer */
    Py_ssize_t head_offset;  /* bytes of buffer[0] already sent */
} Transport;

/* Interned names (method calls on the loop, the protocol, the socket). */
typedef struct {
    PyObject *add_reader, *remove_reader, *add_writer, *remove_writer, *call_soon,
        *get_debug, *call_exception_handler, *read_ready, *write_ready, *connection_lost,
        *call_connection_lost, *data_received, *eof_received, *get_buffer, *buffer_updated,
        *pause_writing, *resume_writing, *debug, *warning, *exc_info, *message, *exception,
        *transport, *protocol, *close, *detach;
    PyObject *context_kwnames;  /* ("context",) */
} TransportNames;
extern TransportNames wskit_tn;
extern PyObject *wskit_asyncio_logger;

/* _speedups_transport_close.c */
PyObject *wskit_transport_call_loop(Transport *self, PyObject *name, PyObject *arg1,
                                    PyObject *arg2);
int wskit_transport_call_soon_with(Transport *self, PyObject *callback, PyObject *arg);
int wskit_transport_call_soon(Transport *self, PyObject *name, PyObject *arg);
PyObject *wskit_transport_server_call(Transport *self, PyObject *name);
int wskit_transport_debug(Transport *self);
int wskit_transport_log(Transport *self, const char *format, const char *message, PyObject *exc);
int wskit_transport_report(Transport *self, const char *message, PyObject *exc);
int wskit_transport_fatal(Transport *self, PyObject *exc, const char *message);
int wskit_transport_force_close(Transport *self, PyObject *exc);
int wskit_transport_close(Transport *self);
PyObject *wskit_transport_call_connection_lost(Transport *self, PyObject *exc);
int wskit_transport_loop_fd(Transport *self, PyObject *method, PyObject *callback_name);
int wskit_transport_shutdown(Transport *self);

/* _speedups_transport_io.c */
PyObject *wskit_transport_read_ready(Transport *self, PyObject *unused);
PyObject *wskit_transport_write(Transport *self, PyObject *data);
PyObject *wskit_transport_writelines(Transport *self, PyObject *items);
PyObject *wskit_transport_write_ready(Transport *self, PyObject *unused);
int wskit_transport_maybe_pause(Transport *self);
void wskit_transport_clear_buffer(Transport *self);
int wskit_transport_io_init(void);

/* _speedups_transport_reader.c */
int wskit_transport_add_reader(Transport *self);
PyObject *wskit_transport_run(Transport *self, PyObject *unused);
PyObject *wskit_transport_cancel(Transport *self, PyObject *unused);
PyObject *wskit_transport_reader_callback(Transport *self, void *closure);
int wskit_transport_reader_init(void);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* WSKIT_SPEEDUPS_TRANSPORT_H */
