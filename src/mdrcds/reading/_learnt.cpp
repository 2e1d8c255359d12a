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
#include <vector>

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

// The answers of check() below.
enum Answer { kError = -1, kKept = 0, kDismissed = 1, kAskPython = 2 };

// The reference the resources of a call should name as their subject ('Patient/<id>'), or none.
struct OwnReference {
  bool given = false;
  std::string_view text;
};

// The hook's draft orders ('Type/id'), as the UTF-8 of the str in the caller's set (which outlives the
// check).
using Drafts = std::vector<std::string_view>;

// Whether `drafts` names the resource `type`/`id`, compared without making the string.
bool names_draft(const Drafts &drafts, std::string_view type, std::string_view id) {
  for (std::string_view draft : drafts) {
    if (draft.size() == type.size() + 1 + id.size() && draft.substr(0, type.size()) == type &&
        draft[type.size()] == '/' && draft.substr(type.size() + 1) == id) {
      return true;
    }
  }
  return false;
}

// The drafts argument (a set of str) as Drafts; false, with no exception, for a str without UTF-8 (the
// Python check answers then).
bool drafts_of(PyObject *set, Drafts &out) {
  if (PySet_GET_SIZE(set) == 0) return true;
  PyObject *items = PyObject_GetIter(set);
  if (items == nullptr) {
    PyErr_Clear();
    return false;
  }
  bool usable = true;
  while (PyObject *item = PyIter_Next(items)) {
    std::string_view text;
    usable = usable && PyUnicode_Check(item) && utf8_of(item, text);
    if (usable) out.push_back(text);  // the set keeps the str, and so its UTF-8, alive
    Py_DECREF(item);
  }
  Py_DECREF(items);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  return usable;
}

// The minified JSON of a concept is made here, in one buffer reused for a Bundle's entries.
using Minifier = simdjson::internal::string_builder<>;

// Whether a rule is of the shape check() reads: KnownIrrelevant(element, keys, unless_contains,
// unless_has), with a str element, a set of bytes keys, bytes or None, and a tuple of str.
bool rule_shaped(PyObject *rule) {
  if (!PyTuple_Check(rule) || PyTuple_GET_SIZE(rule) != 4) return false;
  PyObject *name = PyTuple_GET_ITEM(rule, 0), *keys = PyTuple_GET_ITEM(rule, 1);
  PyObject *unless_contains = PyTuple_GET_ITEM(rule, 2), *unless_has = PyTuple_GET_ITEM(rule, 3);
  if (!PyUnicode_Check(name) || !PyAnySet_Check(keys) || !PyTuple_Check(unless_has) ||
      !(unless_contains == Py_None || PyBytes_Check(unless_contains))) {
    return false;
  }
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(unless_has); i++) {
    if (!PyUnicode_Check(PyTuple_GET_ITEM(unless_has, i))) return false;
  }
  return true;
}

