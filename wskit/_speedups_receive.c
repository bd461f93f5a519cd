/*
 * wskit._speedups: Receiving and MessageIterator, the twins of those of
 * wskit._purepython: what `await websocket.recv()` and `async for` await in
 * wskit.asyncio, without a coroutine per call.
 *
 * A Receiving is one await of the next message of an asyncio Assembler
 * (wskit/asyncio/messages.py). It takes a whole single-frame message that
 * waits in the queue at once; when the queue is empty, it waits for one with
 * a Waiter, as the assembler's get() would. Anything else (a fragmented
 * message, a reader already running, the end of the stream, a failure
 * queued, a binary message to decode) goes to the general path, the
 * coroutine general(decode), before anything is taken from the queue: that
 * path then does what it always does.
 */

#include "_speedups.h"


enum { RECEIVING_START, RECEIVING_WAITING, RECEIVING_GENERAL, RECEIVING_DONE };

typedef struct {
    PyObject_HEAD
    PyObject *assembler;
    PyObject *decode;    /* None, True or False */
    PyObject *general;   /* general(decode): the general path's awaitable; NULL: get() */
    PyObject *waiter;    /* the Waiter awaited, while waiting */
    /* The last two Waiters awaited, for the next waits, or NULL: the last
     * one's wake-up is usually still running when the next wait starts. */
    PyObject *spare[2];
    PyObject *delegate;  /* the general path's iterator, once it took over */
    int state;
} ReceivingObject;

typedef struct {
    PyObject_HEAD
    PyObject *assembler;
    PyObject *general;
    PyObject *last;  /* the last Receiving made, or NULL */
} MessageIteratorObject;

static PyObject *str_resume, *str_throw, *str_close, *str_get, *str_decode;

static PyTypeObject ReceivingType;

/* The message that frame carries, as the general path would return it
 * (wskit.shared.messages.join), if it is a whole message the fast path
 * returns: a new reference; else NULL, with an exception set only on an
 * error. A binary message to decode goes to the general path, which raises
 * what decoding it raises. */
