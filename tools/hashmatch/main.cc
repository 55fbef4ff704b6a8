// hashmatch: the client command line: hash (local descriptors), match, stats, audit verify,
// keys.
#include <CLI/CLI.hpp>

#include "tools/hashmatch/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "hashmatch: client for the hashmatch known-CSAM descriptor service.\n"
      "Run `hashmatch COMMAND --help` for a command's flags."};
  app.set_version_flag("--version", "hashmatch 0.1.0");
  app.require_subcommand(1);
  int exit_code = 0;
  hashmatch::client::AddHashCommand(app, &exit_code);
  hashmatch::client::AddServerCommands(app, &exit_code);
  hashmatch::client::AddKeysCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
