/*
 * wskit._speedups: UTF-8 validation. UTF8Validator for Python;
 * wskit_utf8_valid() for read_messages() (_speedups_frames.c) and
 * receive_messages() (_speedups_messages.c).
 *
 * A deterministic automaton built from Unicode table 3-7, "Well-Formed UTF-8
 * Byte Sequences":
 *
 *   U+0000..U+007F      00..7F
 *   U+0080..U+07FF      C2..DF  80..BF
 *   U+0800..U+0FFF      E0      A0..BF  80..BF
 *   U+1000..U+CFFF      E1..EC  80..BF  80..BF
 *   U+D000..U+D7FF      ED      80..9F  80..BF
 *   U+E000..U+FFFF      EE..EF  80..BF  80..BF
 *   U+10000..U+3FFFF    F0      90..BF  80..BF  80..BF
 *   U+40000..U+FFFFF    F1..F3  80..BF  80..BF  80..BF
 *   U+100000..U+10FFFF  F4      80..8F  80..BF  80..BF
 *
 * Every byte moves the automaton to its next state; REJECT is reached on the
 * very byte that no well-formed sequence can have there, and stays.
 */

#include "_speedups.h"

/* Byte classes: the distinctions the table above makes. */
enum {
    C_ASCII,    /* 00..7F */
    C_CONT_8,   /* 80..8F: continuation, also the only 2nd byte after F4 */
    C_CONT_9,   /* 90..9F: continuation, ok after ED and F0, not after E0, F4 */
    C_CONT_AB,  /* A0..BF: continuation, ok after E0 and F0, not after ED, F4 */
    C_BAD,      /* C0, C1 (overlong), F5..FF (above U+10FFFF) */
    C_LEAD2,    /* C2..DF */
    C_E0,       /* E0: 2nd byte A0..BF, lower is overlong */
    C_LEAD3,    /* E1..EC, EE, EF */
    C_ED,       /* ED: 2nd byte 80..9F, higher is a surrogate */
    C_F0,       /* F0: 2nd byte 90..BF, lower is overlong */
    C_LEAD4,    /* F1..F3 */
    C_F4,       /* F4: 2nd byte 80..8F, higher is above U+10FFFF */
    N_CLASSES
};

/* States: what the next byte must be. */
enum {
    S_ACCEPT,   /* between characters: the only state where the text may end */
    S_REJECT,   /* invalid: sticky until reset */
    S_NEED1,    /* one more continuation byte 80..BF */
    S_NEED2,    /* two more continuation bytes */
    S_NEED3,    /* three more continuation bytes */
    S_E0,       /* after E0: A0..BF, then one more */
    S_ED,       /* after ED: 80..9F, then one more */
    S_F0,       /* after F0: 90..BF, then two more */
    S_F4,       /* after F4: 80..8F, then two more */
    N_STATES
};

/* Columns are byte classes ("E1-EF" is C_LEAD3: E1..EF except ED). */
#define R S_REJECT
static const unsigned char transition[N_STATES][N_CLASSES] = {
    /*             ASCII     80-8F    90-9F    A0-BF    bad  C2-DF    E0    E1-EF    ED    F0    F1-F3    F4 */
    [S_ACCEPT] = {S_ACCEPT, R,       R,       R,       R,   S_NEED1, S_E0, S_NEED2, S_ED, S_F0, S_NEED3, S_F4},
    [S_REJECT] = {R,        R,       R,       R,       R,   R,       R,    R,       R,    R,    R,       R},
    [S_NEED1]  = {R,        S_ACCEPT, S_ACCEPT, S_ACCEPT, R, R,     R,    R,       R,    R,    R,       R},
    [S_NEED2]  = {R,        S_NEED1, S_NEED1, S_NEED1, R,   R,       R,    R,       R,    R,    R,       R},
    [S_NEED3]  = {R,        S_NEED2, S_NEED2, S_NEED2, R,   R,       R,    R,       R,    R,    R,       R},
    [S_E0]     = {R,        R,       R,       S_NEED1, R,   R,       R,    R,       R,    R,    R,       R},
    [S_ED]     = {R,        S_NEED1, S_NEED1, R,       R,   R,       R,    R,       R,    R,    R,       R},
    [S_F0]     = {R,        R,       S_NEED2, S_NEED2, R,   R,       R,    R,       R,    R,    R,       R},
    [S_F4]     = {R,        S_NEED2, R,       R,       R,   R,       R,    R,       R,    R,    R,       R},
};
#undef R

