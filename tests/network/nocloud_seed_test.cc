// The NoCloud seed of a disk-image guest and the vmmap.dns= kernel argument:
// content parsed back as YAML (libyaml, through mapper's yaml::Tree), hostile
// pod strings refused, the ISO image built by the real xorriso, and the
// network-config checked by the real cloud-init when Debian's is installed.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mapper/shared_dirs.h"
#include "mapper/yaml_tree.h"
#include "server/network/guest_dns.h"
#include "server/network/nocloud_image.h"
#include "server/network/nocloud_seed.h"

namespace vmmap::network {
namespace {

using ::testing::HasSubstr;

class Yaml {
 public:
  explicit Yaml(const std::string& text) { status_ = tree_.Build(text); }
  const absl::Status& status() const { return status_; }
  yaml::NodeId Root() const { return tree_.documents().at(0).root; }
  // The value under `key` of mapping `map`; -1 cast when absent.
  bool Get(yaml::NodeId map, const std::string& key, yaml::NodeId* out) const {
    const yaml::Node& n = tree_.node(map);
    if (n.type != yaml::NodeType::kMapping) return false;
    for (const yaml::NodeId* it = tree_.begin(n); it != tree_.end(n); it += 2) {
      if (tree_.Text(tree_.node(*it)) == key) {
        *out = *(it + 1);
        return true;
      }
    }
    return false;
  }
  std::string Text(yaml::NodeId id) const { return std::string(tree_.Text(tree_.node(id))); }
  std::vector<std::string> Texts(yaml::NodeId seq) const {
    std::vector<std::string> out;
    const yaml::Node& n = tree_.node(seq);
    for (const yaml::NodeId* it = tree_.begin(n); it != tree_.end(n); ++it)
      out.push_back(Text(*it));
    return out;
  }
  size_t Keys(yaml::NodeId map) const { return tree_.node(map).size / 2; }
  const yaml::Tree& tree() const { return tree_; }
  yaml::NodeId At(std::initializer_list<const char*> path) const {
    yaml::NodeId id = Root();
    for (const char* k : path) {
      yaml::NodeId next;
      if (!Get(id, k, &next)) {
        ADD_FAILURE() << "no key " << k;
        return id;
      }
      id = next;
    }
    return id;
  }

