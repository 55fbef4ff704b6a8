// The `hashmatch` client's subcommands. Each Add*Command registers its flags on `app` and sets
// `*exit_code` when it runs.
#pragma once

#include <CLI/CLI.hpp>

namespace hashmatch::client {

void AddHashCommand(CLI::App& app, int* exit_code);
// match, stats, audit verify: the commands that talk to hashmatchd.
void AddMatchCommand(CLI::App& app, int* exit_code);
void AddServerCommands(CLI::App& app, int* exit_code);
// keys create|list|revoke|add-agency|agencies|revoke-agency (admin).
void AddKeysCommands(CLI::App& app, int* exit_code);

}  // namespace hashmatch::client
