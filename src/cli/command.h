// Sub-command registry: each cmd_<name>.cc registers itself with
// MSA_COMMAND("name", "one-line help", fn), so adding a command never edits main.cc.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace msa::cli {

using CommandFn = std::function<int(int argc, char** argv)>;  // argv[0] = command name

struct Command {
  std::string help;
  CommandFn fn;
};

std::map<std::string, Command>& commands();

struct CommandRegistrar {
  CommandRegistrar(const char* name, const char* help, CommandFn fn) {
    commands()[name] = Command{help, std::move(fn)};
  }
};

}  // namespace msa::cli

#define MSA_CLI_CONCAT2(a, b) a##b
#define MSA_CLI_CONCAT(a, b) MSA_CLI_CONCAT2(a, b)
#define MSA_COMMAND(name, help, fn) \
  static ::msa::cli::CommandRegistrar MSA_CLI_CONCAT(msa_cmd_, __LINE__)(name, help, fn)
