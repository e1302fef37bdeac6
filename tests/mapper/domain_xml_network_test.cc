// The pod NIC element, independent of the golden files: what RenderDomainXml
// writes for DomainSpec::network_interface, and that libvirt accepts it.
#include <pugixml.hpp>

#include "gtest/gtest.h"
#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"
#include "tests/mapper/domain_xml_test_support.h"

namespace vmmap {
namespace {

DomainSpec MinimalSpec() {
  return MinimalDomainSpec("vmmap-nic-test", "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f60");
}

TEST(DomainXmlNetwork, NoInterfaceWithoutASpec) {
  absl::StatusOr<std::string> xml = RenderDomainXml(MinimalSpec());
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  EXPECT_FALSE(doc.child("domain").child("devices").child("interface"));
}

TEST(DomainXmlNetwork, UnmanagedTapWithThePodMacAndMtu) {
  DomainSpec spec = MinimalSpec();
  spec.network_interface = NetworkInterfaceSpec{"vmt0123456789ab", "52:54:00:12:34:56", 1450};
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  pugi::xml_node nic = doc.child("domain").child("devices").child("interface");
  ASSERT_TRUE(nic);
  EXPECT_STREQ(nic.attribute("type").value(), "ethernet");
  EXPECT_STREQ(nic.child("mac").attribute("address").value(), "52:54:00:12:34:56");
  EXPECT_STREQ(nic.child("target").attribute("dev").value(), "vmt0123456789ab");
  EXPECT_STREQ(nic.child("target").attribute("managed").value(), "no");
  EXPECT_STREQ(nic.child("model").attribute("type").value(), "virtio");
  EXPECT_EQ(nic.child("mtu").attribute("size").as_int(), 1450);

  // libvirt's own parser and schema accept it.
  absl::StatusOr<std::string> back = DefineValidatedAndReadBack(*xml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << *xml;
  EXPECT_NE(back->find("managed='no'"), std::string::npos) << *back;
}

}  // namespace
}  // namespace vmmap