/* The automaton as run: one 64-bit row per byte value. State s is kept as
 * the bit offset s * STATE_BITS, and row[byte] holds, at that offset, the
 * offset of the next state. A step is then one load that does not depend on
 * the state, a shift and a mask: about 2 cycles per byte, where indexing
 * transition[state][byte_class[byte]] chains two dependent loads. */
#define STATE_BITS 6
#define OFFSET(s) ((unsigned int)(s) * STATE_BITS)
#define ACCEPT OFFSET(S_ACCEPT)
#define REJECT OFFSET(S_REJECT)
static uint64_t step_row[256];

static inline unsigned int
utf8_step(unsigned int state, unsigned char byte)
{
    return (unsigned int)(step_row[byte] >> state) & ((1u << STATE_BITS) - 1);
}

/* Build step_row[] from table 3-7: first classify bytes by the ranges of
 * the table (easier to check than a 256-entry literal), then pack the
 * transitions. Called once, at import. */
static void
init_step_rows(void)
{
    static const struct { unsigned char first, last, cls; } ranges[] = {
        {0x00, 0x7F, C_ASCII}, {0x80, 0x8F, C_CONT_8}, {0x90, 0x9F, C_CONT_9},
        {0xA0, 0xBF, C_CONT_AB}, {0xC0, 0xC1, C_BAD}, {0xC2, 0xDF, C_LEAD2},
        {0xE0, 0xE0, C_E0}, {0xE1, 0xEC, C_LEAD3}, {0xED, 0xED, C_ED},
        {0xEE, 0xEF, C_LEAD3}, {0xF0, 0xF0, C_F0}, {0xF1, 0xF3, C_LEAD4},
        {0xF4, 0xF4, C_F4}, {0xF5, 0xFF, C_BAD},
    };
    /* N_STATES offsets of STATE_BITS bits each must fit in a row. */
    Py_BUILD_ASSERT(N_STATES * STATE_BITS <= 64);
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        for (unsigned int b = ranges[r].first; b <= ranges[r].last; b++) {
            uint64_t row = 0;
            for (unsigned int state = 0; state < N_STATES; state++) {
                unsigned int next = transition[state][ranges[r].cls];
                row |= (uint64_t)OFFSET(next) << OFFSET(state);
            }
            step_row[b] = row;
        }
    }
}

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Bytes per automaton run between two tests of the state. */
#define UTF8_BLOCK 16

/* Run the automaton over `size` bytes from `state`; return the new state.
 * Stops early on REJECT, since nothing can leave it. */
static unsigned int
utf8_run(unsigned int state, const unsigned char *s, Py_ssize_t size)
{
    Py_ssize_t i = 0;
    while (i < size) {
        if (state == ACCEPT) {
            /* ASCII fast path: between characters, skip whole words with no
             * high bit set. 32 bytes per test, then 8, amortize the branch. */
            while (i + 32 <= size) {
                uint64_t a, b, c, d;
                memcpy(&a, s + i, 8);
                memcpy(&b, s + i + 8, 8);
                memcpy(&c, s + i + 16, 8);
                memcpy(&d, s + i + 24, 8);
                if ((a | b | c | d) & HIGH_BITS) {
                    break;
                }
                i += 32;
            }
            while (i + 8 <= size) {
                uint64_t a;
                memcpy(&a, s + i, 8);
                if (a & HIGH_BITS) {
                    break;
                }
                i += 8;
            }
            /* Step over the remaining ASCII bytes one at a time. */
            while (i < size && s[i] < 0x80) {
                i++;
            }
            if (i == size) {
                break;
            }
        }
        /* Non-ASCII: run the automaton over the next block of bytes without
         * testing the state after each one. REJECT is sticky, so one test per
         * block still catches it; the next block may go back to the ASCII
         * path if the text did. */
        Py_ssize_t end = size - i > UTF8_BLOCK ? i + UTF8_BLOCK : size;
        do {
            state = utf8_step(state, s[i]);
        } while (++i < end);
        if (state == REJECT) {
            break;
        }
    }
    return state;
}

