// msa.Bank: a persistent memory bank (src/memory/bank.h, docs/bank-format.md).
#include <pybind11/stl.h>

#include "bindings.h"
#include "engine/bank_report.h"
#include "memory/bank_identity.h"
#include "memory/bank_ingest.h"

namespace msa::python {

PyBank::PyBank(std::shared_ptr<memory::Bank> bank, bool read_only, std::shared_ptr<const model::Model> checked)
    : bank_(std::move(bank)), path_(bank_->dir()), read_only_(read_only) {
  if (checked) checked_.insert(std::move(checked));
}

std::shared_ptr<memory::Bank> PyBank::get() const {
  if (!bank_) throw py::value_error("bank '" + path_ + "' is closed");
  return bank_;
}

void PyBank::check_model(const std::shared_ptr<const model::Model>& m) {
  const auto bank = get();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (checked_.contains(m)) return;
  }
  memory::check_same_model(bank->recorded_model(), memory::model_identity(*m), path_);
  std::lock_guard<std::mutex> l(mu_);
  checked_.insert(m);
}

namespace {

std::shared_ptr<PyBank> open_bank(const std::string& path, const PyModel* model, bool read_only) {
  memory::BankOpenOptions o;
  if (model) o = engine::bank_open_options(model->loaded, /*writer=*/!read_only);
  o.writer = !read_only;
  o.interrupt_check = &check_interrupt;
  std::shared_ptr<memory::Bank> bank;
  {
    py::gil_scoped_release nogil;
    bank = memory::Bank::open(path, o);
  }
  return std::make_shared<PyBank>(std::move(bank), read_only, model ? model->loaded.model : nullptr);
}

memory::NewDocument to_document(const py::handle& item, size_t index) {
  memory::NewDocument d;
  if (py::isinstance<py::str>(item)) {
    d.text = item.cast<std::string>();
  } else if (py::isinstance<py::dict>(item)) {
    for (const auto& [k, v] : item.cast<py::dict>()) {
      const std::string key = py::str(k);
      if (key == "text") {
        if (!py::isinstance<py::str>(v)) throw py::type_error(fmt::format("document {}: \"text\" must be a str", index));
        d.text = v.cast<std::string>();
      } else if (key == "id") {
        if (py::isinstance<py::str>(v)) d.external_id = v.cast<std::string>();
        else if (py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v)) d.external_id = py::str(v);
        else throw py::type_error(fmt::format("document {}: \"id\" must be a str or an int", index));
      } else if (key == "namespace") {
        if (!py::isinstance<py::str>(v) || v.cast<std::string>().empty())
          throw py::type_error(fmt::format("document {}: \"namespace\" must be a non-empty str", index));
        d.ns = v.cast<std::string>();
      } else if (key == "metadata") {
        if (!v.is_none()) d.metadata = py_to_json_text(v);
      } else {
        throw py::value_error(fmt::format(
            "document {}: unknown key \"{}\" (expected text, id, namespace, metadata)", index, key));
      }
    }
  } else {
    throw py::type_error(fmt::format("document {}: expected a str or a dict with \"text\", got {}", index,
                                     std::string(py::str(item.get_type().attr("__name__")))));
  }
  if (d.text.empty()) throw py::value_error(fmt::format("document {}: empty \"text\"", index));
  return d;
}

std::vector<std::string> namespaces_arg(const std::optional<std::vector<std::string>>& ns) {
  return ns ? *ns : std::vector<std::string>{};
}

py::object document_to_py(const memory::DocumentInfo& d, bool with_text) {
  nlohmann::json j = engine::bank_document_json(d);
  if (with_text) j["text"] = d.text;
  return json_to_py(j);
}

}  // namespace