 private:
  yaml::Tree tree_;
  absl::Status status_;
};

GuestAddressing PodAddressing() {
  GuestAddressing a;
  a.mac = "0a:58:0a:58:00:05";
  a.mtu = 1450;
  CniIp ip;
  ip.address = "10.88.0.5/16";
  ip.ip = "10.88.0.5";
  ip.prefix_length = 16;
  ip.gateway = "10.88.0.1";
  a.ips = {ip};
  a.routes = {{"0.0.0.0/0", ""}, {"192.168.7.0/24", "10.88.0.254"}};
  a.dns = {{"10.96.0.10"}, {"default.svc.cluster.local", "cluster.local"}, {"ndots:5"}};
  a.hostname = "web-0";
  return a;
}

TEST(NoCloudSeed, MetaDataAndNetworkConfigParseBack) {
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", PodAddressing());
  ASSERT_TRUE(seed.ok()) << seed.status();
  Yaml meta(seed->meta_data);
  ASSERT_TRUE(meta.status().ok()) << meta.status();
  EXPECT_EQ(meta.Text(meta.At({"instance-id"})), "0123abcd");
  EXPECT_EQ(meta.Text(meta.At({"local-hostname"})), "web-0");
  EXPECT_EQ(meta.Keys(meta.Root()), 2u);

  Yaml net(seed->network_config);
  ASSERT_TRUE(net.status().ok()) << net.status() << "\n" << seed->network_config;
  EXPECT_EQ(net.Text(net.At({"version"})), "2");
  EXPECT_EQ(net.Text(net.At({"ethernets", "eth0", "match", "macaddress"})), "0a:58:0a:58:00:05");
  EXPECT_EQ(net.Text(net.At({"ethernets", "eth0", "set-name"})), "eth0");
  EXPECT_THAT(net.Texts(net.At({"ethernets", "eth0", "addresses"})),
              ::testing::ElementsAre("10.88.0.5/16"));
  EXPECT_EQ(net.Text(net.At({"ethernets", "eth0", "mtu"})), "1450");
  EXPECT_THAT(net.Texts(net.At({"ethernets", "eth0", "nameservers", "addresses"})),
              ::testing::ElementsAre("10.96.0.10"));
  EXPECT_THAT(net.Texts(net.At({"ethernets", "eth0", "nameservers", "search"})),
              ::testing::ElementsAre("default.svc.cluster.local", "cluster.local"));
  // The default route goes via the pod's gateway; a route's own gw wins.
  EXPECT_THAT(seed->network_config, HasSubstr("to: \"0.0.0.0/0\"\n"));
  EXPECT_THAT(seed->network_config, HasSubstr("via: \"10.88.0.1\"\n"));
  EXPECT_THAT(seed->network_config, HasSubstr("via: \"10.88.0.254\"\n"));
  EXPECT_EQ(seed->user_data, "#cloud-config\n");
}

// Volumes (docs/volumes.md): the mounts of a disk image arrive as bootcmd
// argv lists; a pod's path stays one scalar whatever it contains; a pod
// without a network gets no network-config at all.
TEST(NoCloudSeed, BootcmdCarriesTheMountsAndNoNetworkMeansNoNetworkConfig) {
  const std::vector<BootCommand> bootcmd = {
      {"mkdir", "-p", "/etc/a: b, #c"},
      {"mount", "-t", "virtiofs", "-o", "ro", "vol0", "/etc/a: b, #c"}};
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", nullptr, bootcmd);
  ASSERT_TRUE(seed.ok()) << seed.status();
  EXPECT_EQ(seed->network_config, "");
  ASSERT_EQ(seed->user_data.rfind("#cloud-config\n", 0), 0u) << seed->user_data;
  Yaml user(seed->user_data);
  ASSERT_TRUE(user.status().ok()) << user.status() << "\n" << seed->user_data;
  EXPECT_EQ(user.Keys(user.Root()), 1u);
  const yaml::NodeId* commands = user.tree().begin(user.tree().node(user.At({"bootcmd"})));
  EXPECT_THAT(user.Texts(commands[0]), ::testing::ElementsAre("mkdir", "-p", "/etc/a: b, #c"));
  EXPECT_THAT(user.Texts(commands[1]), ::testing::ElementsAre("mount", "-t", "virtiofs", "-o", "ro",
                                                              "vol0", "/etc/a: b, #c"));
  Yaml meta(seed->meta_data);
  EXPECT_EQ(meta.Text(meta.At({"instance-id"})), "0123abcd");
  // With a network, the same seed keeps its network-config.
  const GuestAddressing addressing = PodAddressing();
  absl::StatusOr<NoCloudSeed> both = RenderNoCloudSeed("0123abcd", &addressing, bootcmd);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_THAT(both->network_config, HasSubstr("macaddress"));
  EXPECT_THAT(both->user_data, HasSubstr("bootcmd"));
}

// The files share of a disk image: mounted, then each file bound from it
// (created first), the read-only one remounted ro, all as argv lists.
TEST(NoCloudSeed, BootcmdBindsEachFileFromTheFilesShare) {
  SharedDirectory files{"files", "/v/files", "/run/vmmap/files", false, SharedFsDriver::kVirtiofs};
  files.files = {{"vol0", "/v/files/vol0", "/etc/hosts", true},
                 {"vol1", "/v/files/vol1", "/dev/termination-log", false}};
  absl::StatusOr<NoCloudSeed> seed =
      RenderNoCloudSeed("0123abcd", nullptr, GuestMountCommands(files));
  ASSERT_TRUE(seed.ok()) << seed.status();
  Yaml user(seed->user_data);
  ASSERT_TRUE(user.status().ok()) << user.status() << "\n" << seed->user_data;
  const yaml::Node& list = user.tree().node(user.At({"bootcmd"}));
  std::vector<std::string> lines;
  for (const yaml::NodeId* it = user.tree().begin(list); it != user.tree().end(list); ++it) {
    lines.push_back(absl::StrJoin(user.Texts(*it), " "));
  }
  EXPECT_THAT(
      lines,
      ::testing::ElementsAre(
          "mkdir -p /run/vmmap/files", "mount -t virtiofs -o rw files /run/vmmap/files",
          "mkdir -p /etc", "touch /etc/hosts", "mount --bind /run/vmmap/files/vol0 /etc/hosts",
          "mount -o remount,bind,ro /etc/hosts", "mkdir -p /dev", "touch /dev/termination-log",
          "mount --bind /run/vmmap/files/vol1 /dev/termination-log"));
}

TEST(NoCloudSeed, HostilePodStringsAreRefusedNamingFieldAndValue) {
  struct Case {
    const char* what;
    void (*spoil)(GuestAddressing&);
    const char* field;
  };
  const Case cases[] = {
      {"hostname with a newline and a key",
       [](GuestAddressing& a) { a.hostname = "web\nuser-data: evil"; }, "hostname"},
      {"hostname with a quote", [](GuestAddressing& a) { a.hostname = "a\"b"; }, "hostname"},
      {"search with a colon-space", [](GuestAddressing& a) { a.dns.searches = {"x: {y: z}"}; },
       "searches"},
      {"search too long", [](GuestAddressing& a) { a.dns.searches = {std::string(300, 'a')}; },
       "searches"},
      {"too many searches",
       [](GuestAddressing& a) { a.dns.searches.assign(kMaxGuestSearches + 1, "a.b"); }, "searches"},
      {"server not an IP", [](GuestAddressing& a) { a.dns.nameservers = {"8.8.8.8 #"}; },
       "servers"},
      {"option with a space", [](GuestAddressing& a) { a.dns.options = {"ndots:5 rotate"}; },
       "options"},
      {"MAC", [](GuestAddressing& a) { a.mac = "0a:58:0a:58:00:05\n"; }, "MAC"},
      {"route",
       [](GuestAddressing& a) {
         a.routes = {{"0.0.0.0/99", ""}};
       },
       "route"},
  };
  for (const Case& c : cases) {
    GuestAddressing a = PodAddressing();
    c.spoil(a);
    absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", a);
    EXPECT_EQ(seed.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(seed.status().message(), HasSubstr(c.field)) << c.what;
  }
}

TEST(NoCloudSeed, NothingBeyondTheFieldsEvenForOddButValidValues) {
  GuestAddressing a = PodAddressing();
  a.hostname = "";  // left out, not an empty key
  a.dns.searches = {"cluster.local."};
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("ff", a);
  ASSERT_TRUE(seed.ok()) << seed.status();
  Yaml meta(seed->meta_data);
  ASSERT_TRUE(meta.status().ok());
  EXPECT_EQ(meta.Keys(meta.Root()), 1u);
  Yaml net(seed->network_config);
  ASSERT_TRUE(net.status().ok());
  EXPECT_EQ(net.Keys(net.Root()), 2u);             // version, ethernets
  EXPECT_EQ(net.Keys(net.At({"ethernets"})), 1u);  // eth0 only
}

TEST(KernelDnsArgument, CarriesServersSearchesOptionsAsOneWord) {
  absl::StatusOr<std::string> arg =
      KernelDnsArgument({{"10.96.0.10", "fd00::a"},
                         {"default.svc.cluster.local", "cluster.local"},
                         {"ndots:5", "edns0"}});
  ASSERT_TRUE(arg.ok()) << arg.status();
  EXPECT_EQ(*arg,
            "vmmap.dns=10.96.0.10,fd00::a/default.svc.cluster.local,cluster.local/ndots:5,edns0");
  EXPECT_EQ(*KernelDnsArgument({}), "");
  EXPECT_EQ(*KernelDnsArgument({{}, {"svc"}, {}}), "vmmap.dns=/svc/");
}

TEST(KernelDnsArgument, RefusesWhatCouldInjectKernelArguments) {
  const GuestDns hostile[] = {
      {{"10.0.0.1 init=/bin/sh"}, {}, {}},
      {{}, {"a.b init=/bin/sh"}, {}},
      {{}, {"a/b"}, {}},
      {{}, {"a,b"}, {}},
      {{}, {}, {"ndots=5"}},
      {{}, {}, {"x y"}},
      {{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"}, {}, {}},
      {{}, {}, std::vector<std::string>(kMaxGuestDnsOptions + 1, "edns0")},
  };
  for (const GuestDns& dns : hostile) {
    absl::StatusOr<std::string> arg = KernelDnsArgument(dns);
    EXPECT_EQ(arg.status().code(), absl::StatusCode::kInvalidArgument) << (arg.ok() ? *arg : "");
    EXPECT_THAT(arg.status().message(), HasSubstr("dns ")) << arg.status();
  }
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/nocloud.XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Shell(const std::string& command, int* exit_code) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *exit_code = pclose(p);
  return out;
}

TEST(NoCloudImage, XorrisoBuildsACidataVolumeWithTheThreeFiles) {
  if (access(kDefaultXorriso, X_OK) != 0) GTEST_SKIP() << "xorriso is not installed";
  TempDir dir;
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", PodAddressing());
  ASSERT_TRUE(seed.ok());
  const std::string image = dir.path() + "/cidata.iso";
  ASSERT_TRUE(WriteNoCloudImage(*seed, image).ok());
  struct stat st;
  ASSERT_EQ(stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(image + ".d"));
  // Written once: a second write refuses instead of replacing.
  EXPECT_EQ(WriteNoCloudImage(*seed, image).code(), absl::StatusCode::kFailedPrecondition);

  int rc = 0;
  std::string pvd = Shell(absl::StrCat("xorriso -indev ", image, " -pvd_info 2>&1"), &rc);
  ASSERT_EQ(rc, 0) << pvd;
  EXPECT_THAT(pvd, HasSubstr("Volume Id    : cidata"));
  std::string files = Shell(absl::StrCat("xorriso -indev ", image, " -ls / 2>&1"), &rc);
  EXPECT_THAT(files, HasSubstr("'meta-data'"));
  EXPECT_THAT(files, HasSubstr("'network-config'"));
  EXPECT_THAT(files, HasSubstr("'user-data'"));
  std::string extracted = dir.path() + "/nc";
  Shell(absl::StrCat("xorriso -osirrox on -indev ", image, " -extract /network-config ", extracted,
                     " 2>&1"),
        &rc);
  std::ifstream in(extracted);
  std::stringstream body;
  body << in.rdbuf();
  EXPECT_EQ(body.str(), seed->network_config);
}

// Debian 12's cloud-init (22.4): scripts/install-deps.sh unpacks it under
// /opt/vmmap-tools/cloud-init ($VMMAP_CLOUD_INIT_ROOT) without installing it;
// an installed /usr/bin/cloud-init serves as well. The shell words that run
// it, or "" when neither is there.
std::string CloudInit() {
  const char* env = getenv("VMMAP_CLOUD_INIT_ROOT");
  const std::string root = env != nullptr ? env : "/opt/vmmap-tools/cloud-init";
  if (access((root + "/usr/bin/cloud-init").c_str(), R_OK) == 0) {
    return absl::StrCat("PYTHONPATH=", root, "/usr/lib/python3/dist-packages /usr/bin/python3 ",
                        root, "/usr/bin/cloud-init");
  }
  if (access("/usr/bin/cloud-init", X_OK) == 0) return "/usr/bin/cloud-init";
  return "";
}
constexpr char kNoCloudInit[] =
    "cloud-init is neither unpacked under /opt/vmmap-tools/cloud-init (run "
    "scripts/install-deps.sh) nor installed";

// cloud-init converts a v2 network-config offline; a config it cannot read
// fails the conversion.
TEST(NoCloudSeed, CloudInitConvertsTheNetworkConfig) {
  const std::string cloud_init = CloudInit();
  if (cloud_init.empty()) GTEST_SKIP() << kNoCloudInit;
  TempDir dir;
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", PodAddressing());
  ASSERT_TRUE(seed.ok());
  const std::string config = dir.path() + "/network-config";
  std::ofstream(config) << seed->network_config;
  int rc = 0;
  std::string out = Shell(absl::StrCat(cloud_init, " devel net-convert -p ", config, " -k yaml -d ",
                                       dir.path(), "/out -D debian -O eni 2>&1"),
                          &rc);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream in(dir.path() + "/out/etc/network/interfaces.d/50-cloud-init");
  std::stringstream eni;
  eni << in.rdbuf();
  EXPECT_THAT(eni.str(), HasSubstr("address 10.88.0.5/16"));
  EXPECT_THAT(eni.str(), HasSubstr("dns-nameservers 10.96.0.10"));
  EXPECT_THAT(eni.str(), HasSubstr("dns-search default.svc.cluster.local cluster.local"));
  EXPECT_THAT(eni.str(), HasSubstr("mtu 1450"));
  EXPECT_THAT(eni.str(), HasSubstr("route add default gw 10.88.0.1"));
  std::ifstream rules_in(dir.path() + "/out/etc/udev/rules.d/70-persistent-net.rules");
  std::stringstream rules;
  rules << rules_in.rdbuf();
  EXPECT_THAT(rules.str(), HasSubstr("0a:58:0a:58:00:05"));  // the NIC is matched by its MAC
}

// The mounts of a disk image as cloud-init itself reads them: the user-data
// passes cloud-init's schema (a wrong shape exits 1, checked alongside),
// and its YAML loader gives back every argv word exactly, hostile path
// included.
TEST(NoCloudSeed, CloudInitReadsTheBootcmdArgvExactly) {
  const std::string cloud_init = CloudInit();
  if (cloud_init.empty()) GTEST_SKIP() << kNoCloudInit;
  const std::vector<BootCommand> bootcmd = {
      {"mkdir", "-p", "/etc/a: b, #c \"'\\"},
      {"mount", "-t", "virtiofs", "-o", "ro", "vol0", "/etc/a: b, #c \"'\\"}};
  absl::StatusOr<NoCloudSeed> seed = RenderNoCloudSeed("0123abcd", nullptr, bootcmd);
  ASSERT_TRUE(seed.ok()) << seed.status();
  TempDir dir;
  const std::string user_data = dir.path() + "/user-data";
  std::ofstream(user_data) << seed->user_data;
  int rc = 0;
  std::string out = Shell(absl::StrCat(cloud_init, " schema -c ", user_data, " 2>&1"), &rc);
  EXPECT_EQ(rc, 0) << out << "\n" << seed->user_data;
  const std::string wrong = dir.path() + "/wrong";
  std::ofstream(wrong) << "#cloud-config\nbootcmd: 5\n";
  Shell(absl::StrCat(cloud_init, " schema -c ", wrong, " 2>&1"), &rc);
  EXPECT_NE(rc, 0) << "cloud-init's schema check accepts anything; the check above proves nothing";
  // cloud-init's own loader (cloudinit.util.load_yaml), one word a line.
  const std::string root = cloud_init.substr(0, cloud_init.find(' '));
  out =
      Shell(absl::StrCat(root.rfind("PYTHONPATH=", 0) == 0 ? root + " " : "",
                         "/usr/bin/python3 -c 'import sys; from cloudinit import util; "
                         "[print(w) for c in util.load_yaml(open(sys.argv[1]).read())[\"bootcmd\"] "
                         "for w in c + [\"--\"]]' ",
                         user_data, " 2>&1"),
            &rc);
  ASSERT_EQ(rc, 0) << out;
  std::string expected;
  for (const BootCommand& command : bootcmd) {
    for (const std::string& word : command) expected += word + "\n";
    expected += "--\n";
  }
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace vmmap::network