typedef struct {
    PyObject_HEAD
    unsigned int state;  /* an OFFSET() */
} UTF8ValidatorObject;

static PyObject *
UTF8Validator_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "UTF8Validator() takes no arguments");
        return NULL;
    }
    UTF8ValidatorObject *self = (UTF8ValidatorObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->state = ACCEPT;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(feed_doc,
"feed(data)\n"
"--\n"
"\n"
"Validate the next chunk of the text.\n"
"\n"
"Args:\n"
"    data: The next bytes of the text (any C-contiguous bytes-like object).\n"
"\n"
"Returns:\n"
"    False as soon as the bytes fed since the last reset cannot start valid\n"
"    UTF-8, and from then on until reset; True otherwise.\n");

static PyObject *
UTF8Validator_feed(UTF8ValidatorObject *self, PyObject *arg)
{
    Py_buffer data;
    /* Check the argument even when already invalid, like the fallback. */
    if (get_bytes_view(arg, &data) < 0) {
        return NULL;
    }
    unsigned int state = self->state;
    if (state != REJECT) {
        const unsigned char *s = (const unsigned char *)data.buf;
        if (data.len > RELEASE_GIL_THRESHOLD) {
            /* Work on a local copy of the state: the object is only touched
             * with the GIL held. */
            Py_BEGIN_ALLOW_THREADS
            state = utf8_run(state, s, data.len);
            Py_END_ALLOW_THREADS
        }
        else {
            state = utf8_run(state, s, data.len);
        }
        self->state = state;
    }
    PyBuffer_Release(&data);
    return PyBool_FromLong(state != REJECT);
}

PyDoc_STRVAR(finish_doc,
"finish()\n"
"--\n"
"\n"
"End the text, then reset.\n"
"\n"
"Returns:\n"
"    Whether everything fed since the last reset is complete, valid UTF-8:\n"
"    False if it is invalid or stops in the middle of a character.\n");

static PyObject *
UTF8Validator_finish(UTF8ValidatorObject *self, PyObject *Py_UNUSED(ignored))
{
    int valid = self->state == ACCEPT;
    self->state = ACCEPT;
    return PyBool_FromLong(valid);
}

PyDoc_STRVAR(reset_doc,
"reset()\n"
"--\n"
"\n"
"Forget everything fed so far, ready for a new text.\n");

static PyObject *
UTF8Validator_reset(UTF8ValidatorObject *self, PyObject *Py_UNUSED(ignored))
{
    self->state = ACCEPT;
    Py_RETURN_NONE;
}

static PyMethodDef UTF8Validator_methods[] = {
    {"feed", (PyCFunction)UTF8Validator_feed, METH_O, feed_doc},
    {"finish", (PyCFunction)UTF8Validator_finish, METH_NOARGS, finish_doc},
    {"reset", (PyCFunction)UTF8Validator_reset, METH_NOARGS, reset_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(UTF8Validator_doc,
"UTF8Validator()\n"
"--\n"
"\n"
"Incremental UTF-8 validation, across fragment boundaries.\n"
"\n"
"Strict: overlong forms, surrogates, code points above U+10FFFF, stray\n"
"continuation bytes and truncated sequences are all invalid. feed() fails\n"
"on the first byte that makes the text invalid, even when a character is\n"
"split between two calls. Not thread-safe: use one validator per stream.\n");

static PyTypeObject UTF8ValidatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.UTF8Validator",
    .tp_basicsize = sizeof(UTF8ValidatorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = UTF8Validator_doc,
    .tp_methods = UTF8Validator_methods,
    .tp_new = UTF8Validator_new,
};

int
wskit_utf8_valid(const unsigned char *s, Py_ssize_t size)
{
    return utf8_run(ACCEPT, s, size) == ACCEPT;
}

int
wskit_utf8_init(PyObject *module)
{
    init_step_rows();
    if (PyType_Ready(&UTF8ValidatorType) < 0) {
        return -1;
    }
    return PyModule_AddType(module, &UTF8ValidatorType);
}
