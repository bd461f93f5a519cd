/*
 * wskit._speedups: the core's statistics' counters. Counters, the base of
 * the core (FrameReceiver), holds them as C integers; wskit_count_received()
 * and wskit_count_sent() add a run's bytes and frames for the per-message
 * path (_speedups_messages.c), in place in a Counters, else through the
 * attribute protocol (a core that isn't one, such as the pure-Python twin's).
 */

#include "_speedups.h"

#include <stddef.h>
#include <structmember.h>

/* *slot += delta, for a counter that holds an int: 1 done, 0 not (the
 * caller goes through the attribute protocol), -1 with an exception set. */
static int
add_in_place(PyObject **slot, Py_ssize_t delta)
{
    PyObject *value = *slot;
    if (value == NULL || !PyLong_CheckExact(value)) {
        return 0;
    }
    Py_ssize_t count = PyLong_AsSsize_t(value);
    if (count < 0 || count > PY_SSIZE_T_MAX - delta) {
        PyErr_Clear();  /* too big for a Py_ssize_t: PyNumber_Add */
        return 0;
    }
    PyObject *sum = PyLong_FromSsize_t(count + delta);
    if (sum == NULL) {
        return -1;
    }
    Py_SETREF(*slot, sum);
    return 1;
}

/* Counters, the base of the core (FrameReceiver) that holds its
 * statistics' counters as C integers: counting a message in place costs a
 * few instructions, where a counter held as an int object costs a new int
 * (and the old one freed) on every count. Python reads them as ints,
 * through member descriptors; the core's Python code counts through
 * _count_received() and _count_sent(), one call where `+=` on a member
 * would go through the attribute protocol twice. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t bytes_received, bytes_sent, frames_received, frames_sent;
} CountersObject;

static PyMemberDef Counters_members[] = {
    {"bytes_received", T_PYSSIZET, offsetof(CountersObject, bytes_received), 0,
     "Bytes read from the network."},
    {"bytes_sent", T_PYSSIZET, offsetof(CountersObject, bytes_sent), 0,
     "Bytes written to the network."},
    {"frames_received", T_PYSSIZET, offsetof(CountersObject, frames_received), 0,
     "Frames received."},
    {"frames_sent", T_PYSSIZET, offsetof(CountersObject, frames_sent), 0, "Frames sent."},
    {NULL, 0, 0, 0, NULL},
};

/* *counter += delta: 0, or -1 with OverflowError set past a Py_ssize_t
 * (sys.maxsize, which a member refuses too). */
static int
add_in_counter(Py_ssize_t *counter, Py_ssize_t delta)
{
    if (delta > 0 ? *counter > PY_SSIZE_T_MAX - delta : *counter < PY_SSIZE_T_MIN - delta) {
        PyErr_SetString(PyExc_OverflowError, "counter past sys.maxsize");
        return -1;
    }
    *counter += delta;
    return 0;
}

/* self.bytes_<which> += nbytes; self.frames_<which> += frames */
static PyObject *
count(Py_ssize_t *bytes, Py_ssize_t *frames, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t added_bytes = PyLong_AsSsize_t(args[0]);
    if (added_bytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t added_frames = PyLong_AsSsize_t(args[1]);
    if (added_frames == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (add_in_counter(bytes, added_bytes) < 0 || add_in_counter(frames, added_frames) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Counters_count_received(CountersObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return count(&self->bytes_received, &self->frames_received, args, nargs);
}

static PyObject *
Counters_count_sent(CountersObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return count(&self->bytes_sent, &self->frames_sent, args, nargs);
}

static PyMethodDef Counters_methods[] = {
    {"_count_received", (PyCFunction)(void (*)(void))Counters_count_received, METH_FASTCALL,
     "_count_received(nbytes, frames)\n--\n\nAdd to bytes_received and frames_received."},
    {"_count_sent", (PyCFunction)(void (*)(void))Counters_count_sent, METH_FASTCALL,
     "_count_sent(nbytes, frames)\n--\n\nAdd to bytes_sent and frames_sent."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CountersType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.Counters",
    .tp_basicsize = sizeof(CountersObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The base of the core that holds its statistics' counters.",
    .tp_new = PyType_GenericNew,
    .tp_members = Counters_members,
    .tp_methods = Counters_methods,
};

/* obj.name += delta, for the statistics' counters: in place in a Counters
 * (its member at `offset`), else through the attribute protocol. */
static int
add_to(PyObject *obj, Field *field, size_t offset, Py_ssize_t delta)
{
    if (PyObject_TypeCheck(obj, &CountersType)) {
        return add_in_counter((Py_ssize_t *)((char *)obj + offset), delta);
    }
    PyObject **slot = wskit_field_slot(obj, field);
    int done = slot == NULL ? 0 : add_in_place(slot, delta);
    if (done != 0) {
        return done < 0 ? -1 : 0;
    }
    PyObject *value = PyObject_GetAttr(obj, field->name);
    if (value == NULL) {
        return -1;
    }
    PyObject *increment = PyLong_FromSsize_t(delta);
    if (increment == NULL) {
        Py_DECREF(value);
        return -1;
    }
    PyObject *sum = PyNumber_Add(value, increment);
    Py_DECREF(value);
    Py_DECREF(increment);
    if (sum == NULL) {
        return -1;
    }
    int status = PyObject_SetAttr(obj, field->name, sum);
    Py_DECREF(sum);
    return status;
}

/* core.bytes_<which> += nbytes; core.frames_<which> += frames */
static int
add_both(PyObject *core, Field *bytes_field, size_t bytes_offset, Py_ssize_t nbytes,
         Field *frames_field, size_t frames_offset, Py_ssize_t frames)
{
    if (add_to(core, bytes_field, bytes_offset, nbytes) < 0) {
        return -1;
    }
    return add_to(core, frames_field, frames_offset, frames);
}

int
wskit_count_received(PyObject *core, Py_ssize_t nbytes, Py_ssize_t frames)
{
    return add_both(core, &wskit_fields.core.bytes_received,
                    offsetof(CountersObject, bytes_received), nbytes,
                    &wskit_fields.core.frames_received,
                    offsetof(CountersObject, frames_received), frames);
}

int
wskit_count_sent(PyObject *core, Py_ssize_t nbytes, Py_ssize_t frames)
{
    return add_both(core, &wskit_fields.core.bytes_sent, offsetof(CountersObject, bytes_sent),
                    nbytes, &wskit_fields.core.frames_sent,
                    offsetof(CountersObject, frames_sent), frames);
}

int
wskit_counters_init(PyObject *module)
{
    if (PyType_Ready(&CountersType) < 0) {
        return -1;
    }
    return PyModule_AddType(module, &CountersType);
}
