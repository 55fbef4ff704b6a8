// hashmatch-ingest: the separate ingest tool for police and the ICT department. Hashes local
// files offline into descriptor bundles, signs and checks them, pushes them to hashmatchd, and
// reviews candidates there.
#include <sys/stat.h>

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"
#include "tools/hashmatch-ingest/commands.h"

int main(int argc, char** argv) {
  umask(077);  // bundles, journals and keys are for this user only
  CLI::App app{
      "hashmatch-ingest: add descriptors of known material to hashmatch.\n"
      "Typical use: keygen once (the operator registers PREFIX.pub with hashmatch keys\n"
      "add-agency); hash a folder into a bundle; sign it; push it to hashmatchd. Police review\n"
      "what the ICT department submits with `review`. Only descriptors leave this machine,\n"
      "never media or file names.\n"
      "Run `hashmatch-ingest COMMAND --help` for a command's flags."};
  app.set_version_flag("--version", "hashmatch-ingest 0.1.0");
  int exit_code = hashmatch::cli::kExitOk;
  hashmatch::ingest::AddHashCommand(app, &exit_code);
  hashmatch::ingest::AddBundleCommands(app, &exit_code);
  hashmatch::ingest::AddPushCommand(app, &exit_code);
  hashmatch::ingest::AddReviewCommands(app, &exit_code);
  hashmatch::ingest::AddListCommands(app, &exit_code);
  return hashmatch::cli::RunProgram(app, argc, argv, &exit_code);
}