static PyObject *
whole_message(PyObject *frame, PyObject *decode)
{
    int fin = wskit_field_is_true(frame, &wskit_fields.frame.fin);
    if (fin <= 0) {
        return NULL;
    }
    PyObject *opcode = wskit_field_get(frame, &wskit_fields.frame.opcode);
    if (opcode == NULL) {
        return NULL;
    }
    long code = PyLong_AsLong(opcode);
    Py_DECREF(opcode);
    if (code == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int text = code == 1;
    int as_text = decode == Py_None ? text : decode == Py_True;
    if (as_text && !text) {
        return NULL;
    }
    PyObject *data = wskit_field_get(frame, &wskit_fields.frame.data);
    if (data == NULL) {
        return NULL;
    }
    PyObject *message;
    if (as_text) {
        Py_buffer view;
        if (get_bytes_view(data, &view) < 0) {
            Py_DECREF(data);
            return NULL;
        }
        /* Text frames were validated on receipt. */
        message = PyUnicode_DecodeUTF8((const char *)view.buf, view.len, NULL);
        PyBuffer_Release(&view);
        Py_DECREF(data);
        return message;
    }
    if (PyBytes_CheckExact(data)) {
        return data;
    }
    message = PyBytes_FromObject(data);
    Py_DECREF(data);
    return message;
}

/* Take the first frame of the queue, as FrameQueue.get() does: resume
 * reading once no more than `low` frames are left. 0, or -1. */
static int
take_first(PyObject *queue, PyObject *frames)
{
    PyObject *frame = wskit_deque_popleft(frames);
    if (frame == NULL) {
        return -1;
    }
    Py_DECREF(frame);
    int paused = wskit_field_is_true(queue, &wskit_fields.queue.paused);
    if (paused <= 0) {
        return paused;
    }
    PyObject *low = wskit_field_get(queue, &wskit_fields.queue.low);
    if (low == NULL) {
        return -1;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(low);
    Py_DECREF(low);
    if (limit == -1 && PyErr_Occurred()) {
        return -1;
    }
    Py_ssize_t left = PyObject_Size(frames);
    if (left < 0) {
        return -1;
    }
    if (left > limit) {
        return 0;
    }
    if (wskit_field_set(queue, &wskit_fields.queue.paused, Py_False) < 0) {
        return -1;
    }
    PyObject *result = PyObject_CallMethodNoArgs(queue, str_resume);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* Hand over to the general path: general(decode), awaited from here on. */
static PySendResult
receiving_delegate(ReceivingObject *self, PyObject **result)
{
    PyObject *awaitable;
    if (self->general != NULL) {
        awaitable = PyObject_CallOneArg(self->general, self->decode);
    }
    else {  /* the assembler's get(decode) */
        PyObject *args[] = {self->assembler, self->decode};
        awaitable = PyObject_VectorcallMethod(str_get, args, 2, NULL);
    }
    if (awaitable == NULL) {
        return PYGEN_ERROR;
    }
    PyAsyncMethods *async = Py_TYPE(awaitable)->tp_as_async;
    if (async == NULL || async->am_await == NULL) {
        PyErr_Format(PyExc_TypeError, "general path returned %.100s, not an awaitable",
                     Py_TYPE(awaitable)->tp_name);
        Py_DECREF(awaitable);
        return PYGEN_ERROR;
    }
    self->delegate = async->am_await(awaitable);
    Py_DECREF(awaitable);
    if (self->delegate == NULL) {
        return PYGEN_ERROR;
    }
    self->state = RECEIVING_GENERAL;
    PySendResult status = PyIter_Send(self->delegate, Py_None, result);
    if (status != PYGEN_NEXT) {
        Py_CLEAR(self->delegate);
        self->state = RECEIVING_DONE;
    }
    return status;
}

/* The reader stopped waiting: get_in_progress is false again. The waiter
 * is kept for the next waits, which take it if nothing else holds it then. */
static int
receiving_stop_waiting(ReceivingObject *self)
{
    Py_XSETREF(self->spare[1], self->spare[0]);
    self->spare[0] = self->waiter;
    self->waiter = NULL;
    self->state = RECEIVING_DONE;
    return wskit_field_set(self->assembler, &wskit_fields.assembler.get_in_progress, Py_False);
}

/* From the start, or once woken: a message waiting, a wait, or the
 * general path. */
static PySendResult
receiving_read(ReceivingObject *self, PyObject **result)
{
    PyObject *assembler = self->assembler;
    for (;;) {
        int skip = wskit_field_is_true(assembler, &wskit_fields.assembler.skip_rest_of_message);
        if (skip < 0) {
            return PYGEN_ERROR;
        }
        if (skip) {
            return receiving_delegate(self, result);
        }
        PyObject *queue = wskit_field_get(assembler, &wskit_fields.assembler.queue);
        if (queue == NULL) {
            return PYGEN_ERROR;
        }
        PyObject *frames = wskit_field_get(queue, &wskit_fields.queue.frames);
        if (frames == NULL) {
            Py_DECREF(queue);
            return PYGEN_ERROR;
        }
        Py_ssize_t size = PyObject_Size(frames);
        if (size != 0) {
            PyObject *first = size < 0 ? NULL : PySequence_GetItem(frames, 0);
            PyObject *message = first == NULL ? NULL : whole_message(first, self->decode);
            Py_XDECREF(first);
            if (message != NULL && take_first(queue, frames) < 0) {
                Py_CLEAR(message);
            }
            Py_DECREF(frames);
            Py_DECREF(queue);
            if (message != NULL) {
                self->state = RECEIVING_DONE;
                *result = message;
                return PYGEN_RETURN;
            }
            if (PyErr_Occurred()) {
                return PYGEN_ERROR;
            }
            return receiving_delegate(self, result);
        }
        Py_DECREF(frames);
        Py_DECREF(queue);
        int ended = wskit_field_is_true(assembler, &wskit_fields.assembler.closed);
        if (ended == 0) {
            ended = wskit_field_is_true(assembler, &wskit_fields.assembler.failure_queued);
        }
        if (ended < 0) {
            return PYGEN_ERROR;
        }
        if (ended) {
            return receiving_delegate(self, result);
        }
        /* assembler.waiter = Waiter(assembler.loop), as its _waiter() does
         * (or the last wait's, pending again, when nothing else holds it). */
        PyObject *loop = wskit_field_get(assembler, &wskit_fields.assembler.loop);
        if (loop == NULL) {
            return PYGEN_ERROR;
        }
        PyObject *waiter = NULL;
        for (int i = 1; waiter == NULL && i >= 0; i--) {
            if (self->spare[i] != NULL && wskit_waiter_renew(self->spare[i], loop)) {
                waiter = self->spare[i];
                self->spare[i] = NULL;
            }
        }
        if (waiter == NULL) {
            waiter = wskit_waiter_new(loop);
        }
        Py_DECREF(loop);
        if (waiter == NULL) {
            return PYGEN_ERROR;
        }
        if (wskit_field_set(assembler, &wskit_fields.assembler.waiter, waiter) < 0 ||
            wskit_field_set(assembler, &wskit_fields.assembler.get_in_progress, Py_True) < 0) {
            Py_DECREF(waiter);
            return PYGEN_ERROR;
        }
        self->waiter = waiter;
        self->state = RECEIVING_WAITING;
        /* `yield from waiter`: it yields itself, marked as blocking. */
        PyObject *yielded = Py_TYPE(waiter)->tp_iternext(waiter);
        if (yielded == NULL) {
            receiving_stop_waiting(self);
            return PYGEN_ERROR;
        }
        *result = yielded;
        return PYGEN_NEXT;
    }
}

static PySendResult
receiving_send(ReceivingObject *self, PyObject *value, PyObject **result)
{
    switch (self->state) {
    case RECEIVING_START: {
        self->state = RECEIVING_DONE;
        int running =
            wskit_field_is_true(self->assembler, &wskit_fields.assembler.get_in_progress);
        if (running < 0) {
            return PYGEN_ERROR;
        }
        if (running) {  /* the general path raises ConcurrencyError */
            return receiving_delegate(self, result);
        }
        return receiving_read(self, result);
    }
    case RECEIVING_WAITING: {
        /* Resumed: the waiter is done, or the task misused it. */
        PyObject *waiter = self->waiter;
        PyObject *again = Py_TYPE(waiter)->tp_iternext(waiter);
        Py_XDECREF(again);  /* never: it yielded once already */
        PyObject *type, *exc, *traceback;
        PyErr_Fetch(&type, &exc, &traceback);
        if (receiving_stop_waiting(self) < 0) {
            Py_XDECREF(type);
            Py_XDECREF(exc);
            Py_XDECREF(traceback);
            return PYGEN_ERROR;
        }
        if (type != NULL) {  /* cancelled, or resumed too early */
            PyErr_Restore(type, exc, traceback);
            return PYGEN_ERROR;
        }
        return receiving_read(self, result);
    }
    case RECEIVING_GENERAL: {
        PySendResult status = PyIter_Send(self->delegate, value, result);
        if (status != PYGEN_NEXT) {
            Py_CLEAR(self->delegate);
            self->state = RECEIVING_DONE;
        }
        return status;
    }
    default:
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited Receiving");
        return PYGEN_ERROR;
    }
}

/* Raise StopIteration(value), as a generator that returns value. */
static PyObject *
stop_iteration(PyObject *value)
{
    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *
Receiving_iternext(ReceivingObject *self)
{
    PyObject *result;
    PySendResult status = receiving_send(self, Py_None, &result);
    if (status == PYGEN_NEXT) {
        return result;
    }
    if (status == PYGEN_RETURN) {
        if (result == Py_None) {
            Py_DECREF(result);
            return NULL;
        }
        return stop_iteration(result);
    }
    return NULL;
}

static PyObject *
Receiving_send(ReceivingObject *self, PyObject *value)
{
    PyObject *result;
    PySendResult status = receiving_send(self, value, &result);
    if (status == PYGEN_NEXT) {
        return result;
    }
    if (status == PYGEN_RETURN) {
        return stop_iteration(result);
    }
    return NULL;
}

static PySendResult
Receiving_am_send(ReceivingObject *self, PyObject *value, PyObject **result)
{
    PySendResult status = receiving_send(self, value, result);
    if (status == PYGEN_ERROR) {
        *result = NULL;
    }
    return status;
}

/* throw(exc) or throw(type[, value[, traceback]]), as a generator takes it. */
static PyObject *
Receiving_throw(ReceivingObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw() takes 1 to 3 arguments");
        return NULL;
    }
    if (self->state == RECEIVING_GENERAL) {
        PyObject *result = PyObject_VectorcallMethod(
            str_throw, (PyObject *[]){self->delegate, args[0], nargs > 1 ? args[1] : NULL,
                                      nargs > 2 ? args[2] : NULL},
            (size_t)nargs + 1, NULL);
        if (result == NULL) {
            Py_CLEAR(self->delegate);
            self->state = RECEIVING_DONE;
        }
        return result;
    }
    if (self->state == RECEIVING_WAITING && receiving_stop_waiting(self) < 0) {
        return NULL;
    }
    self->state = RECEIVING_DONE;
    PyObject *exc = args[0], *value = nargs > 1 ? args[1] : Py_None;
    if (PyExceptionClass_Check(exc)) {  /* throw(type[, value[, traceback]]) */
        exc = value == Py_None ? PyObject_CallNoArgs(exc) : PyObject_CallOneArg(exc, value);
        if (exc == NULL) {
            return NULL;
        }
    }
    else if (!PyExceptionInstance_Check(exc)) {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from BaseException, "
                     "not %.100s", Py_TYPE(exc)->tp_name);
        return NULL;
    }
    else {
        Py_INCREF(exc);
    }
    if (nargs > 2 && args[2] != Py_None && PyException_SetTraceback(exc, args[2]) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
Receiving_close(ReceivingObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == RECEIVING_GENERAL) {
        PyObject *delegate = self->delegate;
        self->delegate = NULL;
        self->state = RECEIVING_DONE;
        PyObject *result = PyObject_CallMethodNoArgs(delegate, str_close);
        Py_DECREF(delegate);
        return result;
    }
    if (self->state == RECEIVING_WAITING && receiving_stop_waiting(self) < 0) {
        return NULL;
    }
    self->state = RECEIVING_DONE;
    Py_RETURN_NONE;
}

static PyObject *
receiving_new(PyObject *assembler, PyObject *decode, PyObject *general)
{
    ReceivingObject *self = PyObject_GC_New(ReceivingObject, &ReceivingType);
    if (self == NULL) {
        return NULL;
    }
    self->assembler = Py_NewRef(assembler);
    self->decode = Py_NewRef(decode);
    self->general = Py_XNewRef(general);
    self->waiter = self->spare[0] = self->spare[1] = self->delegate = NULL;
    self->state = RECEIVING_START;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyObject *
Receiving_new(PyTypeObject *Py_UNUSED(type), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"assembler", "decode", "general", NULL};
    PyObject *assembler, *decode, *general = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:Receiving", keywords, &assembler,
                                     &decode, &general)) {
        return NULL;
    }
    return receiving_new(assembler, decode, general == Py_None ? NULL : general);
}

static int
Receiving_traverse(ReceivingObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->assembler);
    Py_VISIT(self->decode);
    Py_VISIT(self->general);
    Py_VISIT(self->waiter);
    Py_VISIT(self->spare[0]);
    Py_VISIT(self->spare[1]);
    Py_VISIT(self->delegate);
    return 0;
}

