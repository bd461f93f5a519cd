/*
 * wskit._speedups: Waiter, the twin of wskit._purepython.Waiter.
 *
 * A future-like object, without a result, that one task awaits. wake()
 * resumes that task right away when no task is running (in a protocol
 * callback), else with loop.call_soon(), as a future would. asyncio is
 * imported when the first Waiter is created, never by the core.
 */

#include "_speedups.h"

enum { WAITER_PENDING, WAITER_DONE, WAITER_CANCELLED };

static PyTypeObject WaiterType;

typedef struct {
    PyObject_HEAD
    PyObject *loop;
    PyObject *callback;  /* the awaiting task's wake-up, or NULL */
    PyObject *context;   /* the context to call it in, or NULL */
    PyObject *message;   /* the cancellation message, or NULL */
    int state;
    int blocking;        /* _asyncio_future_blocking */
    int yielded;         /* `await waiter` suspended once */
} WaiterObject;

static PyObject *current_task, *cancelled_error, *invalid_state_error, *task_type;
static PyObject *str_call_soon, *str_run, *str_context, *str_msg, *context_kwnames, *str_wake;
/* The names a task's step reads and writes on the future it awaits. */
static PyObject *str_blocking, *str_loop, *str_get_loop, *str_add_done_callback;
/* A finished asyncio.Future (result None), handed to a C task's wake-up in
 * place of the waiter it awaited (see wake_argument()). Its loop is a
 * stand-in: Future() only asks it for get_debug(), and nothing else ever
 * looks at it, so no event loop is kept alive. */
static PyObject *finished_future;
/* On Python 3.11, asyncio.current_task() is Python code that looks the loop up
 * in asyncio.tasks._current_tasks, a dict that the C tasks keep: looking there
 * directly spares a Python call on every wake-up. NULL where current_task is
 * in C already (3.12 and later), which is then called. */
static PyObject *current_tasks;

/* callable(name=value) */
static PyObject *
call_with_keyword(PyObject *callable, const char *name, PyObject *value)
{
    PyObject *kwnames = Py_BuildValue("(s)", name);
    if (kwnames == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(callable, &value, 0, kwnames);
    Py_DECREF(kwnames);
    return result;
}

/* asyncio.Future(loop=types.SimpleNamespace(get_debug=bool)), its result set
 * to None. */
static PyObject *
new_finished_future(PyObject *asyncio)
{
    PyObject *types = PyImport_ImportModule("types");
    PyObject *namespace = types ? PyObject_GetAttrString(types, "SimpleNamespace") : NULL;
    Py_XDECREF(types);
    PyObject *stand_in =
        namespace ? call_with_keyword(namespace, "get_debug", (PyObject *)&PyBool_Type) : NULL;
    Py_XDECREF(namespace);
    PyObject *future_type = stand_in ? PyObject_GetAttrString(asyncio, "Future") : NULL;
    PyObject *future = future_type ? call_with_keyword(future_type, "loop", stand_in) : NULL;
    Py_XDECREF(future_type);
    Py_XDECREF(stand_in);
    PyObject *result = future ? PyObject_CallMethod(future, "set_result", "O", Py_None) : NULL;
    if (result == NULL) {
        Py_XDECREF(future);
        return NULL;
    }
    Py_DECREF(result);
    return future;
}

static int
load_asyncio(void)
{
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return -1;
    }
    current_task = PyObject_GetAttrString(asyncio, "current_task");
    cancelled_error = PyObject_GetAttrString(asyncio, "CancelledError");
    invalid_state_error = PyObject_GetAttrString(asyncio, "InvalidStateError");
    if (current_task != NULL && PyFunction_Check(current_task)) {
        PyObject *tasks = PyObject_GetAttrString(asyncio, "tasks");
        current_tasks = tasks ? PyObject_GetAttrString(tasks, "_current_tasks") : NULL;
        Py_XDECREF(tasks);
        if (current_tasks != NULL && !PyDict_Check(current_tasks)) {
            Py_CLEAR(current_tasks);
        }
        PyErr_Clear();  /* no such dict: call current_task() */
    }
    task_type = PyObject_GetAttrString(asyncio, "Task");
    finished_future = new_finished_future(asyncio);
    Py_DECREF(asyncio);
    str_call_soon = PyUnicode_InternFromString("call_soon");
    str_run = PyUnicode_InternFromString("run");
    str_context = PyUnicode_InternFromString("context");
    str_msg = PyUnicode_InternFromString("msg");
    context_kwnames = str_context ? PyTuple_Pack(1, str_context) : NULL;
    if (current_task == NULL || cancelled_error == NULL || invalid_state_error == NULL
        || task_type == NULL || finished_future == NULL || str_call_soon == NULL
        || str_run == NULL || str_msg == NULL || context_kwnames == NULL) {
        Py_CLEAR(current_task);
        Py_CLEAR(task_type);
        Py_CLEAR(finished_future);
        Py_CLEAR(current_tasks);
        Py_CLEAR(cancelled_error);
        Py_CLEAR(invalid_state_error);
        Py_CLEAR(str_call_soon);
        Py_CLEAR(str_run);
        Py_CLEAR(str_context);
        Py_CLEAR(str_msg);
        Py_CLEAR(context_kwnames);
        return -1;
    }
    return 0;
}

