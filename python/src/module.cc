// The `msa._msa` extension module: the C++ half of the `msa` package.
#include <pybind11/stl.h>

#include <cstdlib>
#include <string>

#include "bindings.h"
#include "core/error.h"
#include "core/version.h"

namespace msa::python {

namespace {
std::string g_default_model_dir;  // set by msa/__init__.py when the package carries the model
}  // namespace

std::string default_model_dir() {
  const char* env = std::getenv("MSA_MODEL");
  if (env && *env) return "";  // the engine's rules honour $MSA_MODEL first
  return g_default_model_dir;
}

void check_interrupt() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

py::object json_to_py(const nlohmann::json& j) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded: return py::none();
    case T::boolean: return py::bool_(j.get<bool>());
    case T::number_integer: return py::int_(j.get<int64_t>());
    case T::number_unsigned: return py::int_(j.get<uint64_t>());
    case T::number_float: return py::float_(j.get<double>());
    case T::string: return py::str(j.get_ref<const std::string&>());
    case T::binary: return py::bytes(reinterpret_cast<const char*>(j.get_binary().data()), j.get_binary().size());
    case T::array: {
      py::list l;
      for (const auto& x : j) l.append(json_to_py(x));
      return l;
    }
    case T::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = json_to_py(v);
      return d;
    }
  }
  return py::none();
}

std::string py_to_json_text(const py::handle& o) {
  return py::module_::import("json").attr("dumps")(o, py::arg("ensure_ascii") = false).cast<std::string>();
}

}  // namespace msa::python

PYBIND11_MODULE(_msa, m) {
  namespace py = pybind11;
  namespace mp = msa::python;
  m.doc() = "C++ core of the msa package (Memory Sparse Attention engine); use `import msa`.";
  py::register_exception<msa::Error>(m, "Error", PyExc_RuntimeError);
  m.def(
      "_set_default_model_dir", [](std::string dir) { mp::g_default_model_dir = std::move(dir); },
      "Model directory used when none is given and $MSA_MODEL is unset (the packaged model).");
  m.attr("__version__") = msa::kVersion;
  mp::bind_model(m);
  mp::bind_bank(m);
  mp::bind_ask(m);
}
