// Docker reference normalisation (as containerd does it) and manifest
// parsing: pure functions, no I/O.
#include "server/images/reference.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/images/oci_manifest.h"

namespace vmmap::images_internal {
namespace {

using ::testing::HasSubstr;

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ReferenceTest, NormalisesLikeContainerd) {
  struct Case {
    const char* in;
    const char* canonical;
    const char* host;
  } cases[] = {
      {"busybox", "docker.io/library/busybox:latest", "registry-1.docker.io"},
      {"busybox:1.36", "docker.io/library/busybox:1.36", "registry-1.docker.io"},
      {"team/vm:1.2", "docker.io/team/vm:1.2", "registry-1.docker.io"},
      {"index.docker.io/library/busybox", "docker.io/library/busybox:latest",
       "registry-1.docker.io"},
      {"registry.example:5000/team/vm:1.2", "registry.example:5000/team/vm:1.2",
       "registry.example:5000"},
      {"127.0.0.1:5000/vmmap/guest:1", "127.0.0.1:5000/vmmap/guest:1", "127.0.0.1:5000"},
      {"localhost/vm", "localhost/vm:latest", "localhost"},
      {"quay.io/a/b/c-d_e.f:v1.0-rc_1", "quay.io/a/b/c-d_e.f:v1.0-rc_1", "quay.io"},
      {"[::1]:5000/vm:x", "[::1]:5000/vm:x", "[::1]:5000"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ImageReference> r = ParseImageReference(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status();
    EXPECT_EQ(r->Canonical(), c.canonical) << c.in;
    EXPECT_EQ(r->RegistryHost(), c.host) << c.in;
  }
  absl::StatusOr<ImageReference> d = ParseImageReference("vm@" + kDigest);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->Canonical(), "docker.io/library/vm@" + kDigest);
  EXPECT_EQ(d->TagRef(), "");
  absl::StatusOr<ImageReference> both = ParseImageReference("host:1/vm:2@" + kDigest);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->Canonical(), "host:1/vm@" + kDigest);  // pulled by digest
  EXPECT_EQ(both->TagRef(), "host:1/vm:2");
}

TEST(ReferenceTest, RefusesBadReferences) {
  for (const std::string& bad : std::vector<std::string>{
           "", "Busybox", "docker.io/Library/busybox", "a//b", "vm:", "vm:-x", "vm@sha256:abc",
           "vm@md5:" + std::string(32, 'a'), "vm:" + std::string(129, 't'), "has space",
           "host:port/vm", "/vm", "vm/", "a..b", std::string(300, 'a') + "/b",
           std::string("nul\0x", 5)}) {
    absl::StatusOr<ImageReference> r = ParseImageReference(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(IsUrlReference("file:///x"));
  EXPECT_TRUE(IsUrlReference("HTTPS://x/y"));
  EXPECT_FALSE(IsUrlReference("busybox"));
}

TEST(ManifestTest, ImageManifestAndIndex) {
  const std::string layer = "sha256:" + std::string(64, 'b');
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
      kDigest + R"(","size":10},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" +
      layer + R"(","size":20}]})";
  absl::StatusOr<Manifest> m = ParseManifest(manifest, "", "x");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->is_index);
  EXPECT_EQ(m->config.digest, kDigest);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 20u);

  const std::string index =
      R"({"schemaVersion":2,"manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      layer + R"(","size":1,"platform":{"os":"linux","architecture":"arm64"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      kDigest + R"(","size":2,"platform":{"os":"linux","architecture":"amd64"}}]})";
  absl::StatusOr<Manifest> i = ParseManifest(index, "application/vnd.oci.image.index.v1+json", "x");
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_TRUE(i->is_index);
  absl::StatusOr<Descriptor> amd64 = PickLinuxAmd64(*i, "x");
  ASSERT_TRUE(amd64.ok()) << amd64.status();
  EXPECT_EQ(amd64->digest, kDigest);
  i->manifests.pop_back();
  absl::StatusOr<Descriptor> none = PickLinuxAmd64(*i, "x");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("linux/arm64"));
}

TEST(ManifestTest, RefusesWhatItCannotPull) {
  struct Case {
    std::string body;
    const char* why;
  } cases[] = {
      {"not json", "not a JSON object"},
      {R"({"schemaVersion":1,"fsLayers":[]})", "schema 1"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
           "config":{"digest":"sha512:ab","size":1},"layers":[]})",
       "config.digest"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
           "config":{"digest":")" +
           kDigest + R"(","size":1},
           "layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                      "digest":")" +
           kDigest + R"(","size":1}]})",
       "layers[0].mediaType"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
           "config":{"digest":")" +
           kDigest + R"(","size":-1},"layers":[]})",
       "config.size"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Manifest> m = ParseManifest(c.body, "", "ref");
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(m.status().message(), HasSubstr(c.why)) << c.body;
  }
}

}  // namespace
}  // namespace vmmap::images_internal
