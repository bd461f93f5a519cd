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

int
wskit_fields_init(const FieldName *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        fields[i].field->name = PyUnicode_InternFromString(fields[i].name);
        if (fields[i].field->name == NULL) {
            return -1;
        }
    }
    return 0;
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
