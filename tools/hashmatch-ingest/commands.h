// hashmatch-ingest's subcommands, one registration function per source file.
#pragma once

#include <CLI/CLI.hpp>

namespace hashmatch::ingest {

// `hash`: local files → an unsigned bundle (hash_command.cc).
void AddHashCommand(CLI::App& app, int* exit_code);
// `keygen`, `sign`, `verify`, `show` (bundle_commands.cc).
void AddBundleCommands(CLI::App& app, int* exit_code);
// `push`: a signed bundle → hashmatchd, resumable (push_command.cc).
void AddPushCommand(CLI::App& app, int* exit_code);
// `review list|verify|reject|retract` on the server (review_command.cc).
void AddReviewCommands(CLI::App& app, int* exit_code);
// `import`, `export`: exchange formats ↔ bundles and the server (list_commands.cc).
void AddListCommands(CLI::App& app, int* exit_code);

}  // namespace hashmatch::ingest
