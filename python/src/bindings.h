// Shared pieces of the `msa._msa` extension (the Python package, docs/python.md).
// The bindings only translate: every rule lives in the engine/memory layers the
// CLI uses too. Long calls release the GIL; writes and encodings check for
// Ctrl-C between stage-1 batches and abort before anything is committed.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/product.h"
#include "memory/bank.h"

namespace msa::python {

namespace py = pybind11;

// msa.Model: a loaded model and its tokenizer.
struct PyModel {
  engine::LoadedModel loaded;
};

// msa.Bank: an open bank (null after close()).
class PyBank {
 public:
  PyBank(std::shared_ptr<memory::Bank> bank, bool read_only, std::shared_ptr<const model::Model> checked);
  // The open bank; raises ValueError after close().
  std::shared_ptr<memory::Bank> get() const;
  // Throws msa::Error unless `m` is the model the bank was encoded with (checked once per model).
  void check_model(const std::shared_ptr<const model::Model>& m);
  void close() { bank_.reset(); }
  bool closed() const { return !bank_; }
  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }

 private:
  std::shared_ptr<memory::Bank> bank_;
  std::string path_;
  bool read_only_;
  std::mutex mu_;
  std::set<std::shared_ptr<const model::Model>> checked_;
};

// The model a call without a path uses ("" = the engine's default rules).
std::string default_model_dir();

// Raises KeyboardInterrupt (or whatever a signal handler raised) if a signal
// arrived; called, with the GIL released, between stage-1 batches.
void check_interrupt();

py::object json_to_py(const nlohmann::json& j);
// Python value → JSON text through the json module (metadata).
std::string py_to_json_text(const py::handle& o);

void bind_model(py::module_& m);
void bind_bank(py::module_& m);
void bind_ask(py::module_& m);

}  // namespace msa::python