// mdrcds.reading.fhir._known_irrelevant over one parsed resource: kDismissed or kKept as Python would
// answer, kAskPython where this module does not answer (a rule of another shape, an element that is
// not an object or an array, whose raw JSON Python makes its own way), kError with an exception set.
Answer check(const dom::object &object, PyObject *rule, const OwnReference &own, const Drafts &drafts,
             std::string_view resource_type, Minifier &minifier) {
  if (!rule_shaped(rule)) return kAskPython;
  PyObject *name = PyTuple_GET_ITEM(rule, 0), *keys = PyTuple_GET_ITEM(rule, 1);
  PyObject *unless_contains = PyTuple_GET_ITEM(rule, 2), *unless_has = PyTuple_GET_ITEM(rule, 3);

  dom::element element;
  std::string_view element_name;
  if (!utf8_of(name, element_name)) return kAskPython;
  if (!member(object, element_name, element) || element.is_null()) return kKept;
  if (!element.is_object() && !element.is_array()) return kAskPython;
  minifier.clear();
  minifier.append(element);
  std::string_view key = minifier.str();
  int known = contains(keys, PyBytes_FromStringAndSize(key.data(), static_cast<Py_ssize_t>(key.size())));
  if (known < 0) return kError;
  if (known == 0) return kKept;
  if (unless_contains != Py_None) {
    std::string_view needle(PyBytes_AS_STRING(unless_contains),
                            static_cast<size_t>(PyBytes_GET_SIZE(unless_contains)));
    if (key.find(needle) != std::string::npos) return kKept;
  }

  dom::element value;
  if (member(object, "status", value) && is_string(value, "draft")) return kKept;
  if (!drafts.empty()) {
    // One of the hook's draft orders ('Type/id') is kept; so is a resource without an id.
    std::string_view id;
    if (!member(object, "id", value) || value.get_string().get(id) != simdjson::SUCCESS || id.empty() ||
        names_draft(drafts, resource_type, id)) {
      return kKept;
    }
  }
  if (own.given) {
    dom::element subject, reference;
    if (!member(object, "subject", subject) || !subject.is_object() ||
        !member(dom::object(subject), "reference", reference) || !is_string(reference, own.text)) {
      return kKept;
    }
  }
  Py_ssize_t unless_count = PyTuple_GET_SIZE(unless_has);
  if (unless_count == 0) return kDismissed;
  // No member that names the drug elsewhere, and none named twice (ambiguous JSON: the screen keeps such
  // a record, and the fact builder refuses it).
  std::string_view unless[8];
  if (unless_count > 8) return kAskPython;
  for (Py_ssize_t i = 0; i < unless_count; i++) {
    if (!utf8_of(PyTuple_GET_ITEM(unless_has, i), unless[i])) return kAskPython;
  }
  std::string_view names[64];
  size_t count = 0;
  for (dom::key_value_pair field : object) {
    if (count == 64) return kAskPython;  // more members than any resource of these types has
    std::string_view field_name = field.key;
    for (Py_ssize_t i = 0; i < unless_count; i++) {
      if (field_name == unless[i]) return kKept;
    }
    for (size_t i = 0; i < count; i++) {
      if (names[i] == field_name) return kKept;
    }
    names[count++] = field_name;
  }
  return kDismissed;
}

// The subject reference argument: false (and no exception) when it is neither None nor a str with UTF-8.
bool own_reference_of(PyObject *argument, OwnReference &out) {
  if (argument == Py_None) return true;
  if (!PyUnicode_Check(argument) || !utf8_of(argument, out.text)) return false;
  out.given = true;
  return true;
}

// known_irrelevant(node, rule, own_reference, drafts, resource_type) -> bool | None
//
// The answer of mdrcds.reading.fhir._known_irrelevant for the same arguments; None where check() does
// not answer (a node of another shape too) and the Python check must.
PyObject *known_irrelevant(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "known_irrelevant takes 5 arguments");
    return nullptr;
  }
  PyObject *node = args[0], *rule = args[1];
  OwnReference own;
  Drafts drafts;
  std::string_view resource_type;
  if (Py_TYPE(node) != simd_object_type || !PyUnicode_Check(args[4]) || !utf8_of(args[4], resource_type) ||
      !PyAnySet_Check(args[3]) || !drafts_of(args[3], drafts) || !own_reference_of(args[2], own)) {
    Py_RETURN_NONE;
  }
  Minifier minifier;
  switch (check(reinterpret_cast<PySimdObject *>(node)->element, rule, own, drafts, resource_type, minifier)) {
    case kError:
      return nullptr;
    case kKept:
      Py_RETURN_FALSE;
    case kDismissed:
      Py_RETURN_TRUE;
    case kAskPython:
      break;
  }
  Py_RETURN_NONE;
}

// Adds one to counts[key]; false with an exception set.
bool count_one(PyObject *counts, PyObject *key) {
  PyObject *before = PyDict_GetItemWithError(counts, key);
  if (before == nullptr && PyErr_Occurred()) return false;
  long value = before == nullptr ? 0 : PyLong_AsLong(before);
  PyObject *after = PyLong_FromLong(value + 1);
  if (after == nullptr) return false;
  int stored = PyDict_SetItem(counts, key, after);
  Py_DECREF(after);
  return stored == 0;
}