static PyObject *
Waiter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"loop", NULL};
    PyObject *loop;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Waiter", keywords, &loop)) {
        return NULL;
    }
    if (current_task == NULL && load_asyncio() < 0) {
        return NULL;
    }
    WaiterObject *self = (WaiterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(loop);
    self->loop = loop;
    self->state = WAITER_PENDING;
    return (PyObject *)self;
}

/* A new Waiter of loop, for Receiving (_speedups_receive.c). */
PyObject *
wskit_waiter_new(PyObject *loop)
{
    if (current_task == NULL && load_asyncio() < 0) {
        return NULL;
    }
    WaiterObject *self = (WaiterObject *)WaiterType.tp_alloc(&WaiterType, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop = Py_NewRef(loop);
    self->state = WAITER_PENDING;
    return (PyObject *)self;
}

int
wskit_waiter_renew(PyObject *waiter, PyObject *loop)
{
    WaiterObject *self = (WaiterObject *)waiter;
    /* Woken (not cancelled), its callback taken, held by nobody else: no
     * one can tell it from a new one. */
    if (!Py_IS_TYPE(waiter, &WaiterType) || Py_REFCNT(waiter) != 1
        || self->state != WAITER_DONE || self->loop != loop || self->callback != NULL) {
        return 0;
    }
    self->state = WAITER_PENDING;
    self->blocking = self->yielded = 0;
    return 1;
}

static int
Waiter_traverse(WaiterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->loop);
    Py_VISIT(self->callback);
    Py_VISIT(self->context);
    Py_VISIT(self->message);
    return 0;
}

static int
Waiter_clear(WaiterObject *self)
{
    Py_CLEAR(self->loop);
    Py_CLEAR(self->callback);
    Py_CLEAR(self->context);
    Py_CLEAR(self->message);
    return 0;
}

