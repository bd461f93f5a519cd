/*
 * wskit._speedups: Field, how the C files read and write an attribute of a
 * Python object (the connection, its core, the assembler, its queue, a
 * frame). Those are slots (__slots__): read and written in place, at the
 * offset their type gives, they cost a few instructions rather than a
 * lookup by name (~190 instructions through getattr).
 *
 * A Field finds the offset once per type, and again when the type changes
 * (its version tag). It remembers two types at a time, so that a client's
 * and a server's connection in one process each keep theirs. The check of
 * what it remembers is inline (_speedups.h); finding an offset is here.
 *
 * Every file reads an attribute through the same Field, in wskit_fields,
 * named here: a lookup is made once per type for the whole module.
 */

#include "_speedups.h"

#include <structmember.h> /* T_OBJECT_EX, READONLY */

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

Py_ssize_t
wskit_field_lookup(Field *field, PyTypeObject *type)
{
    Py_ssize_t offset = wskit_slot_offset(type, field->name);
    /* The lookup gives the type a version tag, if it can have one. */
    if (PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        /* A type seen before, whose version changed, keeps its entry;
         * a new one replaces the entry not stored last. */
        int i = field->seen[0].type == type ? 0 : field->seen[1].type == type ? 1 : field->next;
        field->next = i ^ 1;
        FieldEntry *entry = &field->seen[i];
        Py_INCREF(type);
        Py_XSETREF(entry->type, type);
        entry->version = type->tp_version_tag;
        entry->offset = offset;
    }
    return offset;
}

Fields wskit_fields;

/* Each field of wskit_fields and the attribute it reads. */
static const struct {
    Field *field;
    const char *name;
} field_names[] = {
    {&wskit_fields.core.state, "state"},
    {&wskit_fields.core.side, "side"},
    {&wskit_fields.core.debug, "debug"},
    {&wskit_fields.core.extensions, "extensions"},
    {&wskit_fields.core.writes, "_writes"},
    {&wskit_fields.core.events, "_events"},
    {&wskit_fields.core.reading, "_reading"},
    {&wskit_fields.core.buffer, "_buffer"},
    {&wskit_fields.core.text_checked, "_text_checked"},
    {&wskit_fields.core.incoming_payload, "incoming_payload"},
    {&wskit_fields.core.payload_header, "_payload_header"},
    {&wskit_fields.core.message_opcode, "_message_opcode"},
    {&wskit_fields.core.expect_continuation_frame, "expect_continuation_frame"},
    {&wskit_fields.core.eof_sent, "eof_sent"},
    {&wskit_fields.core.max_message_size, "max_message_size"},
    {&wskit_fields.core.max_fragment_size, "max_fragment_size"},
    {&wskit_fields.core.bytes_received, "bytes_received"},
    {&wskit_fields.core.frames_received, "frames_received"},
    {&wskit_fields.core.bytes_sent, "bytes_sent"},
    {&wskit_fields.core.frames_sent, "frames_sent"},
    {&wskit_fields.connection.protocol, "protocol"},
    {&wskit_fields.connection.transport, "transport"},
    {&wskit_fields.connection.loop, "loop"},
    {&wskit_fields.connection.read_buffer, "read_buffer"},
    {&wskit_fields.connection.recv_messages, "recv_messages"},
    {&wskit_fields.connection.sent_since_read, "sent_since_read"},
    {&wskit_fields.connection.writing_paused, "writing_paused"},
    {&wskit_fields.connection.fragmented_send_waiter, "fragmented_send_waiter"},
    {&wskit_fields.connection.burst, "burst"},
    {&wskit_fields.connection.burst_size, "burst_size"},
    {&wskit_fields.connection.burst_limit, "burst_limit"},
    {&wskit_fields.connection.read_low_water, "read_low_water"},
    {&wskit_fields.connection.payload_socket_sought, "payload_socket_sought"},
    {&wskit_fields.connection.socket_fd, "socket_fd"},
    {&wskit_fields.assembler.queue, "queue"},
    {&wskit_fields.assembler.waiter, "waiter"},
    {&wskit_fields.assembler.loop, "loop"},
    {&wskit_fields.assembler.get_in_progress, "get_in_progress"},
    {&wskit_fields.assembler.skip_rest_of_message, "skip_rest_of_message"},
    {&wskit_fields.assembler.closed, "closed"},
    {&wskit_fields.assembler.failure_queued, "failure_queued"},
    {&wskit_fields.queue.frames, "frames"},
    {&wskit_fields.queue.high, "high"},
    {&wskit_fields.queue.low, "low"},
    {&wskit_fields.queue.paused, "paused"},
    {&wskit_fields.frame.fin, "fin"},
    {&wskit_fields.frame.opcode, "opcode"},
    {&wskit_fields.frame.data, "data"},
};

