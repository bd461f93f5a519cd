/*
 * What the source files of wskit._speedups share (see _speedups.c for the
 * map). Functions shared between files are prefixed wskit_; everything else
 * stays static in its file.
 */

#ifndef WSKIT_SPEEDUPS_H
#define WSKIT_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Above this size, let other threads run while we loop: switching the GIL
 * costs about a microsecond, a 64 KiB pass takes several. */
#define RELEASE_GIL_THRESHOLD (64 * 1024)

/* Fill `view` with a C-contiguous byte view of `obj` (bytes, bytearray,
 * memoryview, array, mmap...). PyBUF_SIMPLE refuses strided buffers with
 * BufferError and anything else with TypeError, which is what we want. */
static inline int
get_bytes_view(PyObject *obj, Py_buffer *view)
{
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

/* Shared between the files, not exported by the extension. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* _speedups_mask.c: masking (RFC 6455, section 5.3). */
void wskit_mask_bytes(const unsigned char *in, unsigned char *out, Py_ssize_t size,
                      const unsigned char key[4]);
void wskit_copy_payload(const unsigned char *in, unsigned char *out, Py_ssize_t size,
                        const unsigned char *key);
int wskit_read_mask_key(PyObject *obj, unsigned char key[4]);

/* _speedups_utf8.c: whether `size` bytes from `s` are whole, valid UTF-8. */
int wskit_utf8_valid(const unsigned char *s, Py_ssize_t size);

/* _speedups_frames.c: a size limit given as an int or None
 * (PY_SSIZE_T_MAX): a negative int stays negative, a limit that every
 * frame exceeds, as the general rules compare lengths with it; the
 * options of a run, (masked, max_message_size, max_fragment_size) from
 * args[0:3]; the run of frames that each carry a whole message, appended to
 * a list (see read_messages). */
int wskit_get_limit(PyObject *obj, Py_ssize_t *limit);
int wskit_run_options(PyObject *const *args, int *masked, Py_ssize_t *max_message,
                      Py_ssize_t *max_fragment);
Py_ssize_t wskit_read_run(const unsigned char *buf, Py_ssize_t len, Py_ssize_t offset,
                          int masked, Py_ssize_t max_message, Py_ssize_t max_fragment,
                          PyObject *events);
/* _speedups_frames.c: the frame at an offset if it carries a whole
 * compressed message, its payload unmasked (see receive_messages); a Frame
 * of a whole text or binary message. */
Py_ssize_t wskit_read_compressed(const unsigned char *buf, Py_ssize_t len, Py_ssize_t offset,
                                 int masked, Py_ssize_t max_length, unsigned char *first,
                                 PyObject **payload);
/* _speedups_frames.c: whether buf[0:len] starts with the whole, valid
 * header of an unfragmented binary frame without RSV bits and with the
 * expected mask bit: its size (mask key included) and payload length go to
 * *header_size and *length. */
int wskit_binary_frame_start(const unsigned char *buf, Py_ssize_t len, int masked,
                             Py_ssize_t *header_size, uint64_t *length);
/* _speedups_messages.c: count a whole message of nbytes received and add
 * its frame to the queue, as the run of receive_messages() does: 0, or -1
 * with an exception set. */
int wskit_receive_frame(PyObject *protocol, Py_ssize_t nbytes, PyObject *frame, PyObject *queue);
/* _speedups_payload.c: start the long payload of the unfragmented binary
 * frame at buf[:len], as the core's general rules start it (see
 * FrameReceiver.receive_messages): len if started, 0 if not (the general
 * rules meet the frame), -1 with an exception set. */
Py_ssize_t wskit_start_payload(PyObject *protocol, const unsigned char *buf, Py_ssize_t len,
                               int masked, Py_ssize_t max_message, Py_ssize_t max_fragment);
/* Protocol.receive_payload_end(count, queue), rule included, without its
 * Python frame unless the core's type has one of its own (see
 * wskit_core_receives_payload_end(), _speedups_messages.c): 1 if the bytes
 * ended the message, 0 if not, -1 with an exception set. */
int wskit_receive_payload_end(PyObject *protocol, PyObject *count, PyObject *queue);
int wskit_core_receives_payload_end(PyTypeObject *type);
/* payload.missing, for a PayloadBuffer (in place) or its twin (by name):
 * -1 with an exception set on failure. */
Py_ssize_t wskit_payload_missing(PyObject *payload);
/* The unmasked header of a frame of `length` bytes: a new reference, or
 * NULL with an exception set. */
PyObject *wskit_frame_header(unsigned char first, Py_ssize_t length);
PyObject *wskit_message_frame(unsigned char opcode, PyObject *payload);
/* _speedups_frames.c: a frame of data's bytes, masked or not (see build_frame). */
PyObject *wskit_build_frame(unsigned char first, Py_buffer *data, int mask);

/* _speedups_slots.c: an attribute of an object, such as the connection,
 * its core, the assembler, its queue or a frame. Those are slots
 * (__slots__): read and written in place, at the offset their type gives,
 * found once per type (and again if the type changes) for two types at a
 * time, they cost a few instructions rather than a lookup by name; anything
 * else goes by name. wskit_slot_offset() is where a type's instances hold
 * the attribute `name` if it is a slot of an object, else -1;
 * wskit_field_lookup() finds and remembers it for a type the field hasn't
 * seen as it is. */
typedef struct {
    PyTypeObject *type;  /* a strong reference, so that its address stays its own */
    unsigned int version;
    Py_ssize_t offset;   /* -1: not a slot */
} FieldEntry;
typedef struct {
    PyObject *name;
    FieldEntry seen[2];  /* a client's and a server's connection in one process */
    int next;            /* the entry a third type replaces */
} Field;
/* The attributes the C files read, one Field each, shared by every file
 * that reads it: grouped by the object that holds them, so that a name two
 * objects hold (loop) has a Field for each, whose two entries stay that
 * object's types. Named in _speedups_slots.c; wskit_fields_init() interns
 * the names, before any file's init: 0, or -1 with an exception set. */
typedef struct {
    struct {  /* the core, wskit.protocol.Protocol */
        Field state, side, debug, extensions, writes, events, reading, buffer, text_checked,
            incoming_payload, payload_header, message_opcode, expect_continuation_frame, eof_sent,
            max_message_size, max_fragment_size, bytes_received, frames_received, bytes_sent,
            frames_sent;
    } core;
    struct {  /* a wskit.asyncio Connection */
        Field protocol, transport, loop, read_buffer, recv_messages, sent_since_read,
            writing_paused, fragmented_send_waiter, burst, burst_size, burst_limit,
            read_low_water, payload_socket_sought, socket_fd;
    } connection;
    struct {  /* its Assembler (wskit.asyncio.messages) */
        Field queue, waiter, loop, get_in_progress, skip_rest_of_message, closed,
            failure_queued;
    } assembler;
    struct {  /* the assembler's FrameQueue (wskit.shared.messages) */
        Field frames, high, low, paused;
    } queue;
    struct {  /* a queued Frame */
        Field fin, opcode, data;
    } frame;
} Fields;
extern Fields wskit_fields;
int wskit_fields_init(void);
/* Names of attributes and methods a file looks up by name, each interned:
 * 0, or -1 with an exception set. */
typedef struct {
    PyObject **name;
    const char *text;
} InternedName;
int wskit_intern_names(const InternedName *names, size_t count);
/* _speedups_slots.c: frames.popleft() and frames.extend(items), without a
 * method lookup when frames is a collections.deque (the queue's frames):
 * new references, or NULL with an exception set. wskit_deque_init() looks
 * the deque's methods up, before any file's init: 0, or -1. */
int wskit_deque_init(void);
PyObject *wskit_deque_popleft(PyObject *frames);
PyObject *wskit_deque_extend(PyObject *frames, PyObject *items);
/* _speedups_slots.c: the exception being raised, taken (a new reference,
 * NULL if none), and raised again, its traceback kept, on 3.11 as on 3.12+. */
PyObject *wskit_take_exception(void);
void wskit_restore_exception(PyObject *exc);
Py_ssize_t wskit_slot_offset(PyTypeObject *type, PyObject *name);
Py_ssize_t wskit_field_lookup(Field *field, PyTypeObject *type);

/* Where type's instances hold the field: its offset, or -1. Inline, so
 * that a type already seen costs a few compares. */
static inline Py_ssize_t
wskit_field_offset(Field *field, PyTypeObject *type)
{
    if (PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        unsigned int version = type->tp_version_tag;
        for (int i = 0; i < 2; i++) {
            const FieldEntry *entry = &field->seen[i];
            if (entry->type == type && entry->version == version) {
                return entry->offset;
            }
        }
    }
    return wskit_field_lookup(field, type);
}

/* Where obj holds the slot, NULL if it isn't one. */
static inline PyObject **
wskit_field_slot(PyObject *obj, Field *field)
{
    Py_ssize_t offset = wskit_field_offset(field, Py_TYPE(obj));
    return offset < 0 ? NULL : (PyObject **)((char *)obj + offset);
}

/* obj's attribute: a new reference, or NULL with an exception set. */
static inline PyObject *
wskit_field_get(PyObject *obj, Field *field)
{
    PyObject **slot = wskit_field_slot(obj, field);
    if (slot != NULL && *slot != NULL) {
        return Py_NewRef(*slot);
    }
    return PyObject_GetAttr(obj, field->name);
}

/* Whether value is true: 1, 0, or -1 with an exception set. The core's
 * flags and its lists and buffers (per message, each checked empty) answered
 * without PyObject_IsTrue()'s slot lookups. */
static inline int
wskit_truth(PyObject *value)
{
    if (value == Py_True || value == Py_False || value == Py_None) {
        return value == Py_True;
    }
    if (PyList_CheckExact(value)) {
        return PyList_GET_SIZE(value) != 0;
    }
    if (PyByteArray_CheckExact(value)) {
        return PyByteArray_GET_SIZE(value) != 0;
    }
    return PyObject_IsTrue(value);
}

/* Whether obj's attribute is true: 1, 0, or -1 with an exception set. */
static inline int
wskit_field_is_true(PyObject *obj, Field *field)
{
    PyObject *value = wskit_field_get(obj, field);
    if (value == NULL) {
        return -1;
    }
    int truth = wskit_truth(value);
    Py_DECREF(value);
    return truth;
}

/* obj.<field> = value: 0, or -1 with an exception set. */
static inline int
wskit_field_set(PyObject *obj, Field *field, PyObject *value)
{
    PyObject **slot = wskit_field_slot(obj, field);
    if (slot == NULL) {
        return PyObject_SetAttr(obj, field->name, value);
    }
    Py_XSETREF(*slot, Py_NewRef(value));
    return 0;
}

/* _speedups_messages.c: Protocol.receive_messages(data[:size], queue),
 * rule included, without its Python frame or the slice unless the core's
 * type has a receive_messages() of its own: how many bytes were received,
 * or -1 with an exception set; the frame of a whole message to send,
 * counted, or None for the general path (see send_message). */
Py_ssize_t wskit_receive_messages(PyObject *protocol, PyObject *data, Py_ssize_t size,
                                  PyObject *queue);
PyObject *wskit_message_frame_to_send(PyObject *protocol, PyObject *message, PyObject *text,
                                      int mask, Py_ssize_t max_length, PyObject *extension);
/* The core's constants those rules compare with (OPEN, SERVER, _LONG_PAYLOAD),
 * and what a long payload starts with (its PayloadBuffer, BINARY, and
 * _LONG_PAYLOAD_ARRIVED), set by wskit_import_receiving() on first use: 0,
 * or -1 with an exception set. */
int wskit_import_receiving(void);
extern PyObject *wskit_state_open, *wskit_side_server, *wskit_payload_type, *wskit_binary_opcode;
extern Py_ssize_t wskit_long_payload, wskit_long_payload_arrived;

/* _speedups_waiter.c: a new Waiter of an event loop. */
PyObject *wskit_waiter_new(PyObject *loop);
/* Make a woken Waiter of loop pending again, if nothing but the caller
 * holds it: 1 done, 0 not (the caller makes a new one). */
int wskit_waiter_renew(PyObject *waiter, PyObject *loop);
/* _speedups_waiter.c: waiter.wake(), a Waiter's without a lookup. */
PyObject *wskit_waiter_wake(PyObject *waiter);

/* _speedups_counters.c: the core's bytes_<which> += nbytes and
 * frames_<which> += frames, in place in a Counters: 0, or -1 with an
 * exception set. */
int wskit_count_received(PyObject *core, Py_ssize_t nbytes, Py_ssize_t frames);
int wskit_count_sent(PyObject *core, Py_ssize_t nbytes, Py_ssize_t frames);

/* Each file adds its functions and types to the module: 0, or -1 with an
 * exception set. */
int wskit_mask_init(PyObject *module);
int wskit_utf8_init(PyObject *module);
int wskit_frames_init(PyObject *module);
int wskit_payload_init(PyObject *module);
int wskit_waiter_init(PyObject *module);
int wskit_http_init(PyObject *module);
int wskit_counters_init(PyObject *module);
int wskit_messages_init(PyObject *module);
int wskit_receive_init(PyObject *module);
int wskit_read_init(PyObject *module);
int wskit_send_init(PyObject *module);
int wskit_transport_init(PyObject *module);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* WSKIT_SPEEDUPS_H */