static int
Receiving_clear(ReceivingObject *self)
{
    Py_CLEAR(self->assembler);
    Py_CLEAR(self->decode);
    Py_CLEAR(self->general);
    Py_CLEAR(self->waiter);
    Py_CLEAR(self->spare[0]);
    Py_CLEAR(self->spare[1]);
    Py_CLEAR(self->delegate);
    return 0;
}

/* Dropped while waiting, as a generator is closed when it is dropped. */
static void
Receiving_finalize(ReceivingObject *self)
{
    if (self->state != RECEIVING_WAITING || self->assembler == NULL) {
        return;
    }
    PyObject *type, *exc, *traceback;
    PyErr_Fetch(&type, &exc, &traceback);
    if (receiving_stop_waiting(self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    PyErr_Restore(type, exc, traceback);
}

static void
Receiving_dealloc(ReceivingObject *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return;  /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    Receiving_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *
Receiving_await(ReceivingObject *self)
{
    return Py_NewRef(self);
}

static PyMethodDef Receiving_methods[] = {
    {"send", (PyCFunction)Receiving_send, METH_O,
     "Resume the await with value; return what it yields next."},
    {"throw", (PyCFunction)(void (*)(void))Receiving_throw, METH_FASTCALL,
     "Raise an exception at the point where the await is suspended."},
    {"close", (PyCFunction)Receiving_close, METH_NOARGS,
     "Stop the await: a reader waiting stops waiting."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods Receiving_async = {
    .am_await = (unaryfunc)Receiving_await,
    .am_send = (sendfunc)Receiving_am_send,
};

PyDoc_STRVAR(Receiving_doc,
"Receiving(assembler, decode, general=None)\n"
"--\n"
"\n"
"One await of the next message of an asyncio Assembler.\n"
"\n"
"A whole single-frame message waiting in assembler's queue is taken and\n"
"returned as the assembler's get(decode) would; when the queue is empty,\n"
"the await waits for frames with a Waiter, as get() does. Everything else\n"
"goes, before anything is taken, to general(decode) (None: the\n"
"assembler's get), whose awaitable is awaited from there on.");

static PyTypeObject ReceivingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.Receiving",
    .tp_basicsize = sizeof(ReceivingObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = Receiving_doc,
    .tp_new = Receiving_new,
    .tp_dealloc = (destructor)Receiving_dealloc,
    .tp_finalize = (destructor)Receiving_finalize,
    .tp_traverse = (traverseproc)Receiving_traverse,
    .tp_clear = (inquiry)Receiving_clear,
    .tp_as_async = &Receiving_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Receiving_iternext,
    .tp_methods = Receiving_methods,
};

static PyObject *
MessageIterator_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"assembler", "general", NULL};
    PyObject *assembler, *general;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:MessageIterator", keywords, &assembler,
                                     &general)) {
        return NULL;
    }
    MessageIteratorObject *self = (MessageIteratorObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->assembler = Py_NewRef(assembler);
    self->general = Py_NewRef(general);
    self->last = NULL;
    return (PyObject *)self;
}

static int
MessageIterator_traverse(MessageIteratorObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->assembler);
    Py_VISIT(self->general);
    Py_VISIT(self->last);
    return 0;
}

static int
MessageIterator_clear(MessageIteratorObject *self)
{
    Py_CLEAR(self->assembler);
    Py_CLEAR(self->general);
    Py_CLEAR(self->last);
    return 0;
}

static void
MessageIterator_dealloc(MessageIteratorObject *self)
{
    PyObject_GC_UnTrack(self);
    MessageIterator_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
MessageIterator_aiter(MessageIteratorObject *self)
{
    return Py_NewRef(self);
}

/* The next message's await. The last one, once finished and held by
 * nothing but the iterator, starts again rather than a new one being made:
 * nobody can tell (an allocation, a finalizer's call and a free spared per
 * message). A finished Receiving holds no waiter and no delegate. */
static PyObject *
MessageIterator_anext(MessageIteratorObject *self)
{
    ReceivingObject *last = (ReceivingObject *)self->last;
    if (last != NULL && Py_REFCNT(last) == 1 && last->state == RECEIVING_DONE) {
        last->state = RECEIVING_START;
        return Py_NewRef(last);
    }
    PyObject *receiving = receiving_new(self->assembler, Py_None, self->general);
    Py_XSETREF(self->last, Py_XNewRef(receiving));
    return receiving;
}

static PyAsyncMethods MessageIterator_async = {
    .am_aiter = (unaryfunc)MessageIterator_aiter,
    .am_anext = (unaryfunc)MessageIterator_anext,
};

PyDoc_STRVAR(MessageIterator_doc,
"MessageIterator(assembler, general)\n"
"--\n"
"\n"
"The messages of an asyncio Assembler, for `async for`: each __anext__()\n"
"is Receiving(assembler, None, general); general ends the iteration.");

static PyTypeObject MessageIteratorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.MessageIterator",
    .tp_basicsize = sizeof(MessageIteratorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = MessageIterator_doc,
    .tp_new = MessageIterator_new,
    .tp_dealloc = (destructor)MessageIterator_dealloc,
    .tp_traverse = (traverseproc)MessageIterator_traverse,
    .tp_clear = (inquiry)MessageIterator_clear,
    .tp_as_async = &MessageIterator_async,
};

/* Receiver: a base of the asyncio Assembler, for its receive(). */

static PyObject *
Receiver_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkwargs = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs + nkwargs > 1) {
        PyErr_SetString(PyExc_TypeError, "receive() takes one argument, decode");
        return NULL;
    }
    if (nkwargs == 1 && PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), str_decode) != 0) {
        PyErr_Format(PyExc_TypeError, "receive() got an unexpected keyword argument %R",
                     PyTuple_GET_ITEM(kwnames, 0));
        return NULL;
    }
    return receiving_new(self, nargs + nkwargs == 1 ? args[0] : Py_None, NULL);
}

static PyMethodDef Receiver_methods[] = {
    {"receive", (PyCFunction)(void (*)(void))Receiver_receive, METH_FASTCALL | METH_KEYWORDS,
     "receive(decode=None)\n--\n\n"
     "Return an awaitable of the next message, as get(decode) is: a Receiving."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Receiver_doc,
"A base of the asyncio Assembler: its receive(), an await of the next\n"
"message without a Python frame (Receiving, with the assembler's get() as\n"
"the general path).");

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.Receiver",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = Receiver_doc,
    .tp_new = PyType_GenericNew,
    .tp_methods = Receiver_methods,
};

int
wskit_receive_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_resume, "resume"},
        {&str_throw, "throw"},
        {&str_close, "close"},
        {&str_get, "get"},
        {&str_decode, "decode"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    if (PyType_Ready(&ReceivingType) < 0 || PyType_Ready(&MessageIteratorType) < 0 ||
        PyType_Ready(&ReceiverType) < 0) {
        return -1;
    }
    if (PyModule_AddType(module, &ReceivingType) < 0 ||
        PyModule_AddType(module, &MessageIteratorType) < 0 ||
        PyModule_AddType(module, &ReceiverType) < 0) {
        return -1;
    }
    return 0;
}