// screen_entries(entries, known, read_types, own_reference, drafts) -> (bytes, dict, int) | None
//
// The first lines of the reader's loop over a Bundle's `entry` array (mdrcds.reading.fhir.
// _add_node_entries), for every entry at once: most of a record stops there, and in Python each entry
// cost about 0.9 microseconds, half of it making Python objects of the parts asked for. Answers
// (wanted, skipped, screened): `wanted` has one byte per entry, 1 where the Python loop must look at
// the entry (it is not an object, its resource is not an object or has no resourceType, its type is
// read, or the learnt check left it to Python), 2 where the learnt check kept it; 0 where the entry has no resource, its resource's
// type is not read (counted in `skipped` by type), or the learnt check dismissed it (counted in
// `screened`). None when the arguments are of another shape (`entries` not a simdjson Array, `known`
// not a dict): the Python loop then does all of it.
PyObject *screen_entries(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "screen_entries takes 5 arguments");
    return nullptr;
  }
  PyObject *entries = args[0], *known = args[1], *read_types = args[2];
  OwnReference own;
  Drafts drafts;
  if (Py_TYPE(entries) != simd_array_type || !PyDict_Check(known) || !PyAnySet_Check(read_types) ||
      !PyAnySet_Check(args[4]) || !drafts_of(args[4], drafts) || !own_reference_of(args[3], own)) {
    Py_RETURN_NONE;
  }
  Minifier minifier;
  const dom::array &array = reinterpret_cast<PySimdArray *>(entries)->element;
  size_t size = 0;  // counted: array.size() saturates at 2^24 - 1 entries
  for ([[maybe_unused]] dom::element counted : array) size++;
  PyObject *wanted = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
  PyObject *skipped = wanted == nullptr ? nullptr : PyDict_New();
  if (skipped == nullptr) {
    Py_XDECREF(wanted);
    return nullptr;
  }
  char *flags = PyBytes_AS_STRING(wanted);
  std::memset(flags, 0, size);
  long screened = 0;
  // The type of the entry before, as a str, with its rule (borrowed from `known`) and whether it is
  // read: a record's entries mostly come in runs of one type.
  std::string type_before;
  PyObject *type_text = nullptr, *rule = nullptr;
  bool read = false, failed = false;
  size_t index = 0;
  for (dom::element entry : array) {
    size_t at = index++;
    dom::element resource, type_element;
    std::string_view type;
    if (!entry.is_object()) {
      flags[at] = 1;  // Python raises the reader's error for it
      continue;
    }
    if (!member(dom::object(entry), "resource", resource) || resource.is_null()) continue;
    if (!resource.is_object() || !member(dom::object(resource), "resourceType", type_element) ||
        type_element.get_string().get(type) != simdjson::SUCCESS) {
      flags[at] = 1;  // Python raises the reader's error for it
      continue;
    }
    if (type_text == nullptr || type != type_before) {
      Py_XDECREF(type_text);
      type_text = PyUnicode_DecodeUTF8(type.data(), static_cast<Py_ssize_t>(type.size()), "strict");
      if (type_text == nullptr) {
        failed = true;
        break;
      }
      type_before.assign(type);
      rule = PyDict_GetItemWithError(known, type_text);
      int is_read = rule == nullptr && !PyErr_Occurred() ? PySet_Contains(read_types, type_text) : 0;
      if (PyErr_Occurred() || is_read < 0) {
        failed = true;
        break;
      }
      read = is_read == 1;
    }
    if (rule == nullptr) {
      if (read) {
        flags[at] = 1;
      } else if (!count_one(skipped, type_text)) {
        failed = true;
        break;
      }
      continue;
    }
    Answer answer = check(dom::object(resource), rule, own, drafts, type, minifier);
    if (answer == kError) {
      failed = true;
      break;
    }
    if (answer == kDismissed) {
      screened++;
    } else {
      flags[at] = answer == kKept ? 2 : 1;  // 2: the learnt check has answered; Python need not ask it
    }
  }
  Py_XDECREF(type_text);
  if (failed) {
    Py_DECREF(wanted);
    Py_DECREF(skipped);
    return nullptr;
  }
  return Py_BuildValue("(NNl)", wanted, skipped, screened);
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
    {"screen_entries", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(screen_entries)),
     METH_FASTCALL,
     "screen_entries(entries, known, read_types, own_reference, drafts) -> (bytes, dict, int) | None\n\n"
     "The reader's first look at every entry of a Bundle: which the Python loop must look at, the types skipped, "
     "the count the learnt check dismissed."},
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