static void
Waiter_dealloc(WaiterObject *self)
{
    PyObject_GC_UnTrack(self);
    Waiter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* loop.call_soon(callback, self, context=context): steals both references. */
static int
waiter_call_soon(WaiterObject *self, PyObject *callback, PyObject *context)
{
    PyObject *call_args[] = {self->loop, callback, (PyObject *)self, context};
    PyObject *handle = PyObject_VectorcallMethod(
        str_call_soon, call_args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, context_kwnames);
    Py_DECREF(callback);
    Py_DECREF(context);
    if (handle == NULL) {
        return -1;
    }
    Py_DECREF(handle);
    return 0;
}

static PyObject *
Waiter_await(WaiterObject *self)
{
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
waiter_raise_cancelled(WaiterObject *self)
{
    if (self->message == NULL) {
        PyErr_SetNone(cancelled_error);
    }
    else {
        PyErr_SetObject(cancelled_error, self->message);
    }
    return NULL;
}

/* The iterator behind `await waiter`: yield the waiter once while it is
 * pending (the task then waits for it), finish once it is done. */
static PyObject *
Waiter_iternext(WaiterObject *self)
{
    if (self->state == WAITER_PENDING) {
        if (self->yielded) {
            PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
            return NULL;
        }
        self->yielded = self->blocking = 1;
        Py_INCREF(self);
        return (PyObject *)self;
    }
    if (self->state == WAITER_CANCELLED) {
        return waiter_raise_cancelled(self);
    }
    return NULL;  /* StopIteration: `await waiter` is None */
}

static PyObject *
Waiter_result(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == WAITER_CANCELLED) {
        return waiter_raise_cancelled(self);
    }
    if (self->state == WAITER_PENDING) {
        PyErr_SetString(invalid_state_error, "waiter is pending");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Waiter_done(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->state != WAITER_PENDING);
}

static PyObject *
Waiter_cancelled(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->state == WAITER_CANCELLED);
}

/* A key equal to "context" that isn't the interned name: Python 3.11's C
 * tasks pass a string of their own, the same object at every step, so
 * add_done_callback() compares it once. */
static PyObject *context_key;

/* Set *value to the keyword argument `name` (interned) among `kwnames`,
 * whose values start at `kwvalues`, if it is there; refuse any other
 * keyword. `known` (or NULL) keeps the last other object found equal to
 * `name`. */
static int
keyword_argument(PyObject *const *kwvalues, PyObject *kwnames, PyObject *name,
                 PyObject **known, PyObject **value)
{
    Py_ssize_t count = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (key != name && (known == NULL || key != *known)) {
            if (PyUnicode_Compare(key, name) != 0) {
                PyErr_Format(PyExc_TypeError, "unexpected keyword argument %R", key);
                return -1;
            }
            if (known != NULL) {
                Py_XSETREF(*known, Py_NewRef(key));
            }
        }
        *value = kwvalues[i];
    }
    return 0;
}

static PyObject *
Waiter_add_done_callback(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *context = Py_None;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "add_done_callback() takes one positional argument");
        return NULL;
    }
    if (keyword_argument(args + nargs, kwnames, str_context, &context_key, &context) < 0) {
        return NULL;
    }
    PyObject *callback = args[0];
    if (context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(context);
    }
    if (self->state != WAITER_PENDING) {
        Py_INCREF(callback);
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (self->callback != NULL) {
        Py_DECREF(context);
        PyErr_SetString(PyExc_RuntimeError, "a Waiter takes one callback");
        return NULL;
    }
    Py_INCREF(callback);
    self->callback = callback;
    self->context = context;
    Py_RETURN_NONE;
}

static PyObject *
Waiter_remove_done_callback(WaiterObject *self, PyObject *callback)
{
    int equal = self->callback == NULL
                    ? 0 : PyObject_RichCompareBool(self->callback, callback, Py_EQ);
    if (equal < 0) {
        return NULL;
    }
    if (!equal) {
        return PyLong_FromLong(0);
    }
    Py_CLEAR(self->callback);
    Py_CLEAR(self->context);
    return PyLong_FromLong(1);
}

static PyObject *
Waiter_cancel(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *message = Py_None;
    if (nargs > 1 || (nargs == 1 && kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "cancel() takes one argument, msg");
        return NULL;
    }
    if (nargs == 1) {
        message = args[0];
    }
    else if (keyword_argument(args, kwnames, str_msg, NULL, &message) < 0) {
        return NULL;
    }
    if (self->state != WAITER_PENDING) {
        Py_RETURN_FALSE;
    }
    self->state = WAITER_CANCELLED;
    if (message != Py_None) {
        Py_INCREF(message);
        self->message = message;
    }
    if (self->callback != NULL) {
        PyObject *callback = self->callback, *context = self->context;
        self->callback = self->context = NULL;
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
    }
    Py_RETURN_TRUE;
}

