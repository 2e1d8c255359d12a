// mdrcds.reading._learnt: the reader's check of a parsed resource against what the screen has learnt,
// in C++ over the parsed document itself (see `known_irrelevant` below and mdrcds/reading/fhir.py).
//
// Most of a large record is dismissed by this one check, and in Python it cost 1.1 to 2.5 microseconds
// a resource: each element asked for became a Python object first. Here the same questions are asked
// of simdjson's document directly (about 0.6 microseconds, most of it minifying the concept). The node is a pysimdjson `simdjson.Object`; its document is read
// through the object's C layout, which this module checks when it is imported (the size of the type
// and a parsed example): should a pysimdjson release change it, the import fails and the reader keeps
// to its Python check (mdrcds.reading.fhir).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "simdjson.h"

namespace {

namespace dom = simdjson::dom;

// pysimdjson 7's `simdjson.Object`, a Cython extension type: the object header, Cython's table of C
// methods, then its fields in declaration order (`parser`, `c_element`, `c_parser`).
struct PySimdObject {
  PyObject_HEAD
  void *vtab;
  PyObject *parser;
  dom::object element;
  std::shared_ptr<dom::parser> owner;
};

// pysimdjson 7's `simdjson.Array`: the same layout, with the array in place of the object.
struct PySimdArray {
  PyObject_HEAD
  void *vtab;
  PyObject *parser;
  dom::array element;
  std::shared_ptr<dom::parser> owner;
};

PyTypeObject *simd_object_type = nullptr;
PyTypeObject *simd_array_type = nullptr;

// The UTF-8 of a str; false (and no exception) for one that has none (a lone surrogate: JSON that
// simdjson parsed never holds one, but a context read by Python's json module may): Python answers then.
bool utf8_of(PyObject *text, std::string_view &out) {
  Py_ssize_t size = 0;
  const char *data = PyUnicode_AsUTF8AndSize(text, &size);
  if (data == nullptr) {
    PyErr_Clear();
    return false;
  }
  out = std::string_view(data, static_cast<size_t>(size));
  return true;
}

// The first member named `name`, as pysimdjson's `node[name]` finds it.
bool member(const dom::object &object, std::string_view name, dom::element &out) {
  return object.at_key(name).get(out) == simdjson::SUCCESS;
}

// Whether `set` holds `item` (a new reference, released here): 1, 0, or -1 with an exception set.
int contains(PyObject *set, PyObject *item) {
  if (item == nullptr) return -1;
  int found = PySet_Contains(set, item);
  Py_DECREF(item);
  return found;
}

bool is_string(const dom::element &element, std::string_view expected) {
  std::string_view value;
  return element.get_string().get(value) == simdjson::SUCCESS && value == expected;
}

// known_irrelevant(node, rule, own_reference, drafts, resource_type) -> bool | None
//
// The answer of mdrcds.reading.fhir._known_irrelevant for the same arguments; None where this module
// does not answer (a node or rule of another shape, an element that is not an object or an array,
// whose raw JSON Python makes its own way) and the Python check must.
PyObject *known_irrelevant(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "known_irrelevant takes 5 arguments");
    return nullptr;
  }
  PyObject *node = args[0], *rule = args[1], *own_reference = args[2], *drafts = args[3];
  PyObject *resource_type = args[4];
  if (Py_TYPE(node) != simd_object_type || !PyTuple_Check(rule) || PyTuple_GET_SIZE(rule) != 4 ||
      !PyUnicode_Check(resource_type) || !(own_reference == Py_None || PyUnicode_Check(own_reference)) ||
      !PyAnySet_Check(drafts)) {
    Py_RETURN_NONE;
  }
  PyObject *name = PyTuple_GET_ITEM(rule, 0), *keys = PyTuple_GET_ITEM(rule, 1);
  PyObject *unless_contains = PyTuple_GET_ITEM(rule, 2), *unless_has = PyTuple_GET_ITEM(rule, 3);
  if (!PyUnicode_Check(name) || !PyAnySet_Check(keys) || !PyTuple_Check(unless_has) ||
      !(unless_contains == Py_None || PyBytes_Check(unless_contains))) {
    Py_RETURN_NONE;
  }
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(unless_has); i++) {
    if (!PyUnicode_Check(PyTuple_GET_ITEM(unless_has, i))) Py_RETURN_NONE;
  }
  const dom::object &object = reinterpret_cast<PySimdObject *>(node)->element;

  dom::element element;
  std::string_view element_name;
  if (!utf8_of(name, element_name)) Py_RETURN_NONE;
  if (!member(object, element_name, element) || element.is_null()) Py_RETURN_FALSE;
  std::string key;
  if (element.is_object()) {
    key = simdjson::minify(dom::object(element));
  } else if (element.is_array()) {
    key = simdjson::minify(dom::array(element));
  } else {
    Py_RETURN_NONE;
  }
  int known = contains(keys, PyBytes_FromStringAndSize(key.data(), static_cast<Py_ssize_t>(key.size())));
  if (known < 0) return nullptr;
  if (known == 0) Py_RETURN_FALSE;
  if (unless_contains != Py_None) {
    std::string_view needle(PyBytes_AS_STRING(unless_contains),
                            static_cast<size_t>(PyBytes_GET_SIZE(unless_contains)));
    if (key.find(needle) != std::string::npos) Py_RETURN_FALSE;
  }

  dom::element value;
  if (member(object, "status", value) && is_string(value, "draft")) Py_RETURN_FALSE;
  if (PySet_GET_SIZE(drafts) > 0) {
    // One of the hook's draft orders ('Type/id') is kept; so is a resource without an id.
    std::string_view id;
    if (!member(object, "id", value) || value.get_string().get(id) != simdjson::SUCCESS || id.empty()) {
      Py_RETURN_FALSE;
    }
    PyObject *id_text = PyUnicode_DecodeUTF8(id.data(), static_cast<Py_ssize_t>(id.size()), "strict");
    if (id_text == nullptr) return nullptr;
    int draft = contains(drafts, PyUnicode_FromFormat("%U/%U", resource_type, id_text));
    Py_DECREF(id_text);
    if (draft < 0) return nullptr;
    if (draft == 1) Py_RETURN_FALSE;
  }
  if (own_reference != Py_None) {
    std::string_view expected;
    if (!utf8_of(own_reference, expected)) Py_RETURN_NONE;
    dom::element subject, reference;
    if (!member(object, "subject", subject) || !subject.is_object() ||
        !member(dom::object(subject), "reference", reference) || !is_string(reference, expected)) {
      Py_RETURN_FALSE;
    }
  }
  Py_ssize_t unless_count = PyTuple_GET_SIZE(unless_has);
  if (unless_count == 0) Py_RETURN_TRUE;
  // No member that names the drug elsewhere, and none named twice (ambiguous JSON: the screen keeps such
  // a record, and the fact builder refuses it).
  std::string_view unless[8];
  if (unless_count > 8) Py_RETURN_NONE;
  for (Py_ssize_t i = 0; i < unless_count; i++) {
    if (!utf8_of(PyTuple_GET_ITEM(unless_has, i), unless[i])) Py_RETURN_NONE;
  }
  std::string_view names[64];
  size_t count = 0;
  for (dom::key_value_pair field : object) {
    if (count == 64) Py_RETURN_NONE;  // more members than any resource of these types has
    std::string_view field_name = field.key;
    for (Py_ssize_t i = 0; i < unless_count; i++) {
      if (field_name == unless[i]) Py_RETURN_FALSE;
    }
    for (size_t i = 0; i < count; i++) {
      if (names[i] == field_name) Py_RETURN_FALSE;
    }
    names[count++] = field_name;
  }
  Py_RETURN_TRUE;
}

