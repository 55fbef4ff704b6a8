// hashmatch: the client command line: hash (local descriptors), match, stats, audit verify,
// keys.
#include <CLI/CLI.hpp>

#include "tools/cli/client.h"
#include "tools/hashmatch/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "hashmatch: client for the hashmatch known-CSAM descriptor service.\n"
      "Run `hashmatch COMMAND --help` for a command's flags."};
  app.set_version_flag("--version", "hashmatch 0.1.0");
  int exit_code = hashmatch::cli::kExitOk;
  hashmatch::client::AddHashCommand(app, &exit_code);
  hashmatch::client::AddMatchCommand(app, &exit_code);
  hashmatch::client::AddServerCommands(app, &exit_code);
  hashmatch::client::AddKeysCommands(app, &exit_code);
  return hashmatch::cli::RunProgram(app, argc, argv, &exit_code);
}
