// The role table against the API itself, and key secrets.
#include "engine/server/internal/auth.h"

#include <google/protobuf/descriptor.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "hashmatch/v1/admin.pb.h"
#include "hashmatch/v1/ingest.pb.h"
#include "hashmatch/v1/match.pb.h"

namespace hashmatch::server {
namespace {

// Every RPC of the three services, from the generated descriptors (not from a list kept here).
std::set<std::string> ApiMethods() {
  // Referencing one message per file makes sure the generated descriptors are linked in.
  const google::protobuf::FileDescriptor* files[] = {
      v1::MatchHashesRequest::descriptor()->file(), v1::AddDescriptorsRequest::descriptor()->file(),
      v1::GetStatsRequest::descriptor()->file()};
  std::set<std::string> methods;
  for (const auto* file : files) {
    for (int s = 0; s < file->service_count(); ++s) {
      const auto* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        methods.insert("/" + service->full_name() + "/" + service->method(m)->name());
      }
    }
  }
  return methods;
}

TEST_CASE("the role table covers exactly the API's methods", "[server][auth]") {
  const std::set<std::string> table(KnownMethods().begin(), KnownMethods().end());
  CHECK(table == ApiMethods());
  CHECK(ApiMethods().size() == 17);
}

TEST_CASE("each role may call what DESIGN.md gives it and nothing else", "[server][auth]") {
  using R = Role;
  const auto allowed = [](Role role) {
    std::set<std::string> out;
    for (const std::string_view m : KnownMethods()) {
      if (MayCall(role, m)) out.insert(std::string(m.substr(m.rfind('/') + 1)));
    }
    return out;
  };
  CHECK(allowed(R::kPlatform) == std::set<std::string>{"MatchMedia", "MatchHashes", "MatchVideo"});
  CHECK(allowed(R::kIct) ==
        std::set<std::string>{"MatchMedia", "MatchHashes", "MatchVideo", "AddDescriptors",
                              "GetDescriptor", "ListDescriptors", "GetBundleUpload", "PushBundle"});
  CHECK(allowed(R::kPolice) == std::set<std::string>{"MatchMedia", "MatchHashes", "MatchVideo",
                                                     "AddDescriptors", "SetStatus", "GetDescriptor",
                                                     "ListDescriptors", "GetBundleUpload",
                                                     "PushBundle"});
  CHECK(allowed(R::kAdmin) == std::set<std::string>{"GetStats", "CreateApiKey", "ListApiKeys",
                                                    "RevokeApiKey", "VerifyAudit", "AddAgencyKey",
                                                    "ListAgencyKeys", "RevokeAgencyKey"});
  for (const Role role : {R::kPlatform, R::kIct, R::kPolice, R::kAdmin}) {
    CHECK_FALSE(MayCall(role, "/hashmatch.v1.MatchService/Unknown"));
    CHECK_FALSE(MayCall(role, "MatchHashes"));
    CHECK(ParseRole(RoleName(role)) == role);
  }
  CHECK_FALSE(ParseRole("root").has_value());
  CHECK(static_cast<int>(R::kAdmin) == v1::ROLE_ADMIN);
  CHECK(static_cast<int>(R::kPlatform) == v1::ROLE_PLATFORM);
}

TEST_CASE("key secrets are random 256-bit values and only their SHA-256 is compared",
          "[server][auth]") {
  const std::string a = *NewKeySecret(), b = *NewKeySecret();
  CHECK(a != b);
  CHECK(a.size() == 3 + 64);
  CHECK(a.rfind("hm_", 0) == 0);
  CHECK(a.find_first_not_of("0123456789abcdef", 3) == std::string::npos);
  // FIPS 180-2 test vector.
  CHECK(KeyDigest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(KeyDigest(a) != KeyDigest(b));
}

}  // namespace
}  // namespace hashmatch::server