/* Whether a task of `loop` is running: 1 or 0, or -1 with an exception set. */
static int
task_is_running(PyObject *loop)
{
    if (current_tasks != NULL) {
        if (PyDict_GetItemWithError(current_tasks, loop) != NULL) {
            return 1;
        }
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *task = PyObject_CallOneArg(current_task, loop);
    if (task == NULL) {
        return -1;
    }
    int running = task != Py_None;
    Py_DECREF(task);
    return running;
}

/* What the callback of a woken waiter gets: the waiter, but for the wake-up
 * of a C task (the builtin task_wakeup bound to an asyncio.Task, which task
 * steps give to add_done_callback()), which gets the finished future. Either
 * way the task resumes with None; but task_wakeup() takes an exact Future's
 * result in place, and of anything else calls result() by name, a string
 * built and looked up (a miss of the type cache) on every wake-up. */
static PyObject *
wake_argument(PyObject *callback, WaiterObject *self)
{
    /* The method's definition, once found by name: a comparison afterwards. */
    static PyMethodDef *task_wakeup;
    if (PyCFunction_Check(callback)) {
        PyObject *owner = PyCFunction_GET_SELF(callback);
        PyMethodDef *method = ((PyCFunctionObject *)callback)->m_ml;
        if (owner != NULL && PyObject_TypeCheck(owner, (PyTypeObject *)task_type) &&
            (method == task_wakeup || strcmp(method->ml_name, "task_wakeup") == 0)) {
            task_wakeup = method;
            return finished_future;
        }
    }
    return (PyObject *)self;
}

static PyObject *
Waiter_wake(WaiterObject *self, PyObject *Py_UNUSED(ignored));

/* waiter.wake(), for ReadPath (_speedups_read.c): a new reference, or NULL
 * with an exception set. A Waiter's own, without looking it up. */
PyObject *
wskit_waiter_wake(PyObject *waiter)
{
    if (Py_IS_TYPE(waiter, &WaiterType)) {
        return Waiter_wake((WaiterObject *)waiter, NULL);
    }
    return PyObject_CallMethodNoArgs(waiter, str_wake);
}

static PyObject *
Waiter_wake(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state != WAITER_PENDING) {
        Py_RETURN_NONE;
    }
    self->state = WAITER_DONE;
    if (self->callback == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *callback = self->callback, *context = self->context;
    self->callback = self->context = NULL;
    int in_task = task_is_running(self->loop);
    if (in_task < 0) {
        Py_DECREF(callback);
        Py_DECREF(context);
        return NULL;
    }
    if (in_task) {
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    /* context.run(callback, self), or the finished future for a task:
     * what Context.run() does, without looking the method up. */
    PyObject *result = NULL;
    if (PyContext_CheckExact(context)) {
        if (PyContext_Enter(context) == 0) {
            result = PyObject_CallOneArg(callback, wake_argument(callback, self));
            if (PyContext_Exit(context) < 0) {
                Py_CLEAR(result);
            }
        }
    }
    else {
        PyObject *call_args[] = {context, callback, wake_argument(callback, self)};
        result = PyObject_VectorcallMethod(str_run, call_args,
                                           3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    Py_DECREF(callback);
    Py_DECREF(context);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyObject *
Waiter_get_blocking(WaiterObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->blocking);
}

static int
Waiter_set_blocking(WaiterObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _asyncio_future_blocking");
        return -1;
    }
    int blocking = PyObject_IsTrue(value);
    if (blocking < 0) {
        return -1;
    }
    self->blocking = blocking;
    return 0;
}

static PyObject *
Waiter_get_loop(WaiterObject *self, void *Py_UNUSED(closure))
{
    Py_INCREF(self->loop);
    return self->loop;
}

/* Waiter_methods' index of add_done_callback, for Waiter_getattro. */
enum { WAITER_ADD_DONE_CALLBACK = 3 };

static PyMethodDef Waiter_methods[] = {
    {"result", (PyCFunction)Waiter_result, METH_NOARGS,
     "Return None once woken; raise CancelledError if cancelled."},
    {"done", (PyCFunction)Waiter_done, METH_NOARGS, "Whether the waiter was woken or cancelled."},
    {"cancelled", (PyCFunction)Waiter_cancelled, METH_NOARGS,
     "Whether the waiter was cancelled."},
    {"add_done_callback", (PyCFunction)(void (*)(void))Waiter_add_done_callback,
     METH_FASTCALL | METH_KEYWORDS, "Call callback(waiter) once the waiter is done."},
    {"remove_done_callback", (PyCFunction)Waiter_remove_done_callback, METH_O,
     "Forget callback; return how many callbacks were removed (0 or 1)."},
    {"cancel", (PyCFunction)(void (*)(void))Waiter_cancel, METH_FASTCALL | METH_KEYWORDS,
     "Cancel the waiter; its task resumes on the loop's next iteration."},
    {"wake", (PyCFunction)Waiter_wake, METH_NOARGS,
     "Mark the waiter done and resume the task awaiting it, if any."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Waiter_getset[] = {
    {"_asyncio_future_blocking", (getter)Waiter_get_blocking, (setter)Waiter_set_blocking,
     NULL, NULL},
    {"_loop", (getter)Waiter_get_loop, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The attributes a C task's step reads when it starts waiting on a waiter
 * (_asyncio_future_blocking, get_loop, _loop, add_done_callback), answered
 * by the interned name it uses (compared, not hashed), without the generic
 * lookup: the type's cache, the descriptor, its call. Like asyncio's own
 * futures, a waiter has no get_loop: tasks then read _loop, a method call
 * spared. The AttributeError that says so carries the name alone: the
 * task clears it at once, where the generic lookup would format a message. */
static PyObject *
Waiter_getattro(WaiterObject *self, PyObject *name)
{
    if (name == str_blocking) {
        return PyBool_FromLong(self->blocking);
    }
    if (name == str_loop) {
        return Py_NewRef(self->loop);
    }
    if (name == str_add_done_callback) {
        return PyCFunction_New(&Waiter_methods[WAITER_ADD_DONE_CALLBACK], (PyObject *)self);
    }
    if (name == str_get_loop) {
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    return PyObject_GenericGetAttr((PyObject *)self, name);
}

/* Setting _asyncio_future_blocking, which a task's step does each time it
 * starts waiting, without the generic lookup. */
static int
Waiter_setattro(WaiterObject *self, PyObject *name, PyObject *value)
{
    if (name == str_blocking && value != NULL) {
        return Waiter_set_blocking(self, value, NULL);
    }
    return PyObject_GenericSetAttr((PyObject *)self, name, value);
}

static PyAsyncMethods Waiter_async = {
    .am_await = (unaryfunc)Waiter_await,
};

static PyTypeObject WaiterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.Waiter",
    .tp_basicsize = sizeof(WaiterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A future-like object, without a result, that one task awaits.",
    .tp_new = Waiter_new,
    .tp_dealloc = (destructor)Waiter_dealloc,
    .tp_traverse = (traverseproc)Waiter_traverse,
    .tp_clear = (inquiry)Waiter_clear,
    .tp_as_async = &Waiter_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Waiter_iternext,
    .tp_getattro = (getattrofunc)Waiter_getattro,
    .tp_setattro = (setattrofunc)Waiter_setattro,
    .tp_methods = Waiter_methods,
    .tp_getset = Waiter_getset,
};

int
wskit_waiter_init(PyObject *module)
{
    const InternedName names[] = {
        {&str_wake, "wake"},
        {&str_blocking, "_asyncio_future_blocking"},
        {&str_loop, "_loop"},
        {&str_get_loop, "get_loop"},
        {&str_add_done_callback, "add_done_callback"},
    };
    if (wskit_intern_names(names, sizeof(names) / sizeof(names[0])) < 0) {
        return -1;
    }
    if (PyType_Ready(&WaiterType) < 0) {
        return -1;
    }
    return PyModule_AddType(module, &WaiterType);
}