// resourceless(entries) -> bytes | None
//
// For a Bundle's `entry` array: None when every object in it has a `resource` member (or `entries` is
// not a simdjson Array), else one byte per entry, 1 where an object entry has none. pysimdjson answers
// a missing member by raising KeyError, which costs about 2 microseconds: a Bundle of empty entries
// ("{}," is 3 bytes) would cost the reader far more time than its size, so those are found here first.
PyObject *resourceless(PyObject *, PyObject *entries) {
  if (Py_TYPE(entries) != simd_array_type) Py_RETURN_NONE;
  const dom::array &array = reinterpret_cast<PySimdArray *>(entries)->element;
  dom::element resource;
  PyObject *gaps = nullptr;
  char *flags = nullptr;
  size_t index = 0;
  for (dom::element entry : array) {
    if (entry.is_object() && !member(dom::object(entry), "resource", resource)) {
      if (gaps == nullptr) {
        size_t size = 0;  // counted: array.size() saturates at 2^24 - 1 entries
        for ([[maybe_unused]] dom::element counted : array) size++;
        gaps = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
        if (gaps == nullptr) return nullptr;
        flags = PyBytes_AS_STRING(gaps);
        std::memset(flags, 0, size);
      }
      flags[index] = 1;
    }
    index++;
  }
  if (gaps == nullptr) Py_RETURN_NONE;
  return gaps;
}

