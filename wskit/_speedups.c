/*
 * wskit._speedups: the hot loops of wskit in C, one extension built from
 * these files (setup.py compiles every wskit/_speedups*.c):
 *
 * - _speedups_mask.c: apply_mask(data, mask), XOR a payload with a 4-byte
 *   masking key (RFC 6455, section 5.3).
 * - _speedups_utf8.c: UTF8Validator, incremental, fail-fast, strict UTF-8
 *   validation (RFC 3629 / Unicode table 3-7), for text messages split in
 *   fragments.
 * - _speedups_frames.c, the frame codec: parse_header(buffer, offset) and
 *   read_frame(buffer, offset) decode a frame; build_frame(first_byte,
 *   payload, mask) builds one to send in one allocation; read_messages(...)
 *   reads a run of frames that each carry a whole message.
 * - _speedups_messages.c, the per-message path of an open connection:
 *   receive_messages(protocol, data, queue, ...), a read of whole messages,
 *   plain or compressed (permessage-deflate), from the bytes to the queue
 *   that recv() reads, and send_message(protocol, message, text, ...), a
 *   whole message to its frame, compressed or not, each in one call.
 * - _speedups_send.c: write_message(connection, message, text, compress),
 *   what send() of a whole message does in wskit.asyncio, in one call: the
 *   core's checks, the frame, and the write (or the burst it joins).
 * - _speedups_receive.c: Receiving and MessageIterator, what `await recv()`
 *   and `async for` await in wskit.asyncio: a whole message taken from the
 *   queue, or a Waiter awaited, without a coroutine per call.
 * - _speedups_read.c: ReadPath, the base of wskit.asyncio's Connection whose
 *   get_buffer() and buffer_updated() the event loop calls on every read:
 *   a read of whole messages goes to the queue and wakes the reader without
 *   a Python frame.
 * - _speedups_transport.c, _speedups_transport_close.c,
 *   _speedups_transport_io.c: SocketTransport,
 *   wskit.asyncio's socket transport on asyncio's own selector loop, the
 *   twin of asyncio's _SelectorSocketTransport: reads and writes without
 *   Python bytecode, a read that fills
 *   the buffer followed by another, writelines() in one sendmsg().
 * - _speedups_payload.c: PayloadBuffer, the payload of a long frame,
 *   unmasked into place as it arrives rather than buffered, then copied out.
 * - _speedups_waiter.c: Waiter, what recv() awaits in wskit.asyncio; resumes
 *   its task from the protocol callback that wakes it, without a pass through
 *   the event loop.
 * - _speedups_http.c: split_request(data, max_line, max_headers), the head
 *   of a handshake request split in one pass when the general rules of
 *   wskit.http11 would take it as it is.
 * - _speedups_slots.c: Field, how the others read and write the slots
 *   (__slots__) of Python objects in place, their offsets found once per
 *   type, two types at a time; the one Field of each attribute they read
 *   (wskit_fields); and the interned names the others look up.
 * - _speedups.h: what they share.
 *
 * wskit/_purepython*.py hold the twin of each in Python, with the same API;
 * wskit/speedups.py picks one or the other, piece by piece; the tests run
 * both and compare them. Keep them in step.
 */

#include "_speedups.h"

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wskit._speedups",
    .m_doc = "C implementation of wskit's hot loops (see wskit.speedups).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (wskit_fields_init() < 0 || wskit_deque_init() < 0) {  /* see _speedups_slots.c */
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (wskit_mask_init(module) < 0 || wskit_utf8_init(module) < 0
        || wskit_frames_init(module) < 0 || wskit_payload_init(module) < 0
        || wskit_waiter_init(module) < 0 || wskit_http_init(module) < 0
        || wskit_counters_init(module) < 0 || wskit_messages_init(module) < 0
        || wskit_receive_init(module) < 0 || wskit_read_init(module) < 0
        || wskit_send_init(module) < 0 || wskit_transport_init(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
