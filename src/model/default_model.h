// Where the embedded default model lives. The repository ships a tiny MSA model
// trained by our own trainer (models/msa-tiny: config.json, model.safetensors,
// tokenizer.json); every command that takes --model uses it when none is given.
#pragma once

#include <filesystem>

namespace msa::model {

// First existing of: $MSA_MODEL; <source tree>/models/msa-tiny (the build's
// MSA_SOURCE_DIR); <dir of the running binary>/../share/msa/models/msa-tiny.
// Throws msa::Error naming every place it looked when none holds a config.json.
std::filesystem::path default_model_dir();

// The path to use for an optional --model value: `given` if non-empty, else default_model_dir().
std::filesystem::path resolve_model_dir(const std::filesystem::path& given);

}  // namespace msa::model