/* A field left out of the table would have no name to look up. */
_Static_assert(sizeof(field_names) / sizeof(field_names[0]) * sizeof(Field)
                   == sizeof(wskit_fields),
               "every field of wskit_fields is in field_names");

int
wskit_fields_init(void)
{
    for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
        field_names[i].field->name = PyUnicode_InternFromString(field_names[i].name);
        if (field_names[i].field->name == NULL) {
            return -1;
        }
    }
    return 0;
}

/* collections.deque, and its popleft(), extend() and append() as method
 * descriptors: called on an exact deque (the queue's frames) without a
 * method lookup. */
static PyObject *deque_type, *deque_popleft, *deque_extend, *deque_append, *str_popleft,
    *str_extend;

int
wskit_deque_init(void)
{
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections == NULL) {
        return -1;
    }
    deque_type = PyObject_GetAttrString(collections, "deque");
    Py_DECREF(collections);
    if (deque_type == NULL) {
        return -1;
    }
    deque_popleft = PyObject_GetAttrString(deque_type, "popleft");
    deque_extend = PyObject_GetAttrString(deque_type, "extend");
    deque_append = PyObject_GetAttrString(deque_type, "append");
    str_popleft = PyUnicode_InternFromString("popleft");
    str_extend = PyUnicode_InternFromString("extend");
    if (deque_popleft == NULL || deque_extend == NULL || deque_append == NULL ||
        str_popleft == NULL || str_extend == NULL) {
        return -1;
    }
    return 0;
}

PyObject *
wskit_deque_popleft(PyObject *frames)
{
    if (Py_IS_TYPE(frames, (PyTypeObject *)deque_type)) {
        return PyObject_Vectorcall(deque_popleft, &frames, 1, NULL);
    }
    return PyObject_CallMethodNoArgs(frames, str_popleft);
}

PyObject *
wskit_deque_extend(PyObject *frames, PyObject *items)
{
    if (Py_IS_TYPE(frames, (PyTypeObject *)deque_type)) {
        /* A list of one, the common read's, appended: extend() would
         * iterate over it, an iterator allocated and freed. */
        if (PyList_CheckExact(items) && PyList_GET_SIZE(items) == 1) {
            PyObject *args[] = {frames, PyList_GET_ITEM(items, 0)};
            return PyObject_Vectorcall(deque_append, args, 2, NULL);
        }
        PyObject *args[] = {frames, items};
        return PyObject_Vectorcall(deque_extend, args, 2, NULL);
    }
    return PyObject_CallMethodOneArg(frames, str_extend, items);
}

int
wskit_intern_names(const InternedName *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        *names[i].name = PyUnicode_InternFromString(names[i].text);
        if (*names[i].name == NULL) {
            return -1;
        }
    }
    return 0;
}

/* See _speedups.h. */
PyObject *
wskit_take_exception(void)
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

void
wskit_restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    if (exc != NULL) {
        PyErr_Restore(Py_NewRef(Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
    }
#endif
}
