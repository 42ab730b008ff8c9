// msa.Model: a checkpoint directory (HF layout) loaded by mmap, with its tokenizer.
#include <pybind11/stl.h>

#include "bindings.h"
#include "engine/session.h"

namespace msa::python {

namespace {

py::dict model_info(const PyModel& pm) {
  const auto& c = pm.loaded.model->config();
  py::dict d;
  d["path"] = pm.loaded.dir;
  d["model_type"] = c.model_type;
  d["is_msa"] = c.msa.present;
  d["random_weights"] = pm.loaded.random_weights;
  d["vocab_size"] = c.vocab_size;
  d["hidden_size"] = c.hidden_size;
  d["num_layers"] = c.num_hidden_layers;
  d["num_attention_heads"] = c.num_attention_heads;
  d["num_key_value_heads"] = c.num_key_value_heads;
  d["head_dim"] = c.head_dim;
  d["routing_layers"] = c.msa.routing_layers;
  d["pooling"] = c.msa.pooling_kernel_size;
  d["decouple_router"] = c.msa.decouple_router;
  d["top_k"] = engine::default_top_k(c);
  return d;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<PyModel, std::shared_ptr<PyModel>>(m, "Model", R"doc(
A model: a checkpoint directory in the HuggingFace layout (config.json,
*.safetensors, tokenizer.json), memory-mapped. path=None loads the embedded
default model (models/msa-tiny; $MSA_MODEL overrides it).)doc")
      .def(py::init([](std::optional<std::string> path) {
             const std::string dir = path && !path->empty() ? *path : default_model_dir();
             py::gil_scoped_release nogil;
             return std::make_shared<PyModel>(PyModel{engine::load_model(dir)});
           }),
           py::arg("path") = py::none())
      .def_property_readonly("path", [](const PyModel& pm) { return pm.loaded.dir; })
      .def_property_readonly("info", &model_info, "configuration summary (layers, routing layers, pooling, top-k, ...)")
      .def(
          "tokenize",
          [](const PyModel& pm, const std::string& text, bool special) {
            return pm.loaded.tokenizer->encode(text, special);
          },
          py::arg("text"), py::arg("special") = false,
          "token ids of text; special=True parses special-token text such as <|im_start|>")
      .def(
          "detokenize",
          [](const PyModel& pm, const std::vector<int32_t>& ids, bool skip_special) {
            return pm.loaded.tokenizer->decode(ids, skip_special);
          },
          py::arg("ids"), py::arg("skip_special") = false, "text of token ids")
      .def("__repr__", [](const PyModel& pm) { return "msa.Model('" + pm.loaded.dir + "')"; });
}

}  // namespace msa::python
