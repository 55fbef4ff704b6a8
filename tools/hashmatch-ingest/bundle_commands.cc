// hashmatch-ingest keygen | sign | verify | show: agency keys and signed bundles, offline.
#include <cstdio>
#include <map>
#include <string>

#include "engine/bundle/bundle.h"
#include "tools/hashmatch-ingest/commands.h"

namespace hashmatch::ingest {

using bundle::Bundle;
using bundle::KeyFingerprint;
using bundle::ReadBundle;
using bundle::ReadPublicKey;
using bundle::SignBundleFile;
using bundle::VerifyBundle;
using bundle::WriteKeyPair;

namespace {

namespace v1 = ::hashmatch::v1;

int Fail(const char* command, const absl::Status& status, int code = 2) {
  std::fprintf(stderr, "hashmatch-ingest %s: %s\n", command, std::string(status.message()).c_str());
  return code;
}

int RunKeygen(const std::string& prefix) {
  if (absl::Status s = WriteKeyPair(prefix); !s.ok()) return Fail("keygen", s);
  const absl::StatusOr<std::string> key = ReadPublicKey(prefix + ".pub");
  if (!key.ok()) return Fail("keygen", key.status());
  std::printf(
      "%s.key (private, mode 0600: keep it offline)\n%s.pub (give it to the hashmatchd "
      "operator)\nfingerprint %s\n",
      prefix.c_str(), prefix.c_str(), KeyFingerprint(*key).c_str());
  return 0;
}

int RunSign(const std::string& bundle, const std::string& key) {
  const absl::StatusOr<std::string> signer = SignBundleFile(bundle, key);
  if (!signer.ok()) return Fail("sign", signer.status());
  std::printf("%s: signed by %s\n", bundle.c_str(), KeyFingerprint(*signer).c_str());
  return 0;
}

// Exit 0: signed by that key and intact; 1: not (unsigned, another key, altered, damaged);
// 2: the key file cannot be used.
int RunVerify(const std::string& path, const std::string& pubkey) {
  const absl::StatusOr<std::string> key = ReadPublicKey(pubkey);
  if (!key.ok()) return Fail("verify", key.status());
  const absl::StatusOr<Bundle> bundle = ReadBundle(path);
  if (!bundle.ok()) return Fail("verify", bundle.status(), 1);
  if (absl::Status s = VerifyBundle(*bundle, *key); !s.ok()) {
    return Fail("verify", absl::Status(s.code(), path + ": " + std::string(s.message())), 1);
  }
  std::printf("%s: valid, signed by %s, %lld records, bundle id %s\n", path.c_str(),
              KeyFingerprint(*key).c_str(), static_cast<long long>(bundle->records.size()),
              bundle->header.bundle_id().c_str());
  return 0;
}

int RunShow(const std::string& path) {
  const absl::StatusOr<Bundle> bundle = ReadBundle(path);
  if (!bundle.ok()) return Fail("show", bundle.status(), 1);
  const v1::BundleHeader& h = bundle->header;
  std::printf(
      "bundle_id\t%s\nagency\t%s\ncase_ref\t%s\ncontributor\t%s\ncreated_unix_ms\t%lld\n"
      "writer\t%s\nrecords\t%lld\n",
      h.bundle_id().c_str(), h.agency().c_str(), h.case_ref().empty() ? "-" : "(set)",
      h.contributor().c_str(), static_cast<long long>(h.created_unix_ms()), h.writer().c_str(),
      static_cast<long long>(h.count()));
  std::map<std::string, long long> by_signal_category;
  for (const v1::BundleRecord& r : bundle->records) {
    ++by_signal_category[std::string(SignalName(static_cast<Signal>(r.hash().signal()))) + "\t" +
                         r.category()];
  }
  for (const auto& [key, count] : by_signal_category) {
    std::printf("records\t%s\t%lld\n", key.c_str(), count);
  }
  std::printf("signed_by\t%s\n",
              bundle->signature ? KeyFingerprint(bundle->signature->public_key()).c_str() : "-");
  return 0;
}

}  // namespace

void AddBundleCommands(CLI::App& app, int* exit_code) {
  auto prefix = std::make_shared<std::string>();
  CLI::App* keygen = app.add_subcommand(
      "keygen", "Make an agency signing key pair: PREFIX.key (private, 0600) and PREFIX.pub");
  keygen->add_option("--out", *prefix, "File name prefix")->required();
  keygen->callback([=] { *exit_code = RunKeygen(*prefix); });

  auto bundle = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  CLI::App* sign = app.add_subcommand(
      "sign", "Sign a bundle in place with an agency key (Ed25519 over the bundle's SHA-256)");
  sign->add_option("BUNDLE", *bundle, "The bundle")->required()->check(CLI::ExistingFile);
  sign->add_option("--key", *key, "PREFIX.key from keygen")->required()->check(CLI::ExistingFile);
  sign->callback([=] { *exit_code = RunSign(*bundle, *key); });

  auto verify_bundle = std::make_shared<std::string>();
  auto pubkey = std::make_shared<std::string>();
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check a bundle: intact and signed by this public key. Exit 0 valid, 1 not, 2 error");
  verify->add_option("BUNDLE", *verify_bundle, "The bundle")->required();
  verify->add_option("--pubkey", *pubkey, "PREFIX.pub of the expected signer")
      ->required()
      ->check(CLI::ExistingFile);
  verify->callback([=] { *exit_code = RunVerify(*verify_bundle, *pubkey); });

  auto show_bundle = std::make_shared<std::string>();
  CLI::App* show = app.add_subcommand(
      "show", "Print a bundle's header and record counts by signal and category (not its hashes)");
  show->add_option("BUNDLE", *show_bundle, "The bundle")->required();
  show->callback([=] { *exit_code = RunShow(*show_bundle); });
}

}  // namespace hashmatch::ingest
