// hashmatch-ingest's subcommands, one registration function per source file.
#pragma once

#include <CLI/CLI.hpp>

namespace hashmatch::tools {

// `hash`: local files → an unsigned bundle (hash_command.cc).
void AddHashCommand(CLI::App& app, int* exit_code);
// `keygen`, `sign`, `verify`, `show` (bundle_commands.cc).
void AddBundleCommands(CLI::App& app, int* exit_code);

}  // namespace hashmatch::tools