void bind_bank(py::module_& m) {
  py::class_<PyBank, std::shared_ptr<PyBank>>(m, "Bank", R"doc(
A persistent memory bank. Bank.create(path, model) makes one; Bank.open(path)
opens one (read-only by default; read_only=False takes the single-writer lock).
Use it as a context manager to release the writer lock on exit. Methods are
thread-safe; writes are atomic commits.)doc")
      .def_static(
          "create",
          [](const std::string& path, std::shared_ptr<PyModel> model, const std::string& routing_dtype,
             const std::string& content_dtype) {
            if (!model) {
              const std::string dir = default_model_dir();
              py::gil_scoped_release nogil;
              model = std::make_shared<PyModel>(PyModel{engine::load_model(dir)});
            }
            memory::BankCreateOptions o;
            o.routing_keys = memory::bankfmt::parse_vec_type(routing_dtype);
            o.content_k = o.content_v = memory::bankfmt::parse_vec_type(content_dtype);
            {
              py::gil_scoped_release nogil;
              memory::Bank::create(path, model->loaded.dir, o);
            }
            return open_bank(path, model.get(), /*read_only=*/false);
          },
          py::arg("path"), py::arg("model") = py::none(), py::arg("routing_dtype") = "bf16",
          py::arg("content_dtype") = "bf16",
          "Create an empty bank for `model` (None: the default model) and open it as its writer.")
      .def_static(
          "open",
          [](const std::string& path, std::shared_ptr<PyModel> model, bool read_only) {
            return open_bank(path, model.get(), read_only);
          },
          py::arg("path"), py::arg("model") = py::none(), py::arg("read_only") = true,
          "Open a bank. model: checked against the bank's model now (and used to encode writes); "
          "otherwise the first ask/route checks it and writes load the model the bank was created with.")
      .def_property_readonly("path", &PyBank::path)
      .def_property_readonly("read_only", &PyBank::read_only)
      .def_property_readonly("closed", &PyBank::closed)
      .def(
          "add",
          [](PyBank& pb, const py::iterable& docs) {
            if (py::isinstance<py::str>(docs) || py::isinstance<py::dict>(docs))
              throw py::type_error("add() takes a list of documents (str or dict), not one document");
            std::vector<memory::NewDocument> in;
            for (const auto& doc : docs) in.push_back(to_document(doc, in.size()));
            auto bank = pb.get();
            py::gil_scoped_release nogil;
            return bank->add_documents(in);
          },
          py::arg("docs"),
          "Add documents (str, or dict with text and optional id, namespace, metadata) in one atomic "
          "commit; returns their model ids ([i] in prompts), in order. Ctrl-C aborts with nothing committed.")
      .def(
          "update",
          [](PyBank& pb, const py::object& doc, const std::string& text, std::optional<std::string> ns,
             const py::object& metadata) {
            memory::NewDocument d;
            d.text = text;
            d.ns = ns.value_or("");  // "" keeps the document's namespace
            if (!metadata.is_none()) d.metadata = py_to_json_text(metadata);
            auto bank = pb.get();
            if (py::isinstance<py::str>(doc)) {
              const std::string ext = doc.cast<std::string>();
              py::gil_scoped_release nogil;
              return bank->update(ext, d);
            }
            const int64_t id = doc.cast<int64_t>();
            py::gil_scoped_release nogil;
            return bank->update(id, d);
          },
          py::arg("doc"), py::arg("text"), py::arg("namespace") = py::none(), py::arg("metadata") = py::none(),
          "New version of a live document (by model id or external id), same model id; returns the version.")
      .def(
          "delete",
          [](PyBank& pb, const py::object& ids) {
            std::vector<int64_t> v;
            if (PyIndex_Check(ids.ptr())) v.push_back(ids.cast<int64_t>());  // int, numpy integer
            else v = ids.cast<std::vector<int64_t>>();
            auto bank = pb.get();
            py::gil_scoped_release nogil;
            return bank->remove(v);
          },
          py::arg("ids"), "Delete (tombstone) documents by model id; returns how many were live.")
      .def(
          "get",
          [](PyBank& pb, int64_t id) -> py::object {
            auto bank = pb.get();
            std::optional<memory::DocumentInfo> d;
            {
              py::gil_scoped_release nogil;
              d = bank->document(id);
            }
            if (!d) return py::none();
            return document_to_py(*d, /*with_text=*/true);
          },
          py::arg("id"), "The live document with this model id as a dict (with its text), or None.")
      .def(
          "list",
          [](PyBank& pb, std::optional<std::vector<std::string>> namespaces, int64_t offset,
             std::optional<int64_t> limit) {
            auto bank = pb.get();
            std::vector<memory::DocumentInfo> docs;
            {
              py::gil_scoped_release nogil;
              docs = bank->list(namespaces_arg(namespaces), offset, limit.value_or(-1));
            }
            py::list out;
            for (const auto& d : docs) out.append(document_to_py(d, /*with_text=*/false));
            return out;
          },
          py::arg("namespaces") = py::none(), py::arg("offset") = 0, py::arg("limit") = py::none(),
          "Live documents as dicts without their text (the objects of `msa bank list --json`); get(id) has the text.")
      .def(
          "stats",
          [](PyBank& pb) {
            auto bank = pb.get();
            memory::BankStats s;
            {
              py::gil_scoped_release nogil;
              s = bank->stats();
            }
            return json_to_py(engine::bank_stats_json(s));
          },
          "Documents, tokens, chunks, bytes per tier (the shape of `msa bank stats --json`).")
      .def(
          "verify",
          [](PyBank& pb) {
            auto bank = pb.get();
            py::gil_scoped_release nogil;
            bank->verify();
          },
          "Recompute every checksum and check catalog/segment consistency; raises msa.Error naming "
          "the damaged file.")
      .def(
          "compact",
          [](PyBank& pb) {
            auto bank = pb.get();
            py::gil_scoped_release nogil;
            bank->compact();
          },
          "Rewrite segments without deleted documents.")
      .def(
          "ingest",
          [](PyBank& pb, const std::string& input, const std::string& ns, int64_t batch_docs) {
            auto bank = pb.get();
            memory::IngestResult r;
            {
              py::gil_scoped_release nogil;
              const auto items = memory::read_ingest_input(input, ns);
              memory::IngestOptions io;
              io.batch_docs = batch_docs;
              r = memory::ingest(*bank, items, io);
            }
            py::dict d;
            d["ids"] = r.ids;
            d["added"] = r.added;
            d["updated"] = r.updated;
            d["skipped"] = r.skipped;
            d["tokens"] = r.tokens;
            d["seconds"] = r.seconds;
            return d;
          },
          py::arg("input"), py::arg("namespace") = memory::kDefaultNamespace, py::arg("batch_docs") = 256,
          "`msa bank add`: a JSONL file or a directory of .txt/.md, one commit per batch_docs documents, "
          "resumable (re-running adds only what is missing). Ctrl-C keeps the finished commits.")
      .def("close", &PyBank::close, "Release the bank (and its writer lock once no call still uses it).")
      .def("__enter__", [](std::shared_ptr<PyBank> pb) { return pb; })
      .def("__exit__", [](PyBank& pb, const py::args&) { pb.close(); })
      .def("__repr__", [](const PyBank& pb) {
        return "msa.Bank('" + pb.path() + "'" + (pb.closed() ? ", closed" : pb.read_only() ? "" : ", writer") + ")";
      });
}

}  // namespace msa::python