// lacks(node, name) -> bool | None
//
// Whether a simdjson Object has no member `name`; None for anything else (Python asks it then). The
// reader asks an element directly when nearly every resource has it, and pysimdjson answers an absent
// one with KeyError (about 2 microseconds): a record of resources without them (hostile, or merely
// sparse) would cost the reader that for each. This answers in a few tens of nanoseconds.
PyObject *lacks(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "lacks takes 2 arguments");
    return nullptr;
  }
  std::string_view name;
  if (Py_TYPE(args[0]) != simd_object_type || !PyUnicode_Check(args[1]) || !utf8_of(args[1], name)) {
    Py_RETURN_NONE;
  }
  dom::element value;
  if (member(reinterpret_cast<PySimdObject *>(args[0])->element, name, value)) Py_RETURN_FALSE;
  Py_RETURN_TRUE;
}

// The layouts assumed above, checked on a document parsed by pysimdjson itself: an object holding an
// array, each read back through its C layout.
bool layout_checked() {
  const char *wrong = "pysimdjson's simdjson.Object or Array is not the layout this module was built for";
  PyObject *module = PyImport_ImportModule("simdjson");
  if (module == nullptr) return false;
  PyObject *object_type = PyObject_GetAttrString(module, "Object");
  PyObject *array_type = object_type == nullptr ? nullptr : PyObject_GetAttrString(module, "Array");
  PyObject *parser = array_type == nullptr ? nullptr : PyObject_CallMethod(module, "Parser", nullptr);
  Py_DECREF(module);
  PyObject *document = nullptr, *entries = nullptr;
  bool same = parser != nullptr && PyType_Check(object_type) && PyType_Check(array_type) &&
              reinterpret_cast<PyTypeObject *>(object_type)->tp_basicsize ==
                  static_cast<Py_ssize_t>(sizeof(PySimdObject)) &&
              reinterpret_cast<PyTypeObject *>(array_type)->tp_basicsize ==
                  static_cast<Py_ssize_t>(sizeof(PySimdArray));
  if (same) {
    document = PyObject_CallMethod(parser, "parse", "y", "{\"id\": \"x\", \"status\": \"draft\", \"entry\": [{}, 1]}");
    same = document != nullptr && Py_TYPE(document) == reinterpret_cast<PyTypeObject *>(object_type);
  }
  if (same) {
    const dom::object &object = reinterpret_cast<PySimdObject *>(document)->element;
    dom::element value;
    same = object.size() == 3 && member(object, "status", value) && is_string(value, "draft");
    PyObject *key = same ? PyUnicode_FromString("entry") : nullptr;
    entries = key == nullptr ? nullptr : PyObject_GetItem(document, key);
    Py_XDECREF(key);
  }
  if (same) {
    same = entries != nullptr && Py_TYPE(entries) == reinterpret_cast<PyTypeObject *>(array_type);
    if (same) {
      const dom::array &array = reinterpret_cast<PySimdArray *>(entries)->element;
      dom::element first;
      same = array.size() == 2 && array.at(0).get(first) == simdjson::SUCCESS && first.is_object() &&
             dom::object(first).size() == 0;
    }
  }
  Py_XDECREF(entries);
  Py_XDECREF(document);
  Py_XDECREF(parser);
  if (!same) {
    Py_XDECREF(object_type);
    Py_XDECREF(array_type);
    PyErr_Clear();
    PyErr_SetString(PyExc_ImportError, wrong);
    return false;
  }
  // Kept for the life of the process.
  simd_object_type = reinterpret_cast<PyTypeObject *>(object_type);
  simd_array_type = reinterpret_cast<PyTypeObject *>(array_type);
  return true;
}

PyMethodDef methods[] = {
    {"known_irrelevant", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(known_irrelevant)),
     METH_FASTCALL,
     "known_irrelevant(node, rule, own_reference, drafts, resource_type) -> bool | None\n\n"
     "mdrcds.reading.fhir._known_irrelevant over simdjson's document; None where the Python check must answer."},
    {"lacks", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(lacks)), METH_FASTCALL,
     "lacks(node, name) -> bool | None\n\n"
     "Whether a simdjson Object has no member `name`; None for anything else."},
    {"resourceless", resourceless, METH_O,
     "resourceless(entries) -> bytes | None\n\n"
     "None when every object entry of a Bundle's entry array has a resource, else a byte per entry, 1 where it has none."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "_learnt",
    "The reader's learnt-code check and its member checks, over simdjson's parsed document.",
    -1,
    methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__learnt() {
  if (!layout_checked()) return nullptr;
  return PyModule_Create(&module_definition);
}

// simdjson's own sources, from the pysimdjson release the build requires (setup.py): one translation unit.
#include "simdjson.cpp"
